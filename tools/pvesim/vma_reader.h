// Reads a VMA stream and checks it as `vma extract` (what qmrestore runs) does: header magic,
// version and MD5; blob table and config pointers; every extent's magic, MD5 and uuid (the
// header's); block counts that match the masks; every cluster of every device exactly once and
// none past a device's end. Errors carry vma's own wording ("wrong vma extent header chechsum",
// "found duplicated cluster 7 for stream drive-scsi0", ...). Optionally rebuilds each disk into
// a sparse file and reports its SHA-256.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pvesim {

struct VmaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct VmaDevice {
  int dev_id = 0;
  std::string name;
  uint64_t size = 0;
  uint64_t zero_bytes = 0;  // in 4 KiB blocks marked zero (what vma reports as sparse bytes)
  std::string sha256;       // of the rebuilt disk (when rebuilt)
};

struct VmaContents {
  std::string uuid;
  int64_t ctime = 0;
  std::vector<std::pair<std::string, std::string>> configs;  // name -> data
  std::vector<VmaDevice> devices;
  uint64_t extents = 0, clusters = 0, out_of_order = 0;  // clusters written before a lower one
  uint64_t partial_zero_bytes = 0;  // zero blocks in clusters that also hold data
};

struct VmaReadHooks {
  std::function<void(const VmaContents&)> header;             // once the header is read
  std::function<void(int percent, uint64_t bytes)> progress;  // as clusters are read
};

// Reads the header only (configs and devices) from fd.
VmaContents read_vma_header(int fd);
// Reads and checks the whole stream. disk_dir != "": rebuild every disk there as
// <devname>.raw, hash it, and remove the files.
VmaContents read_vma(int fd, const std::string& disk_dir = "", const VmaReadHooks& hooks = {});

}  // namespace pvesim
