// A whole VMA backup run: the order in which a backup writes the clusters of a guest's disks,
// and the stream written through VmaWriter. PVE's backup copies the disks one after the other,
// each from its first cluster to its last; a guest that runs during the backup writes to its
// disks, and copy-before-write first saves each cluster it is about to overwrite that the
// backup has not copied yet, so that cluster goes into the archive early, out of order (a
// cluster of a disk whose turn has not come yet included). A stopped guest's archive is
// strictly sequential.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "vma_writer.h"

namespace pvesim {

struct VmaSource {
  std::string name;  // drive-scsi0
  uint64_t size = 0;
  // Fills buf (kVmaCluster bytes) with the cluster; returns false when it is all zero (buf is
  // then left as it is).
  std::function<bool(uint64_t cluster, unsigned char* buf)> read;
};

// A guest write during the backup: to `cluster` of device `device` (index into the sources),
// when the backup's sequential cursor is at global position `when` (positions count the
// clusters of all devices in order).
struct GuestWrite {
  size_t device = 0;
  uint64_t cluster = 0;
  uint64_t when = 0;
};

struct VmaStreamStats {
  uint64_t bytes = 0, extents = 0, clusters = 0, early = 0;
};

// Times the writes of a running guest: each (device, cluster) gets a moment before the cursor
// reaches it (uniform, seeded); writes to the first cluster cannot come early and are dropped.
std::vector<GuestWrite> time_guest_writes(const std::vector<VmaSource>& sources,
                                          const std::vector<std::pair<size_t, uint64_t>>& writes,
                                          uint64_t seed);
// `percent` % of all clusters, picked uniformly (seeded), as guest writes.
std::vector<GuestWrite> random_guest_writes(const std::vector<VmaSource>& sources, double percent,
                                            uint64_t seed);

// Writes the archive: configs, devices (dev_ids 1.. in order), then the clusters.
VmaStreamStats write_vma_stream(const std::function<void(const unsigned char*, size_t)>& sink,
                                const Uuid& uuid, int64_t ctime,
                                const std::vector<std::pair<std::string, std::string>>& configs,
                                const std::vector<VmaSource>& sources,
                                std::vector<GuestWrite> writes);

}  // namespace pvesim
