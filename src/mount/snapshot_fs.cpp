#define FUSE_USE_VERSION 312
#include "mount/snapshot_fs.h"

#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "repo/restore.h"

namespace pvesafe::mount {

namespace {

struct DiskNode {
  std::string name;  // drive-scsi0
  uint64_t size = 0;
  uint64_t data_bytes = 0;
};

struct SnapNode {
  repo::SnapshotInfo info;
  std::vector<DiskNode> disks;
  std::vector<repo::ConfigPart> configs;
  std::string info_json;
  time_t mtime = 0;
};

struct Handle {
  std::shared_ptr<BlockSource> disk;          // a disk image
  std::shared_ptr<const std::string> content;  // a small file held in memory
  std::string what;
};

struct State {
  repo::Repository* repo = nullptr;
  const MountOptions* options = nullptr;
  MountStats* stats = nullptr;
  std::map<std::string, SnapNode> snaps;  // by id; read-only after mount
  uid_t uid = 0;
  gid_t gid = 0;
  time_t mounted = 0;

  std::mutex mu;  // guards the repository's one-thread calls and the maps below
  std::map<std::string, std::shared_ptr<BlockSource>> disks;           // "id/disk"
  std::map<std::string, std::shared_ptr<const std::string>> configs;  // "id/config"
};

State* state() { return static_cast<State*>(fuse_get_context()->private_data); }

// "/", "/<id>", "/<id>/<file>": splits into the snapshot id and the file name.
bool split(const char* path, std::string& id, std::string& file) {
  std::string p(path);
  if (p.empty() || p[0] != '/') return false;
  p.erase(0, 1);
  auto slash = p.find('/');
  if (slash == std::string::npos) {
    id = p;
    file.clear();
    return true;
  }
  id = p.substr(0, slash);
  file = p.substr(slash + 1);
  return file.find('/') == std::string::npos;
}

enum class Kind { kNone, kDisk, kConfig, kInfo };

Kind find_file(const SnapNode& s, const std::string& file, const DiskNode** disk, const repo::ConfigPart** cfg) {
  for (const auto& d : s.disks) {
    if (file == d.name + ".raw") {
      *disk = &d;
      return Kind::kDisk;
    }
  }
  for (const auto& c : s.configs) {
    if (file == c.name) {
      *cfg = &c;
      return Kind::kConfig;
    }
  }
  if (file == "snapshot.json") return Kind::kInfo;
  return Kind::kNone;
}

void fill_dir(struct stat* st, const State& s, time_t t) {
  st->st_mode = S_IFDIR | 0500;
  st->st_nlink = 2;
  st->st_uid = s.uid;
  st->st_gid = s.gid;
  st->st_mtime = st->st_ctime = st->st_atime = t;
}

void fill_file(struct stat* st, const State& s, time_t t, uint64_t size, uint64_t used) {
  st->st_mode = S_IFREG | 0400;
  st->st_nlink = 1;
  st->st_uid = s.uid;
  st->st_gid = s.gid;
  st->st_size = static_cast<off_t>(size);
  st->st_blocks = static_cast<blkcnt_t>((used + 511) / 512);
  st->st_blksize = 65536;
  st->st_mtime = st->st_ctime = st->st_atime = t;
}

int op_getattr(const char* path, struct stat* st, fuse_file_info*) {
  State* s = state();
  std::memset(st, 0, sizeof *st);
  if (std::strcmp(path, "/") == 0) {
    fill_dir(st, *s, s->mounted);
    return 0;
  }
  std::string id, file;
  if (!split(path, id, file)) return -ENOENT;
  auto it = s->snaps.find(id);
  if (it == s->snaps.end()) return -ENOENT;
  const SnapNode& sn = it->second;
  if (file.empty()) {
    fill_dir(st, *s, sn.mtime);
    return 0;
  }
  const DiskNode* d = nullptr;
  const repo::ConfigPart* c = nullptr;
  switch (find_file(sn, file, &d, &c)) {
    case Kind::kDisk: fill_file(st, *s, sn.mtime, d->size, d->data_bytes); return 0;
    case Kind::kConfig: fill_file(st, *s, sn.mtime, c->size_bytes, c->size_bytes); return 0;
    case Kind::kInfo: fill_file(st, *s, sn.mtime, sn.info_json.size(), sn.info_json.size()); return 0;
    case Kind::kNone: break;
  }
  return -ENOENT;
}

int op_readdir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*, fuse_readdir_flags) {
  State* s = state();
  fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  if (std::strcmp(path, "/") == 0) {
    for (const auto& [id, sn] : s->snaps) fill(buf, id.c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
    return 0;
  }
  std::string id, file;
  if (!split(path, id, file) || !file.empty()) return -ENOTDIR;
  auto it = s->snaps.find(id);
  if (it == s->snaps.end()) return -ENOENT;
  for (const auto& d : it->second.disks) fill(buf, (d.name + ".raw").c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  for (const auto& c : it->second.configs) fill(buf, c.name.c_str(), nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "snapshot.json", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  return 0;
}

void report(State* s, const std::string& msg) {
  if (s->options->on_read_error) s->options->on_read_error(msg);
}

int op_open(const char* path, fuse_file_info* fi) {
  State* s = state();
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  if (fi->flags & O_TRUNC) return -EROFS;
  std::string id, file;
  if (!split(path, id, file) || file.empty()) return -EISDIR;
  auto it = s->snaps.find(id);
  if (it == s->snaps.end()) return -ENOENT;
  const SnapNode& sn = it->second;
  const DiskNode* d = nullptr;
  const repo::ConfigPart* c = nullptr;
  auto h = std::make_unique<Handle>();
  h->what = path;
  try {
    switch (find_file(sn, file, &d, &c)) {
      case Kind::kDisk: {
        std::lock_guard lock(s->mu);
        auto& slot = s->disks[id + "/" + d->name];
        if (!slot) {
          slot = repo::open_snapshot_disk(*s->repo, id, d->name, s->options->disk);
          ++s->stats->disks_opened;
        }
        h->disk = slot;
        break;
      }
      case Kind::kConfig: {
        std::lock_guard lock(s->mu);
        auto& slot = s->configs[id + "/" + c->name];
        if (!slot) {
          repo::SnapshotReader reader(*s->repo, id);
          auto bytes = reader.config(*c);
          slot = std::make_shared<const std::string>(bytes.begin(), bytes.end());
        }
        h->content = slot;
        break;
      }
      case Kind::kInfo: h->content = std::make_shared<const std::string>(sn.info_json); break;
      case Kind::kNone: return -ENOENT;
    }
  } catch (const Error& e) {
    report(s, fmt::format("open {}: {}", path, e.what()));
    return -EIO;
  } catch (const std::exception& e) {
    report(s, fmt::format("open {}: {}", path, e.what()));
    return -EIO;
  }
  fi->fh = reinterpret_cast<uint64_t>(h.release());
  fi->keep_cache = 1;  // a snapshot never changes
  return 0;
}

int op_read(const char*, char* buf, size_t size, off_t off, fuse_file_info* fi) {
  State* s = state();
  auto* h = reinterpret_cast<Handle*>(fi->fh);
  if (off < 0) return -EINVAL;
  const uint64_t offset = static_cast<uint64_t>(off);
  s->stats->reads.fetch_add(1, std::memory_order_relaxed);
  if (h->content) {
    if (offset >= h->content->size()) return 0;
    size_t n = std::min<uint64_t>(size, h->content->size() - offset);
    std::memcpy(buf, h->content->data() + offset, n);
    s->stats->read_bytes.fetch_add(n, std::memory_order_relaxed);
    return static_cast<int>(n);
  }
  const uint64_t total = h->disk->size();
  if (offset >= total) return 0;
  size_t n = static_cast<size_t>(std::min<uint64_t>(size, total - offset));
  try {
    h->disk->read(offset, reinterpret_cast<uint8_t*>(buf), n);
  } catch (const std::exception& e) {
    s->stats->failed_reads.fetch_add(1, std::memory_order_relaxed);
    report(s, fmt::format("read of {} bytes at {} of {} failed: {}", n, offset, h->what, e.what()));
    return -EIO;
  }
  s->stats->read_bytes.fetch_add(n, std::memory_order_relaxed);
  return static_cast<int>(n);
}

int op_release(const char*, fuse_file_info* fi) {
  delete reinterpret_cast<Handle*>(fi->fh);
  return 0;
}

int op_statfs(const char*, struct statvfs* st) {
  std::memset(st, 0, sizeof *st);
  st->f_bsize = 65536;
  st->f_namemax = 255;
  st->f_flag = ST_RDONLY;
  return 0;
}

int op_refuse_write(const char*, const char*, size_t, off_t, fuse_file_info*) { return -EROFS; }

void* op_init(fuse_conn_info*, fuse_config* cfg) {
  cfg->kernel_cache = 1;  // content never changes while mounted
  cfg->entry_timeout = 3600;
  cfg->attr_timeout = 3600;
  cfg->negative_timeout = 60;
  return fuse_get_context()->private_data;
}

std::string info_json(const repo::SnapshotInfo& i) {
  nlohmann::json j{{"id", i.id},       {"time", i.time_utc},   {"hostname", i.hostname},
                   {"node", i.node},   {"guest_id", i.guest_id}, {"guest_type", i.guest_type},
                   {"file_name", i.file_name}, {"size_bytes", i.size_bytes}, {"tags", i.tags}};
  j["disks"] = nlohmann::json::array();
  for (const auto& d : i.disks) j["disks"].push_back({{"disk", d.name}, {"size_bytes", d.size_bytes}, {"file", d.name + ".raw"}});
  return j.dump(2) + "\n";
}

// SIGINT, SIGTERM and SIGHUP end the mount, installed here rather than by libfuse's
// fuse_set_signal_handlers(), for two reasons:
//  - libfuse installs its handler only over SIG_DFL. A command started in the background by a
//    script (`pvesafe mount ... &`, no job control) inherits SIGINT ignored, as POSIX wants for
//    asynchronous lists; libfuse kept it ignored, and `kill -INT` (or Ctrl-C relayed by a
//    supervisor) left the mount running. A mount is a session the user asked to end: the
//    handler is installed whatever was inherited.
//  - libfuse's handler only sets the session's exit flag and counts on the signal interrupting
//    the wait of the thread in fuse_loop_mt(); a signal taken by any other thread that does not
//    block it (threads the repository's store started before the loop) is noticed by nobody.
// Here the handler, on whatever thread, writes the signal number to a pipe; a watcher thread
// calls stop(), which unmounts, and the unmount wakes every FUSE worker.
int g_signal_pipe = -1;  // write end, for the handler; one mount handles signals at a time

extern "C" void on_stop_signal(int sig) {
  const int saved = errno;
  const char c = static_cast<char>(sig);
  if (g_signal_pipe >= 0) (void)!::write(g_signal_pipe, &c, 1);
  errno = saved;
}

class SignalStop {
 public:
  static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

  explicit SignalStop(std::function<void()> stop) {
    if (g_signal_pipe >= 0)
      throw Error(Errc::kInternal, "another mount already handles the signals");
    if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw Error(Errc::kInternal, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
    }
    g_signal_pipe = fds_[1];
    thread_ = std::thread([this, stop = std::move(stop)] {
      for (;;) {
        pollfd p{fds_[0], POLLIN, 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) return;
        char c = 0;
        ssize_t n = ::read(fds_[0], &c, 1);
        if (n == 1 && c == 0) return;  // ~SignalStop
        if (n == 1) stop();
      }
    });
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &sa, &old_[i]);
  }

  ~SignalStop() {
    for (size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &old_[i], nullptr);
    const char quit = 0;
    while (::write(fds_[1], &quit, 1) < 0 && errno == EAGAIN) ::usleep(1000);
    thread_.join();
    g_signal_pipe = -1;
    ::close(fds_[0]);
    ::close(fds_[1]);
  }

  SignalStop(const SignalStop&) = delete;
  SignalStop& operator=(const SignalStop&) = delete;

 private:
  int fds_[2] = {-1, -1};
  struct sigaction old_[std::size(kSignals)]{};
  std::thread thread_;
};

}  // namespace

struct SnapshotMount::Impl {
  mutable std::mutex mu;
  fuse* f = nullptr;
  State* state = nullptr;  // while run() serves
  uint64_t fetched_at_end = 0;
  bool stopped = false;
};

uint64_t SnapshotMount::fetched_bytes() const {
  std::lock_guard lock(impl_->mu);
  if (!impl_->state) return impl_->fetched_at_end;
  std::lock_guard slock(impl_->state->mu);
  uint64_t n = 0;
  for (const auto& [k, d] : impl_->state->disks) n += d->fetched_bytes();
  return n;
}

SnapshotMount::SnapshotMount(repo::Repository& repo, MountOptions options)
    : repo_(repo), options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

SnapshotMount::~SnapshotMount() = default;

void SnapshotMount::stop() {
  std::lock_guard lock(impl_->mu);
  impl_->stopped = true;
  if (impl_->f) {
    fuse_session* se = fuse_get_session(impl_->f);
    fuse_session_exit(se);
    // The workers wait in read(2) on /dev/fuse: unmounting wakes them (ENODEV).
    fuse_session_unmount(se);
  }
}

void SnapshotMount::run() {
  const MountOptions& o = options_;
  MountStats& stats = stats_;
  repo::Repository& repo = repo_;
  struct stat mp{};
  if (::stat(o.mountpoint.c_str(), &mp) != 0 || !S_ISDIR(mp.st_mode)) {
    throw Error(Errc::kUsage, fmt::format("mount point {} is not a directory", o.mountpoint), "create an empty directory first");
  }
  auto st = std::make_unique<State>();
  st->repo = &repo;
  st->options = &o;
  st->stats = &stats;
  st->uid = ::getuid();
  st->gid = ::getgid();
  st->mounted = ::time(nullptr);

  std::vector<repo::SnapshotInfo> infos;
  if (!o.snapshot.empty()) {
    std::string id = repo.resolve_snapshot(o.snapshot, o.filter);
    for (auto& i : repo.list_snapshots()) {
      if (i.id == id) infos.push_back(i);
    }
  } else {
    infos = repo.list_snapshots(o.filter);
  }
  for (auto& i : infos) {
    if (i.kind != "vma" || i.disks.empty()) continue;
    repo::Manifest m = repo.load_manifest(i.id);
    SnapNode n;
    n.info = i;
    for (const auto& d : m.disks) n.disks.push_back({d.name, d.size_bytes, d.data_bytes});
    n.configs = m.configs;
    n.info_json = info_json(i);
    n.mtime = std::chrono::system_clock::to_time_t(i.time);
    st->snaps.emplace(i.id, std::move(n));
  }
  if (st->snaps.empty()) {
    throw Error(Errc::kNotFound,
                o.snapshot.empty() ? "no snapshot with disks matches" : fmt::format("snapshot {} has no disks", o.snapshot),
                "pvesafe snapshots lists them; a stream snapshot (a file, a container archive) has no disks to mount");
  }
  stats.snapshots = st->snaps.size();

  fuse_operations ops{};
  ops.getattr = op_getattr;
  ops.readdir = op_readdir;
  ops.open = op_open;
  ops.read = op_read;
  ops.release = op_release;
  ops.statfs = op_statfs;
  ops.write = op_refuse_write;
  ops.init = op_init;

  std::vector<std::string> argv_s = {"pvesafe", "-o", "ro,default_permissions,fsname=pvesafe,subtype=pvesafe"};
  if (o.debug) argv_s.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  fuse* f = fuse_new(&args, &ops, sizeof ops, st.get());
  fuse_opt_free_args(&args);
  if (!f) throw Error(Errc::kInternal, "libfuse refused its options");
  if (fuse_mount(f, o.mountpoint.c_str()) != 0) {
    fuse_destroy(f);
    throw Error(Errc::kIo, fmt::format("cannot mount on {}", o.mountpoint),
                "FUSE needs /dev/fuse (package fuse3) and, as a user, fusermount3; is something mounted there already?");
  }
  fuse_session* se = fuse_get_session(f);
  std::unique_ptr<SignalStop> signals;
  if (o.handle_signals) {
    try {
      signals = std::make_unique<SignalStop>([this] { stop(); });
    } catch (...) {
      fuse_unmount(f);
      fuse_destroy(f);
      throw;
    }
  }
  {
    std::lock_guard lock(impl_->mu);
    impl_->f = f;
    impl_->state = st.get();
    if (impl_->stopped) fuse_session_exit(se);
  }
  if (o.on_mounted) o.on_mounted(st->snaps.size());
  int rc = 0;
  if (!fuse_session_exited(se)) {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_max_threads(cfg, static_cast<unsigned>(std::max(1, o.threads)));
    fuse_loop_cfg_set_idle_threads(cfg, static_cast<unsigned>(std::max(1, o.threads)));
    rc = fuse_loop_mt(f, cfg);
    fuse_loop_cfg_destroy(cfg);
  }
  signals.reset();
  {
    std::lock_guard lock(impl_->mu);
    fuse_unmount(f);
    impl_->f = nullptr;
    impl_->stopped = true;
    std::lock_guard slock(st->mu);
    for (const auto& [k, d] : st->disks) stats.fetched_bytes += d->fetched_bytes();
    impl_->fetched_at_end = stats.fetched_bytes;
    impl_->state = nullptr;
  }
  fuse_destroy(f);
  // An unmount from outside (fusermount3 -u, stop()) ends the loop with ENODEV: a clean end.
  if (rc < 0 && rc != -ENODEV) {
    throw Error(Errc::kIo, fmt::format("the FUSE session on {} failed: {}", o.mountpoint, std::strerror(-rc)));
  }
}

void serve_mount(repo::Repository& repo, const MountOptions& options, MountStats& stats) {
  SnapshotMount m(repo, options);
  m.run();
  const MountStats& s = m.stats();
  stats.snapshots = s.snapshots;
  stats.disks_opened = s.disks_opened;
  stats.reads = s.reads.load();
  stats.read_bytes = s.read_bytes.load();
  stats.failed_reads = s.failed_reads.load();
  stats.fetched_bytes = s.fetched_bytes;
}

}  // namespace pvesafe::mount
