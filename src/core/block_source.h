// BlockSource: a read-only block device of known size. It is what the NBD export, the FUSE
// mount, the filesystem reader and instant recovery see of a disk, whether that disk is a
// snapshot's disk in a repository (repo/disk_reader.h: chunks fetched, authenticated and cached
// on demand) or a plain image file (FileBlockSource, below; tests and local images).
//
// Contract for every implementation:
//  - read() fills the whole buffer or throws pvesafe::Error; it never returns bytes that failed
//    authentication (kIntegrity), and a store that fails reports kTransient/kIo/kRemote.
//  - read() and extents() may be called from several threads at once.
//  - extents() describes a range as consecutive pieces, each either known to be zeros (nothing
//    stored there: reading it costs no I/O) or data; a source that does not know returns one
//    data piece.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pvesafe {

struct BlockExtent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool zero = false;  // known to read as zeros
};

class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual uint64_t size() const = 0;
  // Reads bytes [offset, offset + n); offset + n must not exceed size() (kUsage otherwise).
  virtual void read(uint64_t offset, uint8_t* buf, size_t n) = 0;
  virtual std::vector<BlockExtent> extents(uint64_t offset, uint64_t n) {
    return {BlockExtent{offset, n, false}};
  }
  // What the disk is called in messages ("snapshot 0f1e2d3c disk drive-scsi0", a path).
  virtual std::string name() const = 0;
  // Bytes read from the backing store so far (what a remote repository bills for); 0 if unknown.
  virtual uint64_t fetched_bytes() const { return 0; }
};

// A raw image file or block device. extents() uses SEEK_DATA/SEEK_HOLE, so holes of a sparse
// file are reported as zero pieces. Opening failures: kNotFound / kIo naming the path.
class FileBlockSource : public BlockSource {
 public:
  explicit FileBlockSource(const std::string& path);
  ~FileBlockSource() override;
  FileBlockSource(const FileBlockSource&) = delete;
  FileBlockSource& operator=(const FileBlockSource&) = delete;

  uint64_t size() const override { return size_; }
  void read(uint64_t offset, uint8_t* buf, size_t n) override;
  std::vector<BlockExtent> extents(uint64_t offset, uint64_t n) override;
  std::string name() const override { return path_; }
  uint64_t fetched_bytes() const override { return fetched_.load(std::memory_order_relaxed); }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::atomic<uint64_t> fetched_{0};  // the NBD server reads from several threads at once
};

}  // namespace pvesafe
