#include "jobs/instant_drill.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "mount/snapshot_fs.h"
#include "pve/guest.h"
#include "pve/live_import.h"
#include "repo/restore.h"

namespace pvesafe::jobs {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The snapshot mounted in a thread of its own until stop().
class MountThread {
 public:
  MountThread(repo::Repository& repo, const std::string& mountpoint, const std::string& snapshot) {
    mount::MountOptions o;
    o.mountpoint = mountpoint;
    o.snapshot = snapshot;
    o.handle_signals = false;
    o.on_mounted = [this](size_t) {
      std::lock_guard lock(mu_);
      mounted_ = true;
      cv_.notify_all();
    };
    o.on_read_error = [](const std::string& m) { spdlog::warn("instant drill: {}", m); };
    mount_ = std::make_unique<mount::SnapshotMount>(repo, o);
    thread_ = std::thread([this] {
      try {
        mount_->run();
      } catch (...) {
        std::lock_guard lock(mu_);
        error_ = std::current_exception();
      }
      std::lock_guard lock(mu_);
      ended_ = true;
      cv_.notify_all();
    });
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(60), [&] { return mounted_ || ended_; });
    if (error_) {
      auto e = error_;
      lock.unlock();
      stop();
      std::rethrow_exception(e);
    }
    if (!mounted_) {
      lock.unlock();
      stop();
      throw Error(Errc::kIo, "the FUSE mount on " + mountpoint + " did not come up within 60 s");
    }
  }
  ~MountThread() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    mount_->stop();
    thread_.join();
  }
  uint64_t fetched_bytes() const { return mount_->fetched_bytes(); }

 private:
  std::unique_ptr<mount::SnapshotMount> mount_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool mounted_ = false, ended_ = false;
  std::exception_ptr error_;
};

std::string guest_path(const InstantDrillOptions& o, const std::string& vmid) {
  return "/nodes/" + o.node + "/qemu/" + vmid;
}

// Fails when the import task has already ended in error (nothing will come up).
void check_task(pve::Client& client, const std::string& upid) {
  auto u = pve::Upid::parse(upid);
  auto st = client.get("/nodes/" + u.node + "/tasks/" + upid + "/status");
  if (st.value("status", std::string()) == "running") return;
  std::string exit = st.value("exitstatus", std::string());
  if (exit == "OK" || exit.rfind("WARNINGS", 0) == 0) return;
  std::string tail;
  try {
    auto lines = client.task_log(upid);
    for (size_t i = lines.size() > 6 ? lines.size() - 6 : 0; i < lines.size(); ++i) {
      if (lines[i].rfind("TASK ", 0) == 0) continue;
      tail += (tail.empty() ? "" : " | ") + lines[i];
    }
  } catch (const Error&) {
  }
  throw Error(Errc::kRemote,
              fmt::format("the live import task {} failed: {}{}", upid, exit,
                          tail.empty() ? "" : " -- log: " + tail),
              "see the task log on the node");
}

}  // namespace

InstantDrillResult run_instant_drill(pve::Client& client, repo::Repository& repo,
                                     const InstantDrillOptions& o) {
  InstantDrillResult r;
  auto stage = [&](const char* s) {
    if (o.on_stage) o.on_stage(s);
  };
  auto t = Clock::now();
  std::unique_ptr<MountThread> mount;
  bool created = false;
  std::string mountpoint;
  try {
    // lookup
    stage("lookup");
    repo::SnapshotFilter filter;
    filter.guest_id = o.guest_id;
    r.snapshot_id = repo.resolve_snapshot("latest", filter);
    repo::Manifest m = repo.load_manifest(r.snapshot_id);
    r.snapshot_time = m.info.time_utc;
    r.file_name = m.info.file_name;
    r.size_bytes = m.info.size_bytes;
    if (m.info.kind != "vma" || m.disks.empty()) {
      throw Error(
          Errc::kUnsupported,
          fmt::format(
              "snapshot {} of guest {} holds no disks (a container or a plain file): an instant "
              "drill boots a qemu guest's VMA backup",
              r.snapshot_id.substr(0, 8), o.guest_id),
          "run pvesafe drill without --instant");
    }
    for (const auto& d : m.disks) r.disk_bytes += d.size_bytes;
    std::string conf;
    {
      repo::SnapshotReader reader(repo, r.snapshot_id);
      for (const auto& c : m.configs) {
        if (c.name == "qemu-server.conf") {
          auto b = reader.config(c);
          conf.assign(b.begin(), b.end());
        }
      }
    }
    if (conf.empty()) {
      throw Error(Errc::kIntegrity,
                  fmt::format("snapshot {} has no qemu-server.conf", r.snapshot_id.substr(0, 8)),
                  "an instant drill needs the guest's config from the backup");
    }
    pve::require_online_node(client, o.node);
    r.scratch_vmid = pve::next_vmid(client);
    r.lookup = since(t);
    r.completed.push_back("lookup");

    // export
    stage("export");
    t = Clock::now();
    std::error_code ec;
    std::filesystem::create_directories(o.run_dir, ec);
    ::chmod(o.run_dir.c_str(), 0700);
    mountpoint = o.run_dir + "/" + r.scratch_vmid;
    if (::mkdir(mountpoint.c_str(), 0700) != 0 && errno != EEXIST) {
      throw Error(Errc::kIo, fmt::format("cannot create {}: {}", mountpoint, std::strerror(errno)));
    }
    r.mountpoint = mountpoint;
    mount = std::make_unique<MountThread>(repo, mountpoint, r.snapshot_id);
    r.export_seconds = since(t);
    r.completed.push_back("export");

    // provision: create the guest with its disks imported live from the mounted images
    stage("provision");
    t = Clock::now();
    auto image = [&](const std::string& key) -> std::optional<std::string> {
      for (const auto& d : m.disks) {
        if (d.name == "drive-" + key)
          return mountpoint + "/" + r.snapshot_id + "/" + d.name + ".raw";
      }
      return std::nullopt;
    };
    pve::LiveImportRequest req = pve::live_import_request(conf, image, o.storage, true);
    r.notes = req.notes;
    if (req.imported.empty())
      throw Error(Errc::kUnsupported, "the guest's config names no disk the backup holds");
    req.form["vmid"] = r.scratch_vmid;
    if (o.bwlimit_kib) req.form["bwlimit"] = std::to_string(o.bwlimit_kib);
    auto copy_start = Clock::now();
    auto upid = client.post("/nodes/" + o.node + "/qemu", req.form);
    created = true;
    r.upid = upid.is_string() ? upid.get<std::string>() : "";
    r.provision = since(t);
    r.completed.push_back("provision");

    // boot: until the guest runs
    stage("boot");
    t = Clock::now();
    const auto deadline = Clock::now() + std::chrono::duration<double>(o.health_timeout_seconds);
    nlohmann::json st;
    for (;;) {
      try {
        st = client.get(guest_path(o, r.scratch_vmid) + "/status/current");
      } catch (const Error& e) {
        if (e.code() != Errc::kRemote && e.code() != Errc::kNotFound) throw;  // not there yet
      }
      if (st.is_object() && st.value("status", std::string()) == "running") break;
      if (!r.upid.empty()) check_task(client, r.upid);
      if (Clock::now() > deadline) {
        throw Error(Errc::kCheckFailed,
                    fmt::format("scratch guest {} did not reach status running within {:.0f} s",
                                r.scratch_vmid, o.health_timeout_seconds));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    r.boot = since(t);
    r.completed.push_back("boot");

    // health
    stage("health");
    t = Clock::now();
    const bool agent =
        st.contains("agent") && st["agent"].is_number() && st["agent"].get<int>() == 1;
    if (agent) {
      int tries = 0;
      for (;;) {
        try {
          client.post(guest_path(o, r.scratch_vmid) + "/agent/ping");
          break;
        } catch (const Error& e) {
          if (e.code() != Errc::kRemote && e.code() != Errc::kTransient) throw;
        }
        ++tries;
        if (!r.upid.empty()) check_task(client, r.upid);
        if (Clock::now() > deadline) {
          throw Error(Errc::kCheckFailed,
                      fmt::format("guest agent of scratch guest {} did not answer within {:.0f} s",
                                  r.scratch_vmid, o.health_timeout_seconds),
                      "check that qemu-guest-agent is installed and enabled in the guest");
        }
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
      r.health_detail = fmt::format("guest agent answered ({} retries)", tries);
    } else {
      r.health_detail = "status running (no guest agent configured)";
    }
    r.health = since(t);
    r.fetched_at_healthy = mount->fetched_bytes();
    r.completed.push_back("health");

    // background copy: the import task streams the disks into their volumes
    stage("copy");
    if (!r.upid.empty()) {
      client.wait_task(r.upid, std::chrono::seconds(static_cast<int64_t>(o.task_timeout_seconds)));
    }
    r.background_copy = since(copy_start);
    r.fetched_total = mount->fetched_bytes();
    r.copy_ok = true;
    r.completed.push_back("copy");
  } catch (const Error& e) {
    r.error = e.what();
    r.code = e.code();
  } catch (const std::exception& e) {
    r.error = e.what();
    r.code = Errc::kInternal;
  }

  // cleanup: the scratch guest, then the mount
  stage("cleanup");
  t = Clock::now();
  if (created) {
    try {
      auto g = pve::lookup_guest(client, r.scratch_vmid);
      if (g) {
        if (g->status != "stopped") {
          auto up =
              client.post(guest_path(o, r.scratch_vmid) + "/status/stop", {{"skiplock", "1"}});
          if (up.is_string()) client.wait_task(up.get<std::string>(), std::chrono::seconds(300));
        }
        if (!r.upid.empty()) {
          // The import task ends once its guest stops; the volumes can go after it.
          try {
            client.wait_task(r.upid, std::chrono::seconds(120));
          } catch (const Error&) {
          }
        }
        auto up =
            client.del(guest_path(o, r.scratch_vmid),
                       {{"purge", "1"}, {"destroy-unreferenced-disks", "1"}, {"skiplock", "1"}});
        if (up.is_string()) client.wait_task(up.get<std::string>(), std::chrono::seconds(600));
      }
      if (pve::lookup_guest(client, r.scratch_vmid)) throw Error(Errc::kRemote, "still there");
    } catch (const Error& e) {
      r.cleanup_ok = false;
      std::string msg = fmt::format("scratch guest {} could not be removed ({}): remove it by hand",
                                    r.scratch_vmid, e.what());
      r.error = r.error.empty() ? msg : r.error + " (" + msg + ")";
      if (r.code == Errc::kCheckFailed) r.code = e.code();
    }
  }
  if (mount) {
    if (r.fetched_total == 0) r.fetched_total = mount->fetched_bytes();
    mount->stop();
    mount.reset();
  }
  if (!mountpoint.empty()) ::rmdir(mountpoint.c_str());
  r.cleanup = since(t);
  if (r.cleanup_ok) r.completed.push_back("cleanup");
  return r;
}

}  // namespace pvesafe::jobs
