// The disks vzdump backs up for a guest, as PVE lists them from the guest config, and their
// content on a given day. A qemu guest's disks come in PVE's drive order (ide, scsi, virtio,
// sata, efidisk0, tpmstate0), without CD-ROMs and disks marked backup=0; their VMA device names
// are drive-<key> (drive-tpmstate0-backup for the TPM state). A container's disk is its rootfs.
// The archive holds `total` disk bytes per guest (pvesim's --backup-size): an EFI vars disk
// keeps its real size (528 KiB, not a multiple of the 64 KiB cluster), a TPM state 4 MiB, and
// the other disks share the rest in proportion to their configured sizes (at least 1 MiB each).
// Content is a deterministic function of (vmid, disk, day): a file system (fs_model.h) for data
// disks, a UEFI variable store or TPM state that changes on the days the guest reboots.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fs_model.h"

namespace pvesim {

// The first day of every simulated history: 2026-01-01 (days since the Unix epoch).
constexpr int64_t kHistoryStartDay = 20454;

struct GuestDisk {
  std::string key;      // scsi0, virtio1, efidisk0, tpmstate0, rootfs
  std::string devname;  // drive-scsi0, ..., drive-tpmstate0-backup; rootfs for containers
  std::string volume;   // local-lvm:vm-100-disk-0
  std::string storage;  // local-lvm
  std::string format;   // raw | qcow2 | vmdk
  uint64_t size = 0;    // bytes in the archive
};

// "key: value" lines (up to the first snapshot section) into a map.
std::map<std::string, std::string> parse_guest_config(const std::string& text);
// The disks of a guest of `type` (qemu | lxc) with `total` bytes between them. `excluded`
// receives "key 'volume' (reason)" for each disk vzdump leaves out.
std::vector<GuestDisk> guest_disks(const std::string& type,
                                   const std::map<std::string, std::string>& config, uint64_t total,
                                   std::vector<std::string>* excluded = nullptr);
// Days since kHistoryStartDay of a backup at `epoch` (0 before the start).
int history_day(int64_t epoch);

// One disk of a guest on one day.
class DiskContent {
 public:
  // first_fs: the first disk with a file system of a VM (its system disk).
  DiskContent(const std::string& type, int vmid, const GuestDisk& disk, bool first_fs, int day);
  uint64_t size() const { return size_; }
  uint64_t blocks() const { return (size_ + 4095) / 4096; }
  uint64_t cid(uint64_t block) const;
  // Disk blocks the guest writes the next day (copy-before-write during a running backup).
  std::vector<uint32_t> next_day_writes() const;
  const FsModel* fs() const { return fs_.get(); }

 private:
  enum class Kind { kFs, kEfi, kTpm } kind_;
  uint64_t size_ = 0, seed_ = 0;
  int day_ = 0, vmid_ = 0, boots_ = 0;
  std::unique_ptr<FsModel> fs_;
};

}  // namespace pvesim
