// pvesafe files {partitions|ls|get} SNAPSHOT --disk NAME [--partition N] ...
// Single files out of a snapshot's disk without restoring it, without a mount and without
// root: the disk is read through the repository's disk reader (only the chunks a request
// touches are fetched), its partition table and its ext2/3/4 file system are read in-process
// (fs/partition_table.h, fs/ext4_reader.h on libext2fs).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "cli/command.h"
#include "cli/disk_source.h"
#include "cli/repo_context.h"
#include "core/error.h"
#include "fs/ext4_reader.h"
#include "fs/partition_table.h"
#include "fs/slice_source.h"

namespace pvesafe::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct FilesFlags {
  DiskSourceFlags source;
  int partition = 0;  // 0: the one ext partition, or the whole disk
  std::string path;
  std::string to;
  bool force = false;
};

constexpr char kFilesFooter[] = R"(
The disk is read through the repository's disk reader: only the chunks a request touches are
fetched (the partition table, the file system's superblock and group descriptors, the inodes
and directory blocks on the path, the file's data), authenticated and decrypted in this
process. Nothing is mounted, nothing is written to the repository, no root is needed.

Each command says what it read (on standard error after a table, on standard output after an
extraction to a file; with --json in the document): "fetched_bytes" is chunk data, the ranges of
packs holding the chunks it touched, as stored (compressed, encrypted); "repository_read_bytes"
is every byte the store returned, chunk data plus the key file, the snapshot's manifest and the
chunk index. Disks are stored in chunks of 128 KiB: a small file costs a few chunks of metadata
and data, a large one about its stored size.

Layouts: GPT or MBR partitions (or none) holding ext2, ext3 or ext4. LVM, XFS, btrfs, NTFS and
LUKS are recognised and refused with exit 12; `pvesafe mount` gives the raw disk as a file for
those (docs/files.md).

Examples:
  pvesafe files partitions latest --guest 100 --disk drive-scsi0
  pvesafe files ls 0f1e2d3c --disk drive-scsi0 /etc
  pvesafe files get 0f1e2d3c --disk drive-scsi0 /etc/hostname --to -
  pvesafe files get 0f1e2d3c --disk drive-scsi0 --partition 2 /home/alice --to ./alice

Exit codes: 0 ok, 2 usage (bad flags, a path of the wrong kind, a target that exists),
3 configuration, 4 passphrase, 5 snapshot, disk, partition or path not found, 6 integrity (a
chunk failed authentication, a damaged file system or partition table), 7 the repository
stopped answering, 8 local I/O, 12 a layout pvesafe cannot read (see docs/exit-codes.md).)";

std::string mode_string(const fs::FileInfo& f) {
  char t = '?';
  if (f.type == "file") t = '-';
  else if (f.type == "dir") t = 'd';
  else if (f.type == "symlink") t = 'l';
  else if (f.type == "chardev") t = 'c';
  else if (f.type == "blockdev") t = 'b';
  else if (f.type == "fifo") t = 'p';
  else if (f.type == "socket") t = 's';
  std::string s(1, t);
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (f.mode & (0400u >> i)) ? rwx[i] : '-';
  if (f.mode & 04000) s[3] = s[3] == 'x' ? 's' : 'S';
  if (f.mode & 02000) s[6] = s[6] == 'x' ? 's' : 'S';
  if (f.mode & 01000) s[9] = s[9] == 'x' ? 't' : 'T';
  return s;
}

std::string utc(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json file_json(const fs::FileInfo& f) {
  nlohmann::json j{{"name", f.name},   {"type", f.type}, {"mode", fmt::format("{:04o}", f.mode)},
                   {"uid", f.uid},     {"gid", f.gid},   {"size_bytes", f.size},
                   {"mtime", utc(f.mtime)}, {"links", f.links}, {"inode", f.inode}};
  if (f.type == "symlink") j["target"] = f.target;
  return j;
}

// The disk, its partition table, and the volume the command works on.
struct Opened {
  std::shared_ptr<BlockSource> disk;
  fs::PartitionTable table;
  std::unique_ptr<fs::SliceSource> slice;  // the chosen partition, if any
  int partition = 0;
  BlockSource& volume() { return slice ? static_cast<BlockSource&>(*slice) : *disk; }
};

// SNAPSHOT is optional with --image: a lone positional then is the PATH.
void fix_positionals(FilesFlags& f) {
  if (!f.source.image.empty() && f.path.empty() && !f.source.snapshot.empty()) {
    f.path = f.source.snapshot;
    f.source.snapshot.clear();
  }
}

std::unique_ptr<fs::SliceSource> slice_of(BlockSource& disk, const fs::Partition& p) {
  return std::make_unique<fs::SliceSource>(disk, p.offset, p.size, fmt::format("{} partition {}", disk.name(), p.number));
}

Opened open_volume(const GlobalOptions& g, FilesFlags& f) {
  fix_positionals(f);
  Opened o;
  o.disk = open_disk_source(g, f.source);
  o.table = fs::read_partition_table(*o.disk);
  if (f.partition < 0) throw Error(Errc::kUsage, "--partition is a partition number (1, 2, ...)");
  if (f.partition > 0) {
    for (const auto& p : o.table.partitions) {
      if (p.number == f.partition) {
        o.slice = slice_of(*o.disk, p);
        o.partition = p.number;
        return o;
      }
    }
    std::string have;
    for (const auto& p : o.table.partitions) have += (have.empty() ? "" : ", ") + std::to_string(p.number);
    throw Error(Errc::kNotFound,
                fmt::format("{} has no partition {} (partitions: {})", o.disk->name(), f.partition,
                            have.empty() ? "none, the disk is not partitioned" : have),
                "pvesafe files partitions lists them");
  }
  if (o.table.partitions.empty()) return o;  // an unpartitioned disk: the file system is the disk
  std::vector<const fs::Partition*> ext;
  std::string seen;
  for (const auto& p : o.table.partitions) {
    auto s = slice_of(*o.disk, p);
    auto probe = fs::probe_volume(*s);
    seen += fmt::format("{}{}: {}", seen.empty() ? "" : ", ", p.number, probe.filesystem.empty() ? p.type : probe.filesystem);
    if (probe.filesystem.rfind("ext", 0) == 0) ext.push_back(&p);
  }
  if (ext.size() == 1) {
    o.slice = slice_of(*o.disk, *ext[0]);
    o.partition = ext[0]->number;
    return o;
  }
  if (ext.empty()) {
    throw Error(Errc::kUnsupported, fmt::format("{} has no ext2/3/4 partition ({})", o.disk->name(), seen),
                "docs/files.md lists the layouts pvesafe reads; pvesafe mount gives the raw disk");
  }
  throw Error(Errc::kUsage, fmt::format("{} has several ext partitions ({}): choose one with --partition N", o.disk->name(), seen));
}

// What the command read from the repository: chunk data (the ranges of packs holding the chunks
// it touched, as stored: encrypted and compressed) and everything the store returned (the same
// plus the key file, the snapshot's manifest and the chunk index).
void add_fetched_json(nlohmann::json& j, const BlockSource& disk) {
  j["fetched_bytes"] = disk.fetched_bytes();
  j["repository_read_bytes"] = repository_bytes_read(disk);
}

std::string fetched_text(const BlockSource& disk) {
  const uint64_t all = repository_bytes_read(disk);
  if (all == 0) return fmt::format("{} read from the image", human_bytes(disk.fetched_bytes()));
  return fmt::format("{} fetched from the repository ({} of chunk data)", human_bytes(all),
                     human_bytes(disk.fetched_bytes()));
}

nlohmann::json where_json(const FilesFlags& f, Opened& o) {
  nlohmann::json j{{"disk", o.disk->name()}, {"partition_table", o.table.scheme}};
  j["partition"] = o.partition ? nlohmann::json(o.partition) : nlohmann::json(nullptr);
  (void)f;
  return j;
}

void add_common(CLI::App* cmd, FilesFlags& f) {
  add_disk_source_flags(cmd, f.source);
  cmd->add_option("--partition", f.partition,
                  "Partition number as Linux numbers them (1 for sda1; default: the only ext "
                  "partition, or the whole disk when it has no partition table)");
  cmd->footer(kFilesFooter);
}

// --- get -----------------------------------------------------------------------------------

struct Extract {
  fs::Ext4Reader& reader;
  std::function<void(const repo::Progress&)> progress;
  Clock::time_point t0 = Clock::now();
  uint64_t bytes = 0, files = 0, dirs = 0, links = 0, skipped = 0;
  uint64_t total = 0;

  void tick() {
    if (!progress) return;
    repo::Progress p;
    p.bytes_done = bytes;
    if (total) p.bytes_total = total;
    p.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    progress(p);
  }

  void write_fd(int fd, uint32_t ino, const std::string& what) {
    reader.read_file(ino, [&](const uint8_t* d, size_t n) {
      while (n) {
        ssize_t w = ::write(fd, d, n);
        if (w < 0) {
          if (errno == EINTR) continue;
          throw Error(Errc::kIo, fmt::format("cannot write {}: {}", what, std::strerror(errno)));
        }
        d += w;
        n -= static_cast<size_t>(w);
        bytes += static_cast<uint64_t>(w);
      }
      tick();
    });
  }

  void set_times(int fd, const fs::FileInfo& fi) {
    timespec ts[2] = {{fi.mtime, 0}, {fi.mtime, 0}};
    ::futimens(fd, ts);
  }

  // Creates `name` inside the directory dirfd (which this extraction created) from `fi`.
  void entry(int dirfd, const std::string& name, const fs::FileInfo& fi, const std::string& shown) {
    if (fi.type == "file") {
      int fd = ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0) throw Error(Errc::kIo, fmt::format("cannot create {}: {}", shown, std::strerror(errno)));
      try {
        write_fd(fd, fi.inode, shown);
      } catch (...) {
        ::close(fd);
        throw;
      }
      ::fchmod(fd, fi.mode & 0777);
      set_times(fd, fi);
      if (::close(fd) != 0) throw Error(Errc::kIo, fmt::format("cannot write {}: {}", shown, std::strerror(errno)));
      ++files;
    } else if (fi.type == "dir") {
      if (::mkdirat(dirfd, name.c_str(), 0700) != 0) {
        throw Error(Errc::kIo, fmt::format("cannot create {}: {}", shown, std::strerror(errno)));
      }
      int sub = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) throw Error(Errc::kIo, fmt::format("cannot open {}: {}", shown, std::strerror(errno)));
      try {
        for (const auto& child : reader.list(fi.inode)) entry(sub, child.name, child, shown + "/" + child.name);
      } catch (...) {
        ::close(sub);
        throw;
      }
      ::fchmod(sub, fi.mode & 0777);
      set_times(sub, fi);
      ::close(sub);
      ++dirs;
    } else if (fi.type == "symlink") {
      if (::symlinkat(fi.target.c_str(), dirfd, name.c_str()) != 0) {
        throw Error(Errc::kIo, fmt::format("cannot create the symbolic link {}: {}", shown, std::strerror(errno)));
      }
      ++links;
    } else {
      ++skipped;  // devices, fifos and sockets are not data
    }
  }
};

void run_get(const GlobalOptions& g, FilesFlags& f) {
  fix_positionals(f);
  if (f.path.empty()) throw Error(Errc::kUsage, "give the PATH to extract", "e.g. pvesafe files get latest --guest 100 --disk drive-scsi0 /etc/hostname --to -");
  if (f.to.empty()) throw Error(Errc::kUsage, "give --to FILE, --to DIR or --to - (standard output)");
  struct stat st{};
  const bool exists = f.to != "-" && ::lstat(f.to.c_str(), &st) == 0;
  if (exists && (!f.force || !S_ISREG(st.st_mode))) {
    throw Error(Errc::kUsage, fmt::format("{} exists: nothing is overwritten", f.to),
                S_ISREG(st.st_mode) ? "remove it, or use --force to replace a file" : "choose a path that does not exist");
  }
  Opened o = open_volume(g, f);
  fs::Ext4Reader reader(o.volume());
  fs::FileInfo fi = reader.stat(f.path, true);
  Extract x{reader, make_progress(g, "extract")};
  if (fi.type == "file") {
    x.total = fi.size;
    if (f.to == "-") {
      x.write_fd(1, fi.inode, "standard output");
      x.files = 1;
    } else {
      // A new file next to the target, renamed over it when complete: a failure leaves nothing.
      std::string tmp = f.to + ".pvesafe-partial";
      ::unlink(tmp.c_str());
      int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0) throw Error(Errc::kIo, fmt::format("cannot create {}: {}", tmp, std::strerror(errno)));
      try {
        x.write_fd(fd, fi.inode, f.to);
        ::fchmod(fd, fi.mode & 0777);
        x.set_times(fd, fi);
        if (::fsync(fd) != 0 || ::close(fd) != 0) {
          fd = -1;
          throw Error(Errc::kIo, fmt::format("cannot write {}: {}", f.to, std::strerror(errno)));
        }
        fd = -1;
        if (::rename(tmp.c_str(), f.to.c_str()) != 0) {
          throw Error(Errc::kIo, fmt::format("cannot rename {} to {}: {}", tmp, f.to, std::strerror(errno)));
        }
      } catch (...) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        end_progress(g);
        throw;
      }
      x.files = 1;
    }
  } else if (fi.type == "dir") {
    if (f.to == "-") throw Error(Errc::kUsage, fmt::format("{} is a directory: give --to DIR", f.path));
    if (exists) throw Error(Errc::kUsage, fmt::format("{} exists: a directory is extracted into a new one", f.to));
    std::string parent = f.to.find('/') == std::string::npos ? "." : f.to.substr(0, f.to.rfind('/'));
    if (parent.empty()) parent = "/";
    std::string leaf = f.to.substr(f.to.rfind('/') + 1);
    int pfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) throw Error(Errc::kIo, fmt::format("cannot open {}: {}", parent, std::strerror(errno)));
    try {
      x.entry(pfd, leaf, fi, f.to);
    } catch (...) {
      ::close(pfd);
      end_progress(g);
      throw;
    }
    ::close(pfd);
  } else {
    throw Error(Errc::kUsage, fmt::format("{} is a {}, not a file or directory", f.path, fi.type));
  }
  end_progress(g);
  const double secs = std::chrono::duration<double>(Clock::now() - x.t0).count();
  std::FILE* out = f.to == "-" ? stderr : stdout;
  if (g.json) {
    nlohmann::json j = where_json(f, o);
    j.update({{"path", f.path},
              {"to", f.to},
              {"type", fi.type},
              {"files", x.files},
              {"directories", x.dirs},
              {"symlinks", x.links},
              {"skipped", x.skipped},
              {"bytes", x.bytes},
              {"duration_seconds", secs}});
    add_fetched_json(j, *o.disk);
    std::fprintf(out, "%s\n", j.dump().c_str());
  } else if (!g.quiet || f.to != "-") {
    std::fprintf(
        out, "%s\n",
        fmt::format("extracted {} ({} file{}{}, {}) to {} in {:.1f} s; {}", f.path, x.files,
                    x.files == 1 ? "" : "s", x.dirs ? fmt::format(", {} directories", x.dirs) : "",
                    human_bytes(x.bytes), f.to == "-" ? "standard output" : f.to, secs,
                    fetched_text(*o.disk))
            .c_str());
  }
}

// --- ls ------------------------------------------------------------------------------------

void run_ls(const GlobalOptions& g, FilesFlags& f) {
  fix_positionals(f);
  if (f.path.empty()) f.path = "/";
  Opened o = open_volume(g, f);
  fs::Ext4Reader reader(o.volume());
  fs::FileInfo fi = reader.stat(f.path, false);
  if (fi.type == "symlink" && f.path.back() == '/') fi = reader.stat(f.path, true);
  std::vector<fs::FileInfo> entries = fi.type == "dir" ? reader.list(fi.inode) : std::vector<fs::FileInfo>{fi};
  if (g.json) {
    nlohmann::json j = where_json(f, o);
    auto s = reader.summary();
    j["filesystem"] = {{"type", s.type}, {"label", s.label}, {"uuid", s.uuid}, {"needs_recovery", s.needs_recovery}};
    j["path"] = f.path;
    j["entries"] = nlohmann::json::array();
    for (const auto& e : entries) j["entries"].push_back(file_json(e));
    add_fetched_json(j, *o.disk);
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : entries) {
    rows.push_back({mode_string(e), std::to_string(e.links), std::to_string(e.uid), std::to_string(e.gid),
                    std::to_string(e.size), utc(e.mtime), e.type == "symlink" ? e.name + " -> " + e.target : e.name});
  }
  print_table({"MODE", "LINKS", "UID", "GID", "SIZE", "MODIFIED (UTC)", "NAME"}, rows);
  if (!g.quiet) std::cerr << "pvesafe: " << fetched_text(*o.disk) << "\n";
}

// --- partitions ----------------------------------------------------------------------------

void run_partitions(const GlobalOptions& g, FilesFlags& f) {
  fix_positionals(f);
  auto disk = open_disk_source(g, f.source);
  auto table = fs::read_partition_table(*disk);
  struct Row {
    fs::Partition p;
    fs::VolumeProbe probe;
  };
  std::vector<Row> rows;
  if (table.partitions.empty()) {
    rows.push_back({fs::Partition{0, 0, disk->size(), "whole disk", "", ""}, fs::probe_volume(*disk)});
  } else {
    for (const auto& p : table.partitions) {
      fs::SliceSource s(*disk, p.offset, p.size, "partition");
      rows.push_back({p, fs::probe_volume(s)});
    }
  }
  auto readable = [](const fs::VolumeProbe& v) { return v.filesystem.rfind("ext", 0) == 0; };
  if (g.json) {
    nlohmann::json j{{"disk", disk->name()}, {"size_bytes", disk->size()}, {"partition_table", table.scheme},
                     {"sector_size", table.sector_size}, {"partitions", nlohmann::json::array()}};
    for (const auto& r : rows) {
      j["partitions"].push_back({{"number", r.p.number}, {"offset_bytes", r.p.offset}, {"size_bytes", r.p.size},
                                 {"type", r.p.type}, {"type_id", r.p.type_id}, {"label", r.p.label},
                                 {"filesystem", r.probe.filesystem}, {"fs_label", r.probe.label},
                                 {"readable", readable(r.probe)}});
    }
    add_fetched_json(j, *disk);
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << fmt::format("{}: {}, partition table: {}\n", disk->name(), human_bytes(disk->size()), table.scheme);
  std::vector<std::vector<std::string>> out;
  for (const auto& r : rows) {
    out.push_back({r.p.number ? std::to_string(r.p.number) : "-", std::to_string(r.p.offset), human_bytes(r.p.size),
                   r.p.type, r.probe.filesystem.empty() ? "?" : r.probe.filesystem, r.probe.label,
                   readable(r.probe) ? "yes" : "no"});
  }
  print_table({"#", "OFFSET", "SIZE", "TYPE", "FILESYSTEM", "LABEL", "FILES"}, out);
  if (!g.quiet) std::cerr << "pvesafe: " << fetched_text(*disk) << "\n";
}

}  // namespace

void register_files(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand(
      "files",
      "List and extract files from an ext2/3/4 file system inside a snapshot's disk, without "
      "restoring the disk, mounting it or being root");
  cmd->require_subcommand(1);
  cmd->footer(kFilesFooter);

  auto pf = std::make_shared<FilesFlags>();
  auto* parts = cmd->add_subcommand("partitions", "Show the disk's partition table and what each partition holds");
  add_common(parts, *pf);
  parts->callback([pf, &global] { run_partitions(global, *pf); });

  auto lf = std::make_shared<FilesFlags>();
  auto* ls = cmd->add_subcommand("ls", "List a directory (or show one file) of the snapshot's disk");
  add_common(ls, *lf);
  ls->add_option("path", lf->path, "Absolute path inside the file system (default /)");
  ls->callback([lf, &global] { run_ls(global, *lf); });

  auto gf = std::make_shared<FilesFlags>();
  auto* get = cmd->add_subcommand("get", "Extract a file or a directory tree of the snapshot's disk");
  add_common(get, *gf);
  get->add_option("path", gf->path, "Absolute path inside the file system, e.g. /etc/hostname");
  get->add_option("--to", gf->to, "Where to write: a new FILE, a new DIR (for a directory), or - (standard output)");
  get->add_flag("--force", gf->force, "Replace an existing file (never a directory)");
  get->callback([gf, &global] { run_get(global, *gf); });
}

}  // namespace pvesafe::cli
