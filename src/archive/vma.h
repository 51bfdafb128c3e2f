// VMA, the Virtual Machine Archive vzdump writes for qemu guests (pve-qemu's vma_spec.txt):
//
//   header   magic "VMA\0", version 1, uuid, ctime, md5 of the header, a blob buffer with the
//            config files (qemu-server.conf, qemu-server.fw) and device names, and up to 255
//            devices (id, name, size)
//   extents  each a 512-byte header (magic "VMAE", block count, the archive's uuid, md5 of the
//            header, up to 59 blockinfos: 16-bit mask of non-zero 4 KiB blocks, device id,
//            cluster number) followed by the non-zero 4 KiB blocks of those 64 KiB clusters
// All numbers big endian. Every cluster of every device appears exactly once, in any order (a
// running guest's copy-before-write puts some early).
//
// read_vma() reads a whole archive as a stream and checks everything qmrestore checks; what it
// finds goes to a VmaVisitor. VmaRebuilder writes the archive again, bit for bit, from its
// structure (header and extent headers with uuid and md5 zeroed, so the structure of one guest
// dedups from day to day) and the clusters' data. Errors are kIntegrity (kUnsupported for a
// valid archive pvesafe cannot store by disk) and name the byte offset in the archive.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/byte_stream.h"

namespace pvesafe::archive {

inline constexpr size_t kVmaBlockBytes = 4096;
inline constexpr size_t kVmaClusterBytes = 65536;
inline constexpr size_t kVmaExtentHeaderBytes = 512;
inline constexpr size_t kVmaBlockInfos = 59;
inline constexpr size_t kVmaFixedHeaderBytes = 12288;  // before the blob buffer
inline constexpr size_t kVmaMaxHeaderBytes = 8 * kVmaClusterBytes;

using VmaUuid = std::array<uint8_t, 16>;

struct VmaDevice {
  uint8_t id = 0;
  std::string name;
  uint64_t size_bytes = 0;
  uint64_t clusters() const { return (size_bytes + kVmaClusterBytes - 1) / kVmaClusterBytes; }
};

struct VmaConfig {
  std::string name;
  std::vector<uint8_t> data;
};

struct VmaHeader {
  VmaUuid uuid{};
  int64_t ctime = 0;
  std::vector<VmaDevice> devices;  // in id order
  std::vector<VmaConfig> configs;  // in header order
  std::vector<uint8_t> bytes;      // the header as read (header_size bytes)
};

class VmaVisitor {
 public:
  virtual ~VmaVisitor() = default;
  virtual void header(const VmaHeader& h) = 0;
  // The 512 bytes of an extent header, as read, at byte `offset` of the archive.
  virtual void extent(uint64_t offset, std::span<const uint8_t> header) = 0;
  // One cluster: 64 KiB, the 4 KiB blocks the mask leaves out (and any part past the end of the
  // device) as zeros. Valid during the call only.
  virtual void cluster(const VmaDevice& dev, uint32_t cluster, uint16_t mask, std::span<const uint8_t> data) = 0;
};

// True when `start` (at least 4 bytes) begins like a VMA archive.
bool looks_like_vma(std::span<const uint8_t> start);

// Reads the archive to its end. Returns the bytes read.
uint64_t read_vma(ByteSource& in, VmaVisitor& visitor);

// The structure form of a header or extent header: uuid and md5 zeroed (in place).
void vma_strip_header(std::span<uint8_t> header);
void vma_strip_extent(std::span<uint8_t> extent_header);

class VmaRebuilder {
 public:
  // `structure`: header then extent headers, in their stripped form; kIntegrity if malformed.
  VmaRebuilder(std::vector<uint8_t> structure, const VmaUuid& uuid);

  struct Cluster {
    uint8_t dev_id;
    uint32_t cluster;
    uint16_t mask;
  };
  // Every cluster with stored blocks (mask != 0), in archive order.
  void for_each_cluster(const std::function<void(const Cluster&)>& fn) const;
  // Devices declared by the header.
  const std::vector<VmaDevice>& devices() const { return devices_; }
  uint64_t archive_bytes() const { return archive_bytes_; }

  // Writes the archive. `data(dev_id, cluster)` gives the cluster's 64 KiB (blocks past the end
  // of the device may hold anything; zeros are written there), called once per cluster with a
  // non-zero mask, in archive order; the pointer must stay valid until the next call.
  void write(ByteSink& out, const std::function<const uint8_t*(uint8_t dev_id, uint32_t cluster)>& data) const;

 private:
  std::vector<uint8_t> structure_;
  VmaUuid uuid_;
  size_t header_size_ = 0;
  std::vector<VmaDevice> devices_;
  uint64_t archive_bytes_ = 0;
};

}  // namespace pvesafe::archive
