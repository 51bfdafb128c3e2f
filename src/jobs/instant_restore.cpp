#include "jobs/instant_restore.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "nbd/listener.h"
#include "nbd/server.h"
#include "qemu/nbd_blockdev.h"
#include "qemu/qemu_img.h"
#include "qemu/qmp_client.h"
#include "qemu/serial_console.h"

namespace pvesafe::jobs {

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr char kSrcNode[] = "pvesafe-src";
constexpr char kOverlayFileNode[] = "pvesafe-ovl-file";
constexpr char kOverlayNode[] = "pvesafe-ovl";
constexpr char kTargetFileNode[] = "pvesafe-tgt-file";
constexpr char kTargetNode[] = "pvesafe-tgt";
constexpr char kDeviceId[] = "pvesafe-disk0";
constexpr char kJobId[] = "pvesafe-copy";

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

bool is_block_device(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
}

uint64_t device_size(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(Errc::kIo, "cannot open " + path + ": " + std::strerror(errno));
  off_t end = ::lseek(fd, 0, SEEK_END);
  ::close(fd);
  return end < 0 ? 0 : static_cast<uint64_t>(end);
}

void make_run_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir)) {
    fs::create_directories(dir, ec);
    if (ec) throw Error(Errc::kIo, "cannot create " + dir + ": " + ec.message());
    ::chmod(dir.c_str(), 0700);
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw Error(Errc::kUsage, dir + " is not a directory", "give another --run-dir");
  }
  if ((st.st_mode & 077) != 0 || st.st_uid != ::geteuid()) {
    throw Error(Errc::kUsage, "run directory " + dir + " is open to other users (or not ours)",
                "chmod 700 " + dir + " or give another --run-dir");
  }
}

// Everything the job started, undone in reverse when it fails before handing over.
struct Undo {
  std::vector<std::string> remove_files;
  pid_t qemu_pid = 0;
  std::string qmp_socket;
  ~Undo() {
    if (qemu_pid > 0) {
      try {
        auto q = qemu::QmpClient::connect(qmp_socket, std::chrono::milliseconds(2000));
        q.execute("quit");
      } catch (const std::exception&) {
      }
      if (!qemu::wait_gone(qemu_pid, std::chrono::seconds(10))) ::kill(qemu_pid, SIGKILL);
      qemu::wait_gone(qemu_pid, std::chrono::seconds(5));
    }
    for (auto it = remove_files.rbegin(); it != remove_files.rend(); ++it) ::unlink(it->c_str());
  }
};

class Job {
 public:
  explicit Job(const InstantRestoreOptions& o) : o_(o), t0_(Clock::now()) {}
  InstantRestoreResult run();

 private:
  uint64_t fetched() const { return server_ ? server_->stats().source_fetched_bytes : 0; }
  void report(InstantProgress::Phase phase, const std::string& message = {});
  uint64_t guest_read_bytes();
  void start_copy();
  // One look at QEMU: events (waiting up to `wait` for them) and the copy's progress.
  // Returns true when the copy job ended.
  bool poll_copy(std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  void finish_pivot();
  Error copy_failure(const std::string& qemu_error);
  void stop_guest();
  void serve_until_guest_stops();
  bool cancelled() const { return o_.cancel && o_.cancel->load(); }

  const InstantRestoreOptions& o_;
  Clock::time_point t0_;
  InstantRestoreResult r_;
  std::unique_ptr<nbd::Server> server_;
  std::optional<qemu::QmpClient> qmp_;
  bool copy_started_ = false, copy_ended_ = false;
  std::string copy_error_;
  std::string target_error_;  // a BLOCK_JOB_ERROR on the target side
  uint64_t last_offset_ = 0;
  Clock::time_point last_tick_ = Clock::now();
  double rate_ = 0;
  bool ready_ = false;
  uint64_t job_len_ = 0;  // the mirror's length: the disk plus what guest writes dirtied again
};

void Job::report(InstantProgress::Phase phase, const std::string& message) {
  if (!o_.progress) return;
  InstantProgress p;
  p.phase = phase;
  p.elapsed_seconds = since(t0_);
  p.copied_bytes = r_.copied_bytes;
  p.total_bytes = std::max(job_len_, r_.disk_bytes);
  p.rate_bytes_per_second = rate_;
  p.source_fetched_bytes = fetched();
  p.message = message;
  o_.progress(p);
}

// Bytes the guest has read from its disk, as QEMU counts them for the device.
uint64_t Job::guest_read_bytes() {
  try {
    for (const auto& b : qmp_->execute("query-blockstats")) {
      if (b.value("qdev", "").find(kDeviceId) != std::string::npos) {
        return b["stats"].value("rd_bytes", uint64_t{0});
      }
    }
  } catch (const Error& e) {
    spdlog::debug("instant restore: query-blockstats: {}", e.what());
  }
  return 0;
}

void Job::start_copy() {
  // discard=unmap lets the mirror write zeros as holes (punched in a file, discarded on a thin
  // volume): unused parts of the disk stay unallocated on the target, as in the backup.
  Json file = {{"node-name", kTargetFileNode}, {"filename", o_.target}, {"discard", "unmap"}};
  file["driver"] = is_block_device(o_.target) ? "host_device" : "file";
  qmp_->execute("blockdev-add", file);
  Json fmt = {{"driver", o_.target_format},
              {"node-name", kTargetNode},
              {"file", kTargetFileNode},
              {"discard", "unmap"},
              {"detect-zeroes", "unmap"}};
  // A mirror needs equal sizes: a block device may be larger than the disk, use its start.
  if (o_.target_format == "raw") fmt["size"] = r_.disk_bytes;
  qmp_->execute("blockdev-add", fmt);
  Json args = {{"job-id", kJobId},
               {"device", kOverlayNode},
               {"target", kTargetNode},
               {"sync", "full"},
               {"copy-mode", "write-blocking"},
               {"on-source-error", "report"},
               {"on-target-error", "report"},
               {"auto-finalize", true},
               {"auto-dismiss", false}};
  if (o_.copy_rate_bytes_per_second) args["speed"] = o_.copy_rate_bytes_per_second;
  qmp_->execute("blockdev-mirror", args);
  copy_started_ = true;
  last_tick_ = Clock::now();
  report(InstantProgress::Phase::kCopying);
}

bool Job::poll_copy(std::chrono::milliseconds wait) {
  for (auto& e : qmp_->take_events(wait)) {
    const std::string name = e.value("event", "");
    const Json data = e.value("data", Json::object());
    if (name == "SHUTDOWN") {
      throw Error(Errc::kRemote, "the guest shut down during the copy",
                  "start it again and re-run the restore");
    }
    if (data.value("device", "") != kJobId && data.value("id", "") != kJobId) continue;
    if (name == "BLOCK_JOB_READY" && !ready_) {
      ready_ = true;
      qmp_->execute("block-job-complete", {{"device", kJobId}});
    } else if (name == "BLOCK_JOB_ERROR") {
      if (data.value("operation", "") == "write") target_error_ = "writing the target failed";
    } else if (name == "BLOCK_JOB_COMPLETED" || name == "BLOCK_JOB_CANCELLED") {
      copy_ended_ = true;
      if (name == "BLOCK_JOB_CANCELLED")
        copy_error_ = "the copy was cancelled";
      else if (data.contains("error"))
        copy_error_ = data["error"].get<std::string>();
      if (data.contains("offset")) r_.copied_bytes = data["offset"].get<uint64_t>();
    }
  }
  if (copy_ended_) return true;
  for (const auto& j : qmp_->execute("query-block-jobs")) {
    if (j.value("device", "") != kJobId) continue;
    const uint64_t off = j.value("offset", uint64_t{0});
    const double dt = since(last_tick_);
    if (dt >= 0.5) {
      const double inst = off >= last_offset_ ? static_cast<double>(off - last_offset_) / dt : 0;
      rate_ = rate_ == 0 ? inst : 0.6 * rate_ + 0.4 * inst;
      last_offset_ = off;
      last_tick_ = Clock::now();
    }
    r_.copied_bytes = off;
    job_len_ = j.value("len", uint64_t{0});
  }
  return false;
}

Error Job::copy_failure(const std::string& qemu_error) {
  const std::string where = "the copy to " + o_.target + " stopped at " +
                            std::to_string(r_.copied_bytes) + " of " +
                            std::to_string(r_.disk_bytes) + " bytes";
  if (!target_error_.empty()) {
    return Error(
        Errc::kIo, where + ": " + target_error_ + " (" + qemu_error + ")",
        "check the target storage (space, permissions); the guest runs on, from its overlay");
  }
  if (server_) {
    auto s = server_->stats();
    if (s.failed_reads > 0 && s.last_failure_code) {
      return Error(*s.last_failure_code, where + ": the source failed: " + s.last_failure,
                   "the guest runs on and keeps its writes in " + r_.overlay +
                       "; data it has not read yet is unavailable until the source is repaired");
    }
  }
  return Error(
      Errc::kTransient, where + ": reading the source failed (" + qemu_error + ")",
      "check the NBD source " + r_.nbd_uri + "; the guest keeps its writes in " + r_.overlay);
}

void Job::finish_pivot() {
  qmp_->execute("job-dismiss", {{"id", kJobId}});
  // The guest's disk must now be the target node.
  bool on_target = false;
  for (const auto& b : qmp_->execute("query-block")) {
    if (b.value("qdev", "").find(kDeviceId) == std::string::npos) continue;
    on_target = b.contains("inserted") && b["inserted"].value("node-name", "") == kTargetNode;
  }
  if (!on_target)
    throw Error(Errc::kInternal, "the copy completed but the guest's disk is not on the target");
  qmp_->execute("blockdev-del", {{"node-name", kOverlayNode}});
  qmp_->execute("blockdev-del", {{"node-name", kOverlayFileNode}});
  qmp_->execute("blockdev-del", {{"node-name", kSrcNode}});
  for (const auto& n : qmp_->execute("query-named-block-nodes", {{"flat", true}})) {
    if (n.value("drv", "") == "nbd") {
      throw Error(Errc::kInternal,
                  "QEMU still has an NBD node (" + n.value("node-name", "") + ") after the copy");
    }
  }
  if (server_) server_->stop();
  ::unlink(r_.overlay.c_str());
  r_.copied = true;
  r_.seconds_to_copied = since(t0_);
  r_.copied_bytes = std::max(r_.copied_bytes, r_.disk_bytes);
}

void Job::stop_guest() {
  try {
    if (qmp_) qmp_->execute("quit", Json::object(), std::chrono::milliseconds(5000));
  } catch (const std::exception&) {
  }
  if (!qemu::wait_gone(r_.qemu_pid, std::chrono::seconds(15))) ::kill(r_.qemu_pid, SIGKILL);
  qemu::wait_gone(r_.qemu_pid, std::chrono::seconds(5));
  r_.guest_running = false;
}

void Job::serve_until_guest_stops() {
  while (qemu::process_alive(r_.qemu_pid) && !cancelled()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  r_.guest_running = qemu::process_alive(r_.qemu_pid);
}

InstantRestoreResult Job::run() {
  const bool in_process = o_.disk != nullptr;
  if (in_process == !o_.nbd_uri.empty()) {
    throw Error(Errc::kUsage, "give the disk either as a block source or as an NBD URI, not both");
  }
  if (o_.target.empty())
    throw Error(Errc::kUsage, "instant restore needs a target", "give --to FILE|DEVICE");
  if (o_.target_format != "raw" && o_.target_format != "qcow2") {
    throw Error(Errc::kUsage, "target format must be raw or qcow2, not " + o_.target_format);
  }
  if (o_.run_dir.empty()) throw Error(Errc::kUsage, "instant restore needs a run directory");
  make_run_dir(o_.run_dir);
  Undo undo;
  r_.target = o_.target;
  if (!o_.overlay.empty()) {
    r_.overlay = o_.overlay;
  } else if (is_block_device(o_.target)) {
    r_.overlay = o_.run_dir + "/overlay.qcow2";  // not next to a device node in /dev
  } else {
    r_.overlay = o_.target + ".overlay.qcow2";
  }
  r_.qmp_socket = o_.run_dir + "/qmp.sock";
  r_.serial_socket = o_.run_dir + "/serial.sock";
  const std::string pidfile = o_.run_dir + "/qemu.pid";

  // 1. The export.
  Json src;
  if (o_.disk) {
    nbd::ServerOptions so;
    so.export_name = "disk";
    so.threads = o_.nbd_threads;
    server_ = std::make_unique<nbd::Server>(o_.disk, so);
    server_->start(nbd::Listener::unix_socket(o_.run_dir + "/nbd.sock"));
    r_.nbd_uri = server_->uri();
    r_.disk_bytes = o_.disk->size();
    src = qemu::nbd_blockdev(r_.nbd_uri, kSrcNode);
  } else {
    r_.nbd_uri = o_.nbd_uri;
    src = qemu::nbd_blockdev(o_.nbd_uri, kSrcNode);
    r_.disk_bytes = qemu::image_size(o_.qemu_img, src);
  }

  // 2. Target and overlay. Existing files are never overwritten.
  const bool device = is_block_device(o_.target);
  if (device) {
    if (o_.target_format != "raw")
      throw Error(Errc::kUsage, "a block device target is written raw");
    if (device_size(o_.target) < r_.disk_bytes) {
      throw Error(Errc::kUsage, o_.target + " is smaller than the disk (" +
                                    std::to_string(r_.disk_bytes) + " bytes)");
    }
  } else {
    if (fs::exists(o_.target)) {
      throw Error(Errc::kUsage, o_.target + " exists",
                  "remove it or choose another target: nothing is overwritten");
    }
    if (o_.target_format == "raw") {
      int fd = ::open(o_.target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd < 0)
        throw Error(Errc::kIo, "cannot create " + o_.target + ": " + std::strerror(errno));
      undo.remove_files.push_back(o_.target);
      int rc = ::ftruncate(fd, static_cast<off_t>(r_.disk_bytes));
      ::close(fd);
      if (rc != 0) throw Error(Errc::kIo, "cannot size " + o_.target + ": " + std::strerror(errno));
    } else {
      qemu::run_qemu_img(o_.qemu_img,
                         {"create", "-q", "-f", "qcow2", o_.target, std::to_string(r_.disk_bytes)});
      undo.remove_files.push_back(o_.target);
    }
  }
  if (fs::exists(r_.overlay)) {
    throw Error(Errc::kUsage, "overlay " + r_.overlay + " exists",
                "it may hold a guest's writes from an earlier instant restore: move it away first");
  }
  {
    // The header names the export as its backing file (QEMU here gives the backing node
    // explicitly): should the copy fail, the overlay alone still says where the rest of the
    // disk is, and `qemu-img convert OVERLAY` reads the guest's disk once the export is back.
    qemu::run_qemu_img(o_.qemu_img, {"create", "-q", "-f", "qcow2", "-u", "-F", "raw", "-b",
                                     r_.nbd_uri, r_.overlay, std::to_string(r_.disk_bytes)});
    undo.remove_files.push_back(r_.overlay);
    ::chmod(r_.overlay.c_str(), 0600);
  }

  // 3. The guest, on the overlay.
  auto args = qemu::base_args(o_.machine, r_.qmp_socket, r_.serial_socket);
  args.insert(
      args.end(),
      {"-name", "pvesafe-instant-restore", "-blockdev", src.dump(), "-blockdev",
       Json{{"driver", "file"}, {"node-name", kOverlayFileNode}, {"filename", r_.overlay}}.dump(),
       "-blockdev",
       Json{{"driver", "qcow2"},
            {"node-name", kOverlayNode},
            {"file", kOverlayFileNode},
            {"backing", kSrcNode}}
           .dump(),
       "-device",
       std::string("virtio-blk-pci,drive=") + kOverlayNode + ",id=" + kDeviceId + ",bootindex=1"});
  report(InstantProgress::Phase::kBooting);
  r_.qemu_pid = qemu::start_daemonized(o_.machine.binary, args, pidfile);
  undo.qemu_pid = r_.qemu_pid;
  undo.qmp_socket = r_.qmp_socket;
  r_.guest_running = true;
  r_.seconds_to_started = since(t0_);
  qmp_ = qemu::QmpClient::connect(r_.qmp_socket);
  if (o_.copy_start == CopyStart::kAtOnce) start_copy();

  // 4. Health check, with the copy (if started) watched meanwhile.
  {
    auto console = qemu::SerialConsole::connect(r_.serial_socket);
    const auto deadline = t0_ + o_.health.timeout;
    auto next_send = Clock::now();
    auto next_poll = Clock::now();
    while (!r_.healthy) {
      if (cancelled()) break;
      const auto now = Clock::now();
      if (now > deadline) break;
      if (now >= next_send) {
        console.send_line(o_.health.send);
        next_send = now + std::chrono::seconds(1);
      }
      auto line = console.read_line(std::min(next_send, now + std::chrono::milliseconds(250)));
      if (line && line->find(o_.health.expect) != std::string::npos) {
        r_.healthy = true;
        r_.seconds_to_healthy = since(t0_);
        r_.source_bytes_at_healthy = fetched();
        r_.guest_read_bytes_at_healthy = guest_read_bytes();
      }
      if (copy_started_ && !copy_ended_ && Clock::now() >= next_poll) {
        poll_copy();
        if (copy_ended_ && !copy_error_.empty())
          break;  // the source failed before the guest answered
        report(InstantProgress::Phase::kCopying);
        next_poll = Clock::now() + std::chrono::milliseconds(500);
      }
    }
  }  // the console is released: the user (or a test) can attach now
  if (cancelled()) {
    r_.failure =
        Error(Errc::kInterrupted, "instant restore interrupted before the guest was healthy");
    return r_;  // undo stops the guest and removes what was created
  }
  if (!r_.healthy && copy_error_.empty()) {
    r_.failure = Error(Errc::kCheckFailed,
                       "the guest did not answer its health check ('" + o_.health.send + "' -> '" +
                           o_.health.expect + "') within " +
                           std::to_string(o_.health.timeout.count()) + " s",
                       "check the guest's console; the guest was stopped and the target removed");
    report(InstantProgress::Phase::kFailed, r_.failure->message());
    r_.guest_running = false;
    return r_;
  }
  if (r_.healthy) report(InstantProgress::Phase::kHealthy);

  // 5. The copy.
  if (!copy_started_) start_copy();
  // From here the guest runs and holds data: no undo.
  undo.qemu_pid = 0;
  undo.remove_files.clear();
  bool interrupted = false;
  while (!copy_ended_) {
    if (cancelled() && !interrupted) {
      interrupted = true;
      qmp_->execute("block-job-cancel", {{"device", kJobId}, {"force", true}});
    }
    if (poll_copy(std::chrono::milliseconds(500))) break;
    report(InstantProgress::Phase::kCopying);
  }
  if (interrupted) {
    try {
      qmp_->execute("job-dismiss", {{"id", kJobId}});
    } catch (const std::exception&) {
    }
    stop_guest();
    if (!device && o_.target_format == "raw") ::unlink(o_.target.c_str());
    r_.failure = Error(Errc::kInterrupted,
                       "instant restore interrupted during the copy; the guest was stopped",
                       "the guest's writes are kept in " + r_.overlay);
    return r_;
  }
  if (!copy_error_.empty()) {
    r_.failure = copy_failure(copy_error_);
    try {
      qmp_->execute("job-dismiss", {{"id", kJobId}});
      qmp_->execute("blockdev-del", {{"node-name", kTargetNode}});
      qmp_->execute("blockdev-del", {{"node-name", kTargetFileNode}});
    } catch (const std::exception& e) {
      spdlog::warn("instant restore: cleaning up after the failed copy: {}", e.what());
    }
    report(InstantProgress::Phase::kFailed, r_.failure->message());
    if (server_) serve_until_guest_stops();
    r_.source_bytes_total = fetched();
    return r_;
  }
  finish_pivot();
  r_.source_bytes_total = fetched();
  report(InstantProgress::Phase::kPivoted);
  report(InstantProgress::Phase::kDone);
  return r_;
}

}  // namespace

InstantRestoreResult run_instant_restore(const InstantRestoreOptions& options) {
  Job job(options);
  return job.run();
}

}  // namespace pvesafe::jobs
