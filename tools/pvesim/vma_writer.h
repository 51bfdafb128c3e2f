// A VMA writer (pve-qemu's vma_spec.txt), producing what PVE's own writer produces: a header of
// 12288 bytes plus the blob table (configs, then device names; blob offsets start at 1, each
// blob a 2-byte little-endian length and the data, names NUL-terminated; the table grows in
// 512-byte steps as PVE's does), dev_ids from 1, an MD5 over the header with its MD5 field
// zeroed; then extents of at most 58 clusters, each a 512-byte header (magic, block count,
// uuid, MD5 of the header, blockinfo: mask of non-zero 4 KiB blocks, dev_id, cluster number)
// followed by the non-zero blocks. Every cluster of every device is written exactly once, in
// the order the caller gives (out of order for a running guest); all-zero clusters as a
// blockinfo with mask 0. Blocks past the end of a device are marked zero, the part of a block
// past the end is zeroed. The last flush may write an extent without clusters.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pvesim {

constexpr size_t kVmaCluster = 65536;
constexpr size_t kVmaExtentHeader = 512;
constexpr size_t kVmaHeaderFixed = 12288;
constexpr size_t kVmaBlocksPerExtent = 59;  // blockinfo slots; the writer fills 58
constexpr size_t kVmaClustersFlushed = 58;

using Uuid = std::array<unsigned char, 16>;
Uuid random_uuid_v4();
std::string uuid_text(const Uuid& u);
bool parse_uuid(const std::string& text, Uuid& out);

class VmaWriter {
 public:
  using Sink = std::function<void(const unsigned char*, size_t)>;
  VmaWriter(Sink sink, const Uuid& uuid, int64_t ctime);

  void add_config(const std::string& name, const std::string& data);
  // Returns the dev_id (1, 2, ...).
  int add_device(const std::string& name, uint64_t size);
  // cluster: kVmaCluster bytes, or nullptr for an all-zero cluster.
  void write_cluster(int dev_id, uint64_t cluster, const unsigned char* data);
  // Final flush; throws if a device did not get all its clusters.
  void finish();

  uint64_t bytes_written() const { return written_; }
  uint64_t zero_bytes(int dev_id) const {
    return devices_.at(static_cast<size_t>(dev_id)).zero_bytes;
  }
  uint64_t extents() const { return extents_; }

 private:
  struct Device {
    std::string name;
    uint64_t size = 0, clusters = 0, written = 0, zero_bytes = 0;
    uint32_t name_ptr = 0;
  };
  uint32_t add_blob(const unsigned char* data, size_t len);
  void write_header();
  void flush();

  Sink sink_;
  Uuid uuid_;
  int64_t ctime_;
  std::vector<unsigned char> blobs_;  // the blob table; its size grows in 512-byte steps
  size_t blob_pos_ = 1;               // offset 0 is unused
  std::vector<std::pair<uint32_t, uint32_t>> configs_;
  std::vector<Device> devices_{1};  // index 0 unused
  bool header_written_ = false, finished_ = false;
  std::vector<unsigned char> extent_;  // header + data of the extent being filled
  std::vector<uint64_t> blockinfo_;
  uint64_t written_ = 0, extents_ = 0;
};

}  // namespace pvesim
