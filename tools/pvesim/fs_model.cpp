#include "fs_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "fs_layout.h"

namespace pvesim {

namespace {

constexpr uint32_t B = static_cast<uint32_t>(kBlockSize);

struct Rates {  // per day, as a share of the blocks held by files
  double log, db, rewrite, fresh, wal;
};
Rates rates_of(DiskRole r) {
  switch (r) {
    case DiskRole::kData:
      return {0.0005, 0.008, 0.0015, 0.0015, 0.003};
    case DiskRole::kContainer:
      return {0.002, 0.003, 0.003, 0.0015, 0.0015};
    default:
      return {0.0015, 0.005, 0.002, 0.0015, 0.002};
  }
}

uint64_t log_uniform(Rng& r, double lo, double hi) {
  if (hi <= lo) return static_cast<uint64_t>(lo);
  return static_cast<uint64_t>(std::exp(std::log(lo) + r.unit() * (std::log(hi) - std::log(lo))));
}

uint64_t blocks_of(uint64_t bytes) { return (bytes + B - 1) / B; }

bool is_sparse_super(uint32_t g) {
  if (g <= 1) return true;
  for (uint32_t base : {3u, 5u, 7u}) {
    uint32_t p = base;
    while (p < g) p *= base;
    if (p == g) return true;
  }
  return false;
}

BlockKind block_kind_of(FileKind k) {
  switch (k) {
    case FileKind::kBinary:
    case FileKind::kLibrary:
      return BlockKind::kBinary;
    case FileKind::kText:
      return BlockKind::kText;
    case FileKind::kLog:
      return BlockKind::kLog;
    case FileKind::kDb:
    case FileKind::kWal:
      return BlockKind::kDb;
    default:
      return BlockKind::kRandom;
  }
}

}  // namespace

FsModel::FsModel(uint64_t seed, uint64_t size_bytes, DiskRole role)
    : seed_(seed), size_(std::max<uint64_t>(size_bytes, 64 * 1024)), role_(role) {
  layout();
  install();
}

void FsModel::set_used(uint32_t b, bool used) {
  if (used)
    bitmap_[b >> 6] |= 1ull << (b & 63);
  else
    bitmap_[b >> 6] &= ~(1ull << (b & 63));
}

void FsModel::write(uint32_t block, uint64_t cid, std::vector<uint32_t>* touched) {
  cids_[block] = cid;
  if (touched) touched->push_back(block);
}

void FsModel::layout() {
  uint32_t n = static_cast<uint32_t>(blocks_of(size_));
  cids_.assign(n, 0);
  bitmap_.assign((n + 63) / 64 + 1, 0);
  Rng os(hash_combine(0x7e3a1a7eull, static_cast<uint64_t>(role_) << 32 | n));
  bool partitioned = role_ == DiskRole::kSystem && n >= 64;
  fs_start_ = partitioned ? (n >= 4096 ? 256 : 16) : 0;
  fs_end_ = partitioned ? n - 1 : n;
  for (uint32_t b = 0; b < fs_start_; ++b) set_used(b, true);
  if (partitioned) {
    set_used(n - 1, true);
    cids_[0] = make_cid(BlockKind::kBoot, 0, os.next());
    cids_[n - 1] = make_cid(BlockKind::kBoot, 0, os.next());
  }
  uint32_t g_total = fs_end_ - fs_start_;
  uint32_t gs = 32768;
  while (gs > 256 && gs * 4 > g_total) gs /= 2;
  uint32_t itb = std::max<uint32_t>(8, gs / 64);
  inodes_per_group_ = itb * 16;
  for (uint32_t start = fs_start_; start < fs_end_; start += gs) {
    uint32_t g = static_cast<uint32_t>(groups_.size());
    uint32_t blocks = std::min(gs, fs_end_ - start);
    uint32_t meta = (is_sparse_super(g) ? 2 : 0) + 2 + itb;
    if (blocks < meta + 16) {  // a tail too small for a group: unusable
      for (uint32_t b = start; b < start + blocks; ++b) set_used(b, true);
      break;
    }
    Group gr;
    gr.start = start;
    gr.blocks = blocks;
    uint32_t p = start;
    if (is_sparse_super(g)) {
      cids_[p] = make_cid(BlockKind::kMeta, 0, os.next());      // superblock
      cids_[p + 1] = make_cid(BlockKind::kMeta, 0, os.next());  // group descriptors
      p += 2;
    }
    gr.bitmap = p;
    cids_[p] = make_cid(BlockKind::kMeta, 0, os.next());      // block bitmap
    cids_[p + 1] = make_cid(BlockKind::kMeta, 0, os.next());  // inode bitmap
    gr.itable = p + 2;                                        // inode table: zero until used
    for (uint32_t b = start; b < start + meta; ++b) set_used(b, true);
    groups_.push_back(gr);
  }
  if (groups_.empty()) throw std::runtime_error("disk too small for a file system");
  // The journal: in the middle group, right after its metadata (zeroed by mkfs).
  const Group& jg = groups_[groups_.size() / 2];
  uint32_t jmeta = jg.itable + itb - jg.start;
  journal_len_ = std::clamp<uint32_t>(g_total / 64, 32, 32768);
  journal_len_ = std::min(journal_len_, (jg.blocks - jmeta) / 2);
  journal_start_ = jg.start + jmeta;
  for (uint32_t b = journal_start_; b < journal_start_ + journal_len_; ++b) set_used(b, true);
  data_blocks_ = 0;
  for (uint32_t b = 0; b < n; ++b) data_blocks_ += is_used(b) ? 0 : 1;
  hint_ = fs_start_;
}

bool FsModel::alloc(size_t n, std::vector<uint32_t>& out) {
  out.clear();
  if (n == 0) return true;
  uint32_t nb = static_cast<uint32_t>(cids_.size());
  std::vector<uint32_t> got;
  got.reserve(n);
  uint32_t b = hint_;
  bool first_free_seen = false;
  while (got.size() < n && b < nb) {
    uint64_t w = bitmap_[b >> 6];
    if ((b & 63) == 0 && w == ~0ull) {
      b += 64;
      continue;
    }
    if (!((w >> (b & 63)) & 1)) {
      if (!first_free_seen) {
        hint_ = b;
        first_free_seen = true;
      }
      got.push_back(b);
    }
    ++b;
  }
  if (got.size() < n) return false;
  for (uint32_t x : got) {
    set_used(x, true);
    touch_group_of(x);
  }
  if (!got.empty() && hint_ == got.front()) hint_ = got.back() + 1;
  out = std::move(got);
  return true;
}

void FsModel::release(const std::vector<uint32_t>& blocks) {
  for (uint32_t b : blocks) {
    if (b == kHole) continue;
    set_used(b, false);
    touch_group_of(b);
    hint_ = std::min(hint_, b);
  }
}

void FsModel::touch_group_of(uint32_t block) {
  if (block < fs_start_ || groups_.empty()) return;
  size_t g = (block - fs_start_) / groups_[0].blocks;
  if (g < groups_.size()) touched_meta_.push_back(groups_[g].bitmap);
}

void FsModel::touch_inode(uint32_t ino) {
  uint32_t g = (ino - 1) / inodes_per_group_;
  if (g >= groups_.size()) return;
  uint32_t idx = (ino - 1) % inodes_per_group_;
  touched_meta_.push_back(groups_[g].itable + idx / 16);
  touched_meta_.push_back(groups_[g].bitmap + 1);
}

void FsModel::touch_dir(uint16_t dir) {
  touched_meta_.push_back(dirs_[dir].block);
  touch_inode(dirs_[dir].ino);
}

uint32_t FsModel::new_inode() {
  if (!free_inodes_.empty()) {
    uint32_t ino = free_inodes_.back();
    free_inodes_.pop_back();
    return ino;
  }
  return next_inode_++;
}

void FsModel::flush_metadata(std::vector<uint32_t>* touched) {
  const Group& g0 = groups_[0];
  touched_meta_.push_back(g0.start);      // superblock: free counts, times
  touched_meta_.push_back(g0.start + 1);  // group descriptors
  std::sort(touched_meta_.begin(), touched_meta_.end());
  touched_meta_.erase(std::unique(touched_meta_.begin(), touched_meta_.end()), touched_meta_.end());
  for (uint32_t b : touched_meta_) write(b, make_cid(BlockKind::kMeta, 0, rng_->next()), touched);
  // ext4 journals metadata: a descriptor, the block copies and a commit per transaction.
  size_t n = std::min<size_t>(journal_len_ / 4, 2 + touched_meta_.size());
  for (size_t k = 0; k < n; ++k) {
    write(journal_start_ + journal_head_, make_cid(BlockKind::kJournal, 0, rng_->next()), touched);
    journal_head_ = (journal_head_ + 1) % journal_len_;
  }
  touched_meta_.clear();
}

uint64_t FsModel::content_cid(const FsFile& f, size_t index, uint64_t seed) const {
  uint32_t fill = 0;
  bool last = index + 1 == blocks_of(f.size);
  if (last && f.kind != FileKind::kDb && f.kind != FileKind::kWal) fill = f.size % B;
  return make_cid(static_cast<BlockKind>(f.data_kind), fill, hash_combine(seed, index));
}

FsFile* FsModel::create(FileKind kind, uint16_t dir, uint64_t size, uint64_t content_seed,
                        std::vector<uint32_t>* touched, int kind_hint) {
  FsFile f;
  f.kind = kind;
  f.dir = dir;
  f.size = size;
  f.data_kind = static_cast<uint8_t>(kind_hint >= 0 ? static_cast<BlockKind>(kind_hint)
                                                    : block_kind_of(kind));
  f.mtime_day = day_;
  f.mtime_sec = static_cast<uint32_t>(rng_->below(86400));
  f.name = static_cast<uint32_t>(rng_->next() & 0x3fffffff);
  uint64_t nb = blocks_of(size);
  if (kind == FileKind::kSparse) {
    // Data at the start, in the middle and at the end; holes elsewhere.
    uint64_t data = std::max<uint64_t>(3, nb);
    f.size = data * 16 * B - 1000;
    nb = blocks_of(f.size);
    std::vector<uint32_t> blocks;
    if (!alloc(data, blocks)) return nullptr;
    f.blocks.assign(nb, kHole);
    for (uint64_t k = 0; k < data; ++k) {
      uint64_t at = k == 0 ? 0 : k + 1 == data ? nb - 1 : (nb * k) / data + (k & 1);
      f.blocks[at] = blocks[k];
    }
  } else if (!alloc(nb, f.blocks)) {
    return nullptr;
  }
  f.ino = new_inode();
  for (size_t i = 0; i < f.blocks.size(); ++i)
    if (f.blocks[i] != kHole) {
      write(f.blocks[i], content_cid(f, i, content_seed), touched);
      ++used_file_blocks_;
    }
  touch_inode(f.ino);
  touch_dir(dir);
  files_.push_back(std::move(f));
  return &files_.back();
}

void FsModel::rewrite(FsFile& f, uint64_t new_size, std::vector<uint32_t>* touched) {
  std::vector<uint32_t> fresh;
  uint64_t seed = rng_->next();
  if (alloc(blocks_of(new_size), fresh)) {
    release(f.blocks);
    used_file_blocks_ -= f.blocks.size();
    f.blocks = std::move(fresh);
    used_file_blocks_ += f.blocks.size();
    f.size = new_size;
  }  // else: the disk is full; the file is rewritten in place at its size
  for (size_t i = 0; i < f.blocks.size(); ++i) write(f.blocks[i], content_cid(f, i, seed), touched);
  f.mtime_day = day_;
  f.mtime_sec = static_cast<uint32_t>(rng_->below(86400));
  touch_inode(f.ino);
  touch_dir(f.dir);
}

void FsModel::append(FsFile& f, uint64_t bytes, std::vector<uint32_t>* touched) {
  uint64_t old_blocks = f.blocks.size();
  uint64_t new_size = f.size + bytes;
  std::vector<uint32_t> more;
  if (!alloc(blocks_of(new_size) - old_blocks, more)) return;
  bool partial_tail = f.size % B != 0;
  f.size = new_size;
  f.blocks.insert(f.blocks.end(), more.begin(), more.end());
  used_file_blocks_ += more.size();
  uint64_t seed = rng_->next();
  for (size_t i = partial_tail ? old_blocks - 1 : old_blocks; i < f.blocks.size(); ++i)
    write(f.blocks[i], content_cid(f, i, seed), touched);
  f.mtime_day = day_;
  f.mtime_sec = 86400 - 1 - static_cast<uint32_t>(rng_->below(600));
  touch_inode(f.ino);
}

void FsModel::remove(FsFile& f, std::vector<uint32_t>*) {
  if (!f.live) return;
  release(f.blocks);
  for (uint32_t b : f.blocks) used_file_blocks_ -= b == kHole ? 0 : 1;
  f.live = false;
  touch_inode(f.ino);
  touch_dir(f.dir);
  free_inodes_.push_back(f.ino);
  std::sort(free_inodes_.begin(), free_inodes_.end(), std::greater<>());
}

uint16_t FsModel::dir_index(const std::string& path) const {
  for (size_t k = 0; k < dirs_.size(); ++k)
    if (dirs_[k].path == path) return static_cast<uint16_t>(k);
  throw std::logic_error("fs model: no directory " + path);
}

uint16_t FsModel::pick_data_dir() {
  static const char* dirs[] = {"/srv/data/archive", "/srv/data/media", "/srv/data/reports",
                               "/srv/data/reports", "/home/user",      "/var/lib/app"};
  return dir_index(dirs[rng_->below(6)]);
}

void FsModel::install() {
  Rng os(hash_combine(0x05e7a11ull, static_cast<uint64_t>(role_) << 32 | cids_.size()));
  Rng own(hash_combine(seed_, 0x1a57a11ull));
  rng_ = &os;
  for (const auto& d : kDirs) {
    FsDir fd{d.path, d.mode, d.uid, d.gid, 0, 0};
    fd.ino = d.path[0] == 0 ? 2 : new_inode();
    std::vector<uint32_t> b;
    if (!alloc(1, b)) throw std::runtime_error("disk too small for a file system");
    fd.block = b[0];
    cids_[fd.block] = make_cid(BlockKind::kMeta, 0, os.next());
    dirs_.push_back(fd);
    touch_inode(fd.ino);
  }
  for (const auto& [path, target] : kLinks) symlinks_.push_back({path, target});
  const double d = static_cast<double>(data_blocks_);
  const uint64_t cap = static_cast<uint64_t>(d * B / 200);  // no file over 0.5% of the disk
  bool sys = role_ != DiskRole::kData;
  if (sys) {
    for (uint32_t k = 0; k < sizeof kFixed / sizeof kFixed[0]; ++k) {
      const FixedSpec& fx = kFixed[k];
      if (std::string(fx.dir) == "/boot" && role_ != DiskRole::kSystem) continue;
      FsFile* f =
          create(fx.kind, dir_index(fx.dir), std::min<uint64_t>(fx.size, cap), os.next(), nullptr);
      if (f) f->name = kFixedBit | k;
    }
    // The operating system: binaries, libraries, configuration and documentation.
    double os_share = role_ == DiskRole::kSystem ? 0.24 : 0.32;
    while (used_file_blocks_ < d * os_share) {
      uint64_t r = os.below(100);
      FileKind kind = r < 30   ? FileKind::kBinary
                      : r < 55 ? FileKind::kLibrary
                      : r < 90 ? FileKind::kText
                               : FileKind::kArchive;
      uint64_t size = 0;
      const char* dir = "/usr/bin";
      uint64_t q = os.below(100);
      switch (kind) {
        case FileKind::kBinary:
          size = log_uniform(os, 4e3, 1e6);
          dir = q < 70 ? "/usr/bin" : q < 90 ? "/usr/sbin" : "/opt/app/bin";
          break;
        case FileKind::kLibrary:
          size = log_uniform(os, 8e3, 2e6);
          dir = q < 85 ? "/usr/lib/x86_64-linux-gnu" : "/usr/lib";
          break;
        case FileKind::kText:
          size = log_uniform(os, 100, 12e3);
          dir = q < 25   ? "/etc"
                : q < 30 ? "/etc/default"
                : q < 40 ? "/etc/systemd/system"
                : q < 45 ? "/etc/apt"
                         : "/usr/share/doc";
          break;
        default:
          size = log_uniform(os, 1e3, 256e3);
          dir = q < 60   ? "/usr/share/man/man1"
                : q < 90 ? "/usr/share/doc"
                         : "/var/cache/apt/archives";
      }
      if (!create(kind, dir_index(dir), std::min(size, cap), os.next(), nullptr)) break;
    }
  }
  // The guest's own data.
  rng_ = &own;
  double db_share = role_ == DiskRole::kData ? 0.30 : role_ == DiskRole::kSystem ? 0.07 : 0.05;
  double wal_share = role_ == DiskRole::kData ? 0.03 : 0.01;
  double log_share = role_ == DiskRole::kData ? 0.004 : 0.012;
  double data_share = role_ == DiskRole::kData ? 0.15 : 0.06;
  uint16_t base = dir_index("/var/lib/postgresql/15/main/base/16384");
  create(FileKind::kWal, dir_index("/var/lib/postgresql/15/main/pg_wal"),
         std::max<uint64_t>(4, static_cast<uint64_t>(d * wal_share)) * B, own.next(), nullptr);
  for (uint64_t db = 0, want = static_cast<uint64_t>(d * db_share); db < want || db == 0;) {
    uint64_t pages = std::min<uint64_t>(log_uniform(own, 2, std::max(4.0, (want - db) * 0.6)),
                                        std::max<uint64_t>(1, want - db));
    pages = std::max<uint64_t>(1, std::min<uint64_t>(pages, cap / B * 4));
    if (!create(FileKind::kDb, base, pages * B, own.next(), nullptr)) break;
    db += pages;
  }
  int weights = 0;
  for (int k = 0; k < static_cast<int>(sizeof kLogs / sizeof kLogs[0]); ++k)
    if (sys || k == kDataRoleLog) weights += kLogs[k].weight;
  for (int k = 0; k < static_cast<int>(sizeof kLogs / sizeof kLogs[0]); ++k) {
    if (!sys && k != kDataRoleLog) continue;
    uint64_t size = std::max<uint64_t>(
        1000, static_cast<uint64_t>(d * B * log_share) * kLogs[k].weight / weights);
    uint16_t dir = dir_index(kLogs[k].dir);
    for (uint8_t rot = 0; rot < (k == 6 ? 1 : 3); ++rot) {
      uint64_t sz = rot == 2 ? size / 8 + 100 : size;
      FsFile* f = create(FileKind::kLog, dir, std::min(sz, cap), own.next(), nullptr,
                         static_cast<int>(rot >= 2 ? BlockKind::kRandom : BlockKind::kLog));
      if (!f) break;
      f->name = kLogBit | static_cast<uint32_t>(k);
      f->rotation = rot;
    }
  }
  for (uint64_t want = static_cast<uint64_t>(d * data_share), start = used_file_blocks_;
       used_file_blocks_ < start + want;) {
    uint16_t dir = pick_data_dir();
    uint64_t size = std::min<uint64_t>(log_uniform(own, 4e3, 4e6), cap);
    if (!create(FileKind::kData, dir, size, own.next(), nullptr, data_kind_for(dir))) break;
  }
  if (sys)
    create(FileKind::kSparse, dir_index("/var/lib/app"),
           std::max<uint64_t>(3, static_cast<uint64_t>(d * 0.002)) * B, own.next(), nullptr);
  target_used_ = used_file_blocks_;
  update_offset_ = static_cast<uint32_t>(own.below(63));
  flush_metadata(nullptr);
  rng_ = nullptr;
}

int FsModel::data_kind_for(uint16_t dir) const {
  const std::string& p = dirs_[dir].path;
  if (p == "/srv/data/media" || p == "/srv/data/archive" || p == "/tmp")
    return static_cast<int>(BlockKind::kRandom);
  if (p == "/var/lib/app") return static_cast<int>(BlockKind::kBinary);
  return static_cast<int>(BlockKind::kText);
}

void FsModel::rotate_logs(std::vector<uint32_t>* touched) {
  // logrotate: .n.gz -> .n+1.gz (the 4th is dropped), .1 compressed into .2.gz, the live log
  // renamed to .1, a new empty live log.
  std::vector<size_t> idx;
  for (size_t i = 0; i < files_.size(); ++i)
    if (files_[i].live && files_[i].kind == FileKind::kLog && (files_[i].name & kLogBit) &&
        (files_[i].name & 0xffff) != 6)
      idx.push_back(i);
  std::vector<std::pair<size_t, uint64_t>> compress;  // .1 files to compress, with their size
  for (size_t i : idx) {
    FsFile& f = files_[i];
    if (f.rotation >= 4) {
      remove(f, touched);
    } else if (f.rotation >= 2) {
      ++f.rotation;
      touch_inode(f.ino);
      touch_dir(f.dir);
    } else if (f.rotation == 1) {
      compress.emplace_back(i, f.size);
    } else {
      f.rotation = 1;
      touch_inode(f.ino);
      touch_dir(f.dir);
    }
  }
  for (auto [i, size] : compress) {
    uint32_t name = files_[i].name;
    uint16_t dir = files_[i].dir;
    remove(files_[i], touched);
    FsFile* gz = create(FileKind::kLog, dir, size / 8 + 100, rng_->next(), touched,
                        static_cast<int>(BlockKind::kRandom));
    if (gz) {
      gz->name = name;
      gz->rotation = 2;
    }
    FsFile* live = create(FileKind::kLog, dir, 0, rng_->next(), touched);
    if (live) live->name = name;
  }
}

void FsModel::step(std::vector<uint32_t>* touched) {
  Rng day(hash_combine(seed_, 0xda70000000000000ull | static_cast<uint64_t>(day_)));
  rng_ = &day;
  const Rates rt = rates_of(role_);
  const double u = static_cast<double>(std::max<uint64_t>(used_file_blocks_, 16));
  const uint16_t tmp = dir_index("/tmp");
  // Log lines appended through the day.
  int weights = 0;
  std::vector<size_t> logs;
  for (size_t i = 0; i < files_.size(); ++i)
    if (files_[i].live && files_[i].kind == FileKind::kLog && files_[i].rotation == 0) {
      logs.push_back(i);
      weights += kLogs[files_[i].name & 0xffff].weight;
    }
  for (size_t i : logs) {
    double share = static_cast<double>(kLogs[files_[i].name & 0xffff].weight) / weights;
    append(files_[i], static_cast<uint64_t>(u * B * rt.log * share * (0.6 + 0.8 * day.unit())),
           touched);
  }
  if ((static_cast<uint32_t>(day_) + update_offset_) % 7 == 0) rotate_logs(touched);
  // Database pages rewritten in place (80% of the writes hit the hottest 20% of a table),
  // tables growing, the write-ahead log written round and round.
  std::vector<size_t> tables;
  std::vector<uint64_t> cumulative;
  uint64_t pages = 0;
  for (size_t i = 0; i < files_.size(); ++i)
    if (files_[i].live && files_[i].kind == FileKind::kDb && !files_[i].blocks.empty()) {
      tables.push_back(i);
      pages += files_[i].blocks.size();
      cumulative.push_back(pages);
    }
  if (pages) {
    for (uint64_t n = static_cast<uint64_t>(u * rt.db), k = 0; k < n; ++k) {
      uint64_t at = day.below(pages);
      size_t t = static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), at) -
                                     cumulative.begin());
      FsFile& f = files_[tables[t]];
      uint64_t np = f.blocks.size();
      uint64_t page = day.chance(0.8) ? day.below(std::max<uint64_t>(1, np / 5)) : day.below(np);
      write(f.blocks[page], make_cid(BlockKind::kDb, 0, day.next()), touched);
      if (f.mtime_day != day_) {
        f.mtime_day = day_;
        touch_inode(f.ino);
      }
      f.mtime_sec = std::max(f.mtime_sec, static_cast<uint32_t>(day.below(86400)));
    }
    for (size_t t : tables)
      if (day.chance(0.2)) append(files_[t], (1 + files_[t].blocks.size() / 100) * B, touched);
  }
  for (auto& f : files_) {
    if (!f.live || f.kind != FileKind::kWal || f.blocks.empty()) continue;
    uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(u * rt.wal) + 1, f.blocks.size());
    for (uint64_t k = 0; k < n; ++k)
      write(f.blocks[(wal_head_ + k) % f.blocks.size()], make_cid(BlockKind::kDb, 0, day.next()),
            touched);
    wal_head_ = (wal_head_ + n) % f.blocks.size();
    f.mtime_day = day_;
    touch_inode(f.ino);
  }
  // Files rewritten whole (editors, applications saving, configuration management): new blocks.
  auto rewritable = [&](const FsFile& f) {
    return f.live && f.dir != tmp &&
           (f.kind == FileKind::kText || f.kind == FileKind::kData || f.kind == FileKind::kBinary ||
            f.kind == FileKind::kLibrary || f.kind == FileKind::kArchive);
  };
  double budget = u * rt.rewrite;
  for (int tries = 0; tries < 400 && budget > 0 && !files_.empty(); ++tries) {
    FsFile& f = files_[day.below(files_.size())];
    if (!rewritable(f) || static_cast<double>(f.blocks.size()) > std::max(budget * 2, 4.0))
      continue;
    uint64_t size =
        f.kind == FileKind::kText
            ? static_cast<uint64_t>(static_cast<double>(f.size) * (0.8 + 0.4 * day.unit())) + 1
            : f.size;
    budget -= static_cast<double>(f.blocks.size());
    rewrite(f, size, touched);
  }
  // Package updates now and then: 1.5% of the binaries and libraries replaced.
  if ((static_cast<uint32_t>(day_) + update_offset_) % 9 == 4) {
    std::vector<size_t> bins;
    for (size_t i = 0; i < files_.size(); ++i)
      if (files_[i].live &&
          (files_[i].kind == FileKind::kBinary || files_[i].kind == FileKind::kLibrary))
        bins.push_back(i);
    double left = u * 0.004;
    for (size_t m = std::max<size_t>(1, bins.size() * 15 / 1000), k = 0;
         k < m && !bins.empty() && left > 0; ++k) {
      FsFile& f = files_[bins[day.below(bins.size())]];
      if (static_cast<double>(f.blocks.size()) > std::max(left, 4.0)) continue;
      left -= static_cast<double>(f.blocks.size());
      rewrite(f, f.size, touched);
    }
  }
  // Temporary files: yesterday's removed, today's created.
  for (auto& f : files_)
    if (f.live && f.dir == tmp) remove(f, touched);
  for (uint64_t k = 0, n = 1 + day.below(3); k < n; ++k)
    create(FileKind::kData, tmp, log_uniform(day, 1e3, std::max(4e3, u * B * 0.001)), day.next(),
           touched, static_cast<int>(BlockKind::kRandom));
  // New files.
  for (double fresh = u * rt.fresh; fresh > 0;) {
    uint16_t dir = pick_data_dir();
    uint64_t size = log_uniform(day, 1e3, std::max(2e3, std::min(4e6, fresh * B)));
    if (!create(FileKind::kData, dir, size, day.next(), touched, data_kind_for(dir))) break;
    fresh -= static_cast<double>(blocks_of(size));
  }
  // Deletions keep the used space near what the server needs (slowly growing).
  double limit = std::min(static_cast<double>(target_used_) * (1.0 + 0.001 * day_),
                          0.75 * static_cast<double>(data_blocks_));
  for (int tries = 0; tries < 2000 && static_cast<double>(used_file_blocks_) > limit; ++tries) {
    FsFile& f = files_[day.below(files_.size())];
    if (f.live && f.dir != tmp && (f.kind == FileKind::kData || f.kind == FileKind::kArchive))
      remove(f, touched);
  }
  files_.erase(
      std::remove_if(files_.begin(), files_.end(), [](const FsFile& f) { return !f.live; }),
      files_.end());
  flush_metadata(touched);
  rng_ = nullptr;
}

void FsModel::advance_to(int day) {
  while (day_ < day) {
    ++day_;
    step(nullptr);
  }
}

std::vector<uint32_t> FsModel::next_day_writes() const {
  FsModel copy(*this);
  ++copy.day_;
  std::vector<uint32_t> touched;
  copy.step(&touched);
  return touched;
}

std::string FsModel::path_of(const FsFile& f) const {
  return dirs_[f.dir].path + "/" + layout_file_name(f, dirs_[f.dir].path);
}

uint32_t FsModel::mode_of(const FsFile& f) const { return layout_file_mode(f); }

uint32_t FsModel::uid_of(const FsFile& f) const {
  return f.name & kLogBit ? kLogs[f.name & 0xffff].uid : dirs_[f.dir].uid;
}

uint32_t FsModel::gid_of(const FsFile& f) const {
  if (f.name & kFixedBit && kFixed[f.name & 0xffff].gid) return kFixed[f.name & 0xffff].gid;
  return f.name & kLogBit ? kLogs[f.name & 0xffff].gid : dirs_[f.dir].gid;
}

}  // namespace pvesim
