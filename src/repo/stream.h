// Files and file descriptors (stdin/stdout) as byte streams (core/byte_stream.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/background_sync.h"
#include "core/byte_stream.h"
#include "core/direct_io.h"

namespace pvesafe::repo {

using ByteSource = pvesafe::ByteSource;
using ByteSink = pvesafe::ByteSink;

// Reads a regular file or block device (or a FIFO). Opening failures: kNotFound (missing) or
// kIo (permissions, a directory) naming the path. Read errors: kIo naming the path.
class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::string& path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  size_t read(uint8_t* buf, size_t n) override;
  std::string name() const override;  // base name of the path
  std::optional<uint64_t> size_hint() const override;

 private:
  std::string path_;
  int fd_ = -1;
  std::optional<uint64_t> size_;
};

// Reads an already open descriptor (not closed on destruction), e.g. stdin.
class FdSource : public ByteSource {
 public:
  FdSource(int fd, std::string name);
  size_t read(uint8_t* buf, size_t n) override;
  std::string name() const override { return name_; }

 private:
  int fd_;
  std::string name_;
};

// Where a FileSink writes and what it may replace.
struct FileSinkOptions {
  bool sparse = true;  // holes where whole kSparseBlock blocks are zero (regular files only)
  bool force = false;  // replace an existing file, write over an existing device
};

// Writes PATH.pvesafe-partial (mode 0600) and renames it to PATH in finish() after fsync, then
// fsyncs PATH's directory, so an interrupted restore never leaves a truncated file under the
// final name and a finished one survives a crash. PATH "-" is not accepted here (use FdSink).
// ENOSPC: kIo "disk full writing PATH".
//
// The target is never followed or clobbered by surprise:
//  - a symbolic link at PATH is refused (kUsage), with or without force; the partial file is
//    created with O_CREAT|O_EXCL|O_NOFOLLOW after removing whatever was left under its name
//    (unlink does not follow links), so nothing planted there is written through;
//  - an existing regular file at PATH is replaced only with force (kUsage otherwise), and
//    without force the final rename does not replace a file that appeared meanwhile;
//  - a block or character device (a disk) is written in place only with force (kUsage
//    otherwise; /dev/null needs none), opened with O_NOFOLLOW and checked to be the device
//    PATH named; a block device is opened O_EXCL, so a mounted one is refused (kIo). FIFOs are
//    written in place. device_bytes_written() tells how much of a failed restore reached a
//    device.
//
// With `sparse`, a regular file gets holes where whole aligned blocks of kSparseBlock bytes are
// zero (unused space of a disk image), as `cp --sparse` and `zstd -d` do: the same bytes read
// back, less written and less allocated. Devices are always written in full.
//
// Regular files and block devices are written through the page cache and synced in the
// background every kSyncEvery bytes while the restore goes on (core/background_sync.h): the
// device writes while the next chunks are fetched, the final fsync finds little left to do, and
// the synced pages are dropped from the cache so a restore does not evict the node's working set.
class FileSink : public ByteSink {
 public:
  static constexpr size_t kSparseBlock = 32 * 1024;
  static constexpr uint64_t kSyncEvery = 64ull << 20;
  explicit FileSink(const std::string& path, FileSinkOptions options = {});
  ~FileSink() override;  // removes the partial file when finish() was not called
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  void write(const uint8_t* buf, size_t n) override;
  void write_zeros(uint64_t n) override;  // holes in a sparse file target
  void finish() override;

  // For a device target: the bytes written to it so far (all of them once finished).
  std::optional<uint64_t> device_bytes_written() const;

 private:
  void put(const uint8_t* buf, size_t n);  // through the writer
  void put_held_zeros();
  void put_direct(const uint8_t* buf, size_t n);  // devices and FIFOs, counted

  std::string path_;
  std::string partial_;
  int fd_ = -1;
  bool finished_ = false;
  bool sparse_ = false;
  bool force_ = false;
  bool device_ = false;
  uint64_t offset_ = 0;                   // bytes written, skipped or held so far
  size_t held_zeros_ = 0;                 // zeros at the start of the current block, not yet written
  std::unique_ptr<DirectWriter> writer_;  // regular files: holes, and the end of a sparse file
  std::unique_ptr<BackgroundSync> sync_;  // regular files and block devices
};

// Writes to an already open descriptor (not closed), e.g. stdout. EPIPE/ENOSPC: kIo.
class FdSink : public ByteSink {
 public:
  explicit FdSink(int fd, std::string name = "stdout");
  void write(const uint8_t* buf, size_t n) override;
  void finish() override;

 private:
  int fd_;
  std::string name_;
};

}  // namespace pvesafe::repo
