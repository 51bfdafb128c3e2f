// A model of an ext4-like file system on a disk of 4 KiB blocks, as it changes from day to day,
// deterministic in (seed, size, role, day). Day 0 is a fresh install: partition table, block
// groups with bitmaps and inode tables, a journal, the files of an operating system (shared by
// every guest of the same size and role, as clones of one template are), then the guest's own
// data: database files, logs, user data. Each later day replays what a server does: log lines
// appended (tail block rewritten, new blocks), database pages rewritten in place with a hot set,
// some files rewritten (new blocks allocated first-fit, the old ones freed but keeping their
// stale content, as ext4 without discard does), weekly log rotation, new files, deletions,
// occasional package updates, and the metadata and journal blocks all that touches. Blocks never
// written stay zero. The same files, with their paths, modes, owners and times, are a
// container's root tree (ct_tree.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "content.h"

namespace pvesim {

enum class DiskRole : uint8_t {
  kSystem,     // a VM's boot disk: partition table, OS, some data
  kData,       // a VM's second disk: database and data files, no partition table
  kContainer,  // a container's root file system: no partition table, mostly OS
};

enum class FileKind : uint8_t {
  kBinary,
  kLibrary,
  kText,
  kLog,
  kDb,
  kWal,
  kData,
  kArchive,
  kSparse
};

struct FsFile {
  uint32_t ino = 0;
  FileKind kind = FileKind::kText;
  uint16_t dir = 0;              // index into FsModel::dirs()
  uint32_t name = 0;             // picks the file name
  uint8_t rotation = 0;          // logs: 0 live, 1 ".1", n ".n.gz"
  uint8_t data_kind = 0;         // BlockKind of the content
  uint64_t size = 0;             // bytes (sparse files: the apparent size)
  int32_t mtime_day = 0;         // day of the history of the last change
  uint32_t mtime_sec = 0;        // second of that day
  std::vector<uint32_t> blocks;  // disk block of each 4 KiB of the file; kHole = hole
  bool live = true;
};

struct FsDir {
  std::string path;  // "" is the root; others start with '/'
  uint16_t mode = 0755;
  uint32_t uid = 0, gid = 0;
  uint32_t ino = 0;
  uint32_t block = 0;  // the directory's data block on the disk
};

struct FsSymlink {
  std::string path, target;
};

class FsModel {
 public:
  static constexpr uint32_t kHole = 0xffffffffu;

  // seed: the guest's (differs per guest and disk); size_bytes: the disk (at least 64 KiB).
  FsModel(uint64_t seed, uint64_t size_bytes, DiskRole role);

  int day() const { return day_; }
  // Replays the days after day() up to `day` (a day at or before day() changes nothing).
  void advance_to(int day);
  // The disk blocks the next day will write, in the order it writes them (a running guest's
  // writes during a backup: they cause copy-before-write).
  std::vector<uint32_t> next_day_writes() const;

  uint64_t size_bytes() const { return size_; }
  uint64_t block_count() const { return cids_.size(); }
  // Content id of a block (content.h); 0 = never written.
  uint64_t cid(uint64_t block) const { return cids_[block]; }
  const std::vector<uint64_t>& cids() const { return cids_; }

  const std::vector<FsFile>& files() const { return files_; }
  const std::vector<FsDir>& dirs() const { return dirs_; }
  const std::vector<FsSymlink>& symlinks() const { return symlinks_; }
  std::string path_of(const FsFile& f) const;
  uint32_t mode_of(const FsFile& f) const;
  uint32_t uid_of(const FsFile& f) const;
  uint32_t gid_of(const FsFile& f) const;
  // Blocks held by live files.
  uint64_t used_blocks() const { return used_file_blocks_; }

 private:
  struct Group {
    uint32_t start = 0, blocks = 0, itable = 0, bitmap = 0;
  };
  void layout();
  void install();
  void step(std::vector<uint32_t>* touched);
  // Allocation (first fit over free blocks).
  bool alloc(size_t n, std::vector<uint32_t>& out);
  void release(const std::vector<uint32_t>& blocks);
  void set_used(uint32_t b, bool used);
  bool is_used(uint32_t b) const { return (bitmap_[b >> 6] >> (b & 63)) & 1; }
  // Writing content.
  void write(uint32_t block, uint64_t cid, std::vector<uint32_t>* touched);
  uint64_t content_cid(const FsFile& f, size_t index, uint64_t seed) const;
  // Files.
  FsFile* create(FileKind kind, uint16_t dir, uint64_t size, uint64_t content_seed,
                 std::vector<uint32_t>* touched, int kind_hint = -1);
  void rewrite(FsFile& f, uint64_t new_size, std::vector<uint32_t>* touched);
  void append(FsFile& f, uint64_t bytes, std::vector<uint32_t>* touched);
  void remove(FsFile& f, std::vector<uint32_t>* touched);
  void touch_inode(uint32_t ino);
  void touch_dir(uint16_t dir);
  void touch_group_of(uint32_t block);
  void flush_metadata(std::vector<uint32_t>* touched);
  uint32_t new_inode();
  uint16_t dir_index(const std::string& path) const;
  uint16_t pick_data_dir();
  int data_kind_for(uint16_t dir) const;
  void rotate_logs(std::vector<uint32_t>* touched);

  uint64_t seed_, size_;
  DiskRole role_;
  int day_ = 0;
  Rng* rng_ = nullptr;  // the generator of the day being built
  std::vector<uint64_t> cids_;
  std::vector<uint64_t> bitmap_;  // used blocks (metadata, journal, files)
  uint32_t hint_ = 0;             // lowest block that may be free
  uint32_t fs_start_ = 0, fs_end_ = 0;
  std::vector<Group> groups_;
  uint32_t inodes_per_group_ = 0;
  uint32_t journal_start_ = 0, journal_len_ = 0, journal_head_ = 0;
  uint64_t wal_head_ = 0;
  std::vector<uint32_t> free_inodes_;  // sorted descending; back() is the lowest
  uint32_t next_inode_ = 12;
  std::vector<FsFile> files_;
  std::vector<FsDir> dirs_;
  std::vector<FsSymlink> symlinks_;
  uint64_t used_file_blocks_ = 0, target_used_ = 0, data_blocks_ = 0;
  std::vector<uint32_t> touched_meta_;  // metadata blocks dirtied by the current day
  uint32_t update_offset_ = 0;
};

}  // namespace pvesim
