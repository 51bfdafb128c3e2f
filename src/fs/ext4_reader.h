// Ext4Reader: read-only access to an ext2/ext3/ext4 file system on a BlockSource (a partition of
// a snapshot's disk) through libext2fs and fs/ext2_io.h: list directories, stat and read files
// and symbolic links, by path from the file system's root. Nothing is written, nothing is
// mounted, no root is needed; only the blocks a request touches are read (the superblock and
// group descriptors at open, then the inodes, directory blocks, extent trees and data asked for).
//
// Paths are absolute inside the file system ("/etc/hostname"); symbolic links in the middle of
// a path are followed inside the file system (an absolute target starts at its root, never at
// the host's), the last component is followed only when asked. The journal is not replayed:
// what a crash-consistent backup had only in the journal is not seen (see docs/files.md).
//
// Errors: kUnsupported when the volume holds no ext2/3/4 (or a feature libext2fs cannot read),
// kNotFound for a path that does not exist, kUsage for a path of the wrong kind, kIntegrity for
// a damaged file system, and the source's own errors (kIntegrity for a chunk that fails
// authentication, kTransient for a store that stops answering) as they are.
// One Ext4Reader is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/block_source.h"

struct struct_ext2_filsys;

namespace pvesafe::fs {

struct FileInfo {
  std::string name;    // last path component ("/" for the root)
  uint32_t inode = 0;
  std::string type;    // file, dir, symlink, chardev, blockdev, fifo, socket, unknown
  uint32_t mode = 0;   // permission bits (07777)
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;
  int64_t mtime = 0;   // seconds since the epoch
  uint32_t links = 0;
  std::string target;  // symlinks: where they point
};

struct FsSummary {
  std::string type;     // ext2, ext3, ext4
  std::string label;
  std::string uuid;
  uint32_t block_size = 0;
  uint64_t blocks = 0, free_blocks = 0;
  uint64_t inodes = 0, free_inodes = 0;
  bool needs_recovery = false;  // the journal holds transactions that were not replayed
};

class Ext4Reader {
 public:
  explicit Ext4Reader(BlockSource& volume);
  ~Ext4Reader();
  Ext4Reader(const Ext4Reader&) = delete;
  Ext4Reader& operator=(const Ext4Reader&) = delete;

  FsSummary summary() const;
  FileInfo stat(const std::string& path, bool follow_last = false);
  FileInfo stat_inode(uint32_t inode, const std::string& name);
  // The entries of a directory (without . and ..), sorted by name.
  std::vector<FileInfo> list(uint32_t dir_inode);
  // A regular file's bytes, in order, in pieces of at most 1 MiB. Holes come as zeros.
  void read_file(uint32_t inode, const std::function<void(const uint8_t*, size_t)>& sink);

 private:
  uint32_t lookup(const std::string& path, bool follow_last);
  std::string link_target(uint32_t inode);
  [[noreturn]] void fail(long code, const std::string& what);

  BlockSource& volume_;
  struct_ext2_filsys* fs_ = nullptr;
};

}  // namespace pvesafe::fs
