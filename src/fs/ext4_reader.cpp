#include "fs/ext4_reader.h"

extern "C" {
#include <et/com_err.h>  // a C header without extern "C" of its own
}

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "fs/ext2_io.h"
#include "fs/partition_table.h"

namespace pvesafe::fs {

namespace {

std::string type_of(uint16_t mode) {
  if (LINUX_S_ISREG(mode)) return "file";
  if (LINUX_S_ISDIR(mode)) return "dir";
  if (LINUX_S_ISLNK(mode)) return "symlink";
  if (LINUX_S_ISCHR(mode)) return "chardev";
  if (LINUX_S_ISBLK(mode)) return "blockdev";
  if (LINUX_S_ISFIFO(mode)) return "fifo";
  if (LINUX_S_ISSOCK(mode)) return "socket";
  return "unknown";
}

}  // namespace

void Ext4Reader::fail(long code, const std::string& what) {
  rethrow_io_error(fs_);  // the source's own error, when a read failed
  const char* msg = error_message(code);
  if (code == EXT2_ET_FILE_NOT_FOUND || code == ENOENT) {
    throw Error(Errc::kNotFound,
                fmt::format("{}: no such file or directory in {}", what, volume_.name()),
                "pvesafe files ls lists a directory");
  }
  if (code == EXT2_ET_NO_DIRECTORY || code == ENOTDIR) {
    throw Error(Errc::kUsage, fmt::format("{}: not a directory in {}", what, volume_.name()));
  }
  if (code == EXT2_ET_SYMLINK_LOOP) {
    throw Error(Errc::kIntegrity,
                fmt::format("{}: too many levels of symbolic links in {}", what, volume_.name()));
  }
  throw Error(Errc::kIntegrity, fmt::format("{} in {}: {}", what, volume_.name(), msg),
              "the file system may be damaged; e2fsck on a restored copy of the disk tells more");
}

Ext4Reader::Ext4Reader(BlockSource& volume) : volume_(volume) {
  ext2_filsys fs = nullptr;
  errcode_t rc = open_ext2fs(volume, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, &fs);
  if (rc) {
    try {
      if (fs) rethrow_io_error(fs);
    } catch (...) {
      ext2fs_close_free(&fs);
      throw;
    }
    if (fs) ext2fs_close_free(&fs);
    VolumeProbe p;
    try {
      p = probe_volume(volume);
    } catch (const Error&) {
      throw;  // the source failed: that is the error to report
    }
    if (p.filesystem.empty() || p.filesystem.rfind("ext", 0) != 0) {
      throw Error(
          Errc::kUnsupported,
          fmt::format("{} holds {}, not an ext2/3/4 file system", volume.name(),
                      p.filesystem.empty() ? "no file system pvesafe recognises" : p.filesystem),
          "pvesafe files partitions shows what each partition holds (docs/files.md lists the "
          "layouts that work)");
    }
    throw Error(rc == EXT2_ET_UNSUPP_FEATURE || rc == EXT2_ET_RO_UNSUPP_FEATURE ? Errc::kUnsupported
                                                                                : Errc::kIntegrity,
                fmt::format("cannot open the {} file system on {}: {}", p.filesystem, volume.name(),
                            error_message(rc)));
  }
  fs_ = fs;
}

Ext4Reader::~Ext4Reader() {
  if (fs_) {
    ext2_filsys fs = fs_;
    ext2fs_close_free(&fs);
  }
}

FsSummary Ext4Reader::summary() const {
  const ext2_super_block* sb = fs_->super;
  FsSummary s;
  if (sb->s_feature_incompat & (EXT3_FEATURE_INCOMPAT_EXTENTS | EXT4_FEATURE_INCOMPAT_FLEX_BG))
    s.type = "ext4";
  else if (sb->s_feature_compat & EXT3_FEATURE_COMPAT_HAS_JOURNAL)
    s.type = "ext3";
  else
    s.type = "ext2";
  s.label = std::string(
      reinterpret_cast<const char*>(sb->s_volume_name),
      strnlen(reinterpret_cast<const char*>(sb->s_volume_name), sizeof sb->s_volume_name));
  const uint8_t* u = sb->s_uuid;
  s.uuid = fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:"
      "02x}{:02x}",
      u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
      u[15]);
  s.block_size = static_cast<uint32_t>(fs_->blocksize);
  s.blocks = ext2fs_blocks_count(fs_->super);
  s.free_blocks = ext2fs_free_blocks_count(fs_->super);
  s.inodes = sb->s_inodes_count;
  s.free_inodes = sb->s_free_inodes_count;
  s.needs_recovery = (sb->s_feature_incompat & EXT3_FEATURE_INCOMPAT_RECOVER) != 0;
  return s;
}

uint32_t Ext4Reader::lookup(const std::string& path, bool follow_last) {
  if (path.empty() || path[0] != '/') {
    throw Error(Errc::kUsage, fmt::format("'{}' is not an absolute path", path),
                "paths start at the file system's root, e.g. /etc/hostname");
  }
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == "/") return EXT2_ROOT_INO;
  ext2_ino_t ino = 0;
  errcode_t rc = follow_last
                     ? ext2fs_namei_follow(fs_, EXT2_ROOT_INO, EXT2_ROOT_INO, p.c_str() + 1, &ino)
                     : ext2fs_namei(fs_, EXT2_ROOT_INO, EXT2_ROOT_INO, p.c_str() + 1, &ino);
  if (rc) fail(rc, path);
  return ino;
}

std::string Ext4Reader::link_target(uint32_t ino) {
  ext2_inode inode{};
  if (errcode_t rc = ext2fs_read_inode(fs_, ino, &inode)) fail(rc, fmt::format("inode {}", ino));
  const uint64_t size = EXT2_I_SIZE(&inode);
  if (size > 4096)
    throw Error(Errc::kIntegrity,
                fmt::format("symbolic link inode {} is {} bytes long", ino, size));
  if (ext2fs_is_fast_symlink(&inode)) {
    return std::string(reinterpret_cast<const char*>(inode.i_block),
                       strnlen(reinterpret_cast<const char*>(inode.i_block), size));
  }
  if (inode.i_flags & EXT4_INLINE_DATA_FL) {
    std::vector<char> buf(4096 + 64);
    size_t n = 0;
    if (errcode_t rc = ext2fs_inline_data_get(fs_, ino, &inode, buf.data(), &n))
      fail(rc, fmt::format("inode {}", ino));
    return std::string(buf.data(), std::min<size_t>(n, size));
  }
  std::string out;
  read_file(ino,
            [&](const uint8_t* d, size_t n) { out.append(reinterpret_cast<const char*>(d), n); });
  return out;
}

FileInfo Ext4Reader::stat_inode(uint32_t ino, const std::string& name) {
  ext2_inode inode{};
  if (errcode_t rc = ext2fs_read_inode(fs_, ino, &inode)) fail(rc, name);
  FileInfo f;
  f.name = name;
  f.inode = ino;
  f.type = type_of(inode.i_mode);
  f.mode = inode.i_mode & 07777;
  f.uid = inode_uid(inode);
  f.gid = inode_gid(inode);
  f.size = EXT2_I_SIZE(&inode);
  f.mtime = static_cast<int64_t>(inode.i_mtime);
  f.links = inode.i_links_count;
  if (f.type == "symlink") f.target = link_target(ino);
  return f;
}

FileInfo Ext4Reader::stat(const std::string& path, bool follow_last) {
  uint32_t ino = lookup(path, follow_last);
  std::string name = path;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  if (name != "/") name = name.substr(name.rfind('/') + 1);
  return stat_inode(ino, name);
}

std::vector<FileInfo> Ext4Reader::list(uint32_t dir) {
  struct Ctx {
    std::vector<std::pair<std::string, uint32_t>> names;
  } ctx;
  auto cb = [](ext2_ino_t, int, ext2_dir_entry* d, int, int, char*, void* priv) -> int {
    auto* c = static_cast<Ctx*>(priv);
    int len = ext2fs_dirent_name_len(d);
    std::string n(d->name, static_cast<size_t>(len));
    if (n != "." && n != ".." && d->inode) c->names.emplace_back(n, d->inode);
    return 0;
  };
  errcode_t rc = ext2fs_dir_iterate2(fs_, dir, 0, nullptr, cb, &ctx);
  if (rc) fail(rc, fmt::format("directory inode {}", dir));
  std::sort(ctx.names.begin(), ctx.names.end());
  std::vector<FileInfo> out;
  out.reserve(ctx.names.size());
  for (const auto& [n, ino] : ctx.names) out.push_back(stat_inode(ino, n));
  return out;
}

void Ext4Reader::read_file(uint32_t ino, const std::function<void(const uint8_t*, size_t)>& sink) {
  ext2_file_t file = nullptr;
  if (errcode_t rc = ext2fs_file_open(fs_, ino, 0, &file)) fail(rc, fmt::format("inode {}", ino));
  struct Closer {
    ext2_file_t f;
    ~Closer() { ext2fs_file_close(f); }
  } closer{file};
  const uint64_t size = EXT2_I_SIZE(ext2fs_file_get_inode(file));
  std::vector<uint8_t> buf(1 << 20);
  uint64_t done = 0;
  while (done < size) {
    unsigned int got = 0;
    errcode_t rc = ext2fs_file_read(file, buf.data(), static_cast<unsigned int>(buf.size()), &got);
    if (rc) fail(rc, fmt::format("reading inode {} at {}", ino, done));
    if (got == 0) break;
    sink(buf.data(), got);
    done += got;
  }
  if (done != size) {
    throw Error(Errc::kIntegrity, fmt::format("inode {} in {} ended after {} of {} bytes", ino,
                                              volume_.name(), done, size));
  }
}

}  // namespace pvesafe::fs
