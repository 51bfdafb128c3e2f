#include "ct_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

#include "content.h"
#include "guest_disks.h"

namespace pvesim {

namespace {

[[noreturn]] void io_fail(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " '" + path + "': " + std::strerror(errno));
}

void set_times(const std::string& path, int64_t epoch, bool nofollow) {
  timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = static_cast<time_t>(epoch);
  ts[0].tv_nsec = ts[1].tv_nsec = 0;
  utimensat(AT_FDCWD, path.c_str(), ts, nofollow ? AT_SYMLINK_NOFOLLOW : 0);
}

}  // namespace

int64_t model_epoch(int day, uint32_t second) {
  return (kHistoryStartDay + day - 1) * 86400 + static_cast<int64_t>(second);
}

uint64_t write_ct_tree(const FsModel& m, const std::string& root) {
  const bool as_root = geteuid() == 0;
  const int64_t installed = model_epoch(0, 3600);
  uint64_t entries = 0;
  if (mkdir(root.c_str(), 0700) != 0) io_fail("cannot create", root);
  for (const auto& d : m.dirs()) {
    if (d.path.empty()) continue;
    std::string p = root + d.path;
    if (mkdir(p.c_str(), 0700) != 0) io_fail("cannot create", p);
  }
  std::map<uint16_t, int64_t> dir_times;
  std::vector<unsigned char> block(kBlockSize);
  bool xattr_done = false;
  for (const auto& f : m.files()) {
    std::string p = root + m.path_of(f);
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) io_fail("cannot create", p);
    for (size_t i = 0; i < f.blocks.size(); ++i) {
      if (f.blocks[i] == FsModel::kHole) continue;
      uint64_t off = i * kBlockSize;
      if (off >= f.size) break;
      render_block(m.cid(f.blocks[i]), block.data());
      size_t n = static_cast<size_t>(std::min<uint64_t>(kBlockSize, f.size - off));
      if (pwrite(fd, block.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n)) {
        close(fd);
        io_fail("cannot write", p);
      }
    }
    if (ftruncate(fd, static_cast<off_t>(f.size)) != 0 || fchmod(fd, m.mode_of(f)) != 0) {
      close(fd);
      io_fail("cannot write", p);
    }
    if (as_root && fchown(fd, m.uid_of(f), m.gid_of(f)) != 0) {
      close(fd);
      io_fail("cannot chown", p);
    }
    if (!xattr_done && m.dirs()[f.dir].path == "/srv/data/reports") {
      // One extended attribute (vzdump archives user.* xattrs); file systems without user
      // xattrs just go without.
      fsetxattr(fd, "user.origin", "pvesim", 6, 0);
      xattr_done = true;
    }
    close(fd);
    int64_t t = model_epoch(f.mtime_day, f.mtime_sec);
    set_times(p, t, false);
    dir_times[f.dir] = std::max(dir_times[f.dir], t);
    ++entries;
  }
  for (const auto& l : m.symlinks()) {
    std::string p = root + l.path;
    if (symlink(l.target.c_str(), p.c_str()) != 0) io_fail("cannot create", p);
    if (as_root && lchown(p.c_str(), 0, 0) != 0) io_fail("cannot chown", p);
    set_times(p, installed, true);
    ++entries;
  }
  for (size_t k = m.dirs().size(); k-- > 0;) {
    const FsDir& d = m.dirs()[k];
    std::string p = root + d.path;
    if (p.empty()) p = "/";
    if (chmod(p.c_str(), d.mode) != 0) io_fail("cannot chmod", p);
    if (as_root && chown(p.c_str(), d.uid, d.gid) != 0) io_fail("cannot chown", p);
    auto it = dir_times.find(static_cast<uint16_t>(k));
    set_times(p, it == dir_times.end() ? installed : it->second, false);
    ++entries;
  }
  return entries;
}

std::vector<std::string> vzdump_tar_command(const std::string& tmpdir, const std::string& root,
                                            bool unprivileged) {
  std::vector<std::string> cmd = {
      "tar", "cpf", "-", "--totals",
      // PVE::Storage::Plugin::COMMON_TAR_FLAGS
      "--one-file-system", "-p", "--sparse", "--numeric-owner", "--acls", "--xattrs",
      "--xattrs-include=user.*", "--xattrs-include=security.capability",
      "--warning=no-file-ignored", "--warning=no-xattr-write",
      // PVE::VZDump::LXC::archive
      "--one-file-system", "--warning=no-file-ignored", "--directory=" + tmpdir,
      "./etc/vzdump/pct.conf", "./etc/vzdump/pct.fw", "--directory=" + root};
  if (unprivileged) {
    cmd.push_back("--no-anchored");
    cmd.push_back("--exclude=lost+found");
  }
  cmd.push_back("--anchored");
  for (const char* ex : {"/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid"})
    cmd.push_back(std::string("--exclude=.") + ex);
  cmd.push_back("./");
  return cmd;
}

}  // namespace pvesim
