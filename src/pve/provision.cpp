#include "pve/provision.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <regex>

#include "core/error.h"
#include "pve/vzdump.h"

namespace pvesafe::pve {

namespace {
std::string type_word(const std::string& type) {
  return type == "lxc" ? "an lxc container" : "a qemu VM";
}
std::string stamp(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y_%m_%d-%H_%M_%S", &tm);
  return buf;
}
}  // namespace

ArchiveKind archive_kind(const std::string& file_name) {
  static const std::regex re(
      R"((?:^|/)vzdump-(qemu|lxc|openvz)-(\d+)-\d{4}_\d{2}_\d{2}-\d{2}_\d{2}_\d{2}\.((?:vma|tar|tgz)(?:\.(?:zst|gz|lzo))?)$)");
  std::smatch m;
  if (!std::regex_search(file_name, m, re)) {
    throw Error(
        Errc::kUnsupported,
        fmt::format("'{}' is not a vzdump archive name, so it cannot be restored as a guest",
                    file_name),
        "restore it to a file with `pvesafe restore SNAPSHOT --target FILE`");
  }
  ArchiveKind k;
  k.type = m[1].str() == "qemu" ? "qemu" : "lxc";
  k.vmid = m[2].str();
  k.extension = m[3].str();
  return k;
}

GuestRestore::GuestRestore(Client& client, SshSession& ssh, RestoreTarget target,
                           const std::string& extension)
    : client_(client), ssh_(ssh), t_(std::move(target)), extension_(extension) {
  if (t_.type != "qemu" && t_.type != "lxc") {
    throw Error(Errc::kUnsupported, fmt::format("guest type '{}' cannot be restored", t_.type));
  }
  check_vmid(t_.vmid);
}

GuestRestore::~GuestRestore() {
  sink_.reset();  // an unfinished upload removes its partial file
  if (!committed_ && create_started_ && !existing_ && !destroyed_) {
    try {
      destroy();
    } catch (const std::exception& e) {
      spdlog::error("could not remove the half-restored guest {} on {}: {}", t_.vmid, t_.node,
                    e.what());
    }
  }
  if (uploaded_ && !t_.keep_archive) {
    try {
      remove_archive();
    } catch (const std::exception& e) {
      spdlog::warn("could not remove the staged archive {} on {}: {}", archive_path_, t_.node,
                   e.what());
    }
  }
}

std::string GuestRestore::api_base() const {
  return fmt::format("/nodes/{}/{}/{}", t_.node, t_.type, t_.vmid);
}

void GuestRestore::preflight() {
  require_online_node(client_, t_.node);
  existing_ = lookup_guest(client_, t_.vmid);
  if (existing_) {
    if (existing_->type != t_.type) {
      throw Error(Errc::kUnsupported,
                  fmt::format("the snapshot holds {} but guest {} on {} is {}", type_word(t_.type),
                              t_.vmid, existing_->node, type_word(existing_->type)),
                  "restore it under another id with --new-id");
    }
    if (!t_.force) {
      throw Error(Errc::kUsage,
                  fmt::format("guest {} already exists on {}", t_.vmid, existing_->node),
                  "pass --force to overwrite it, or --new-id ID to restore beside it");
    }
    if (existing_->node != t_.node) {
      throw Error(
          Errc::kUsage,
          fmt::format("guest {} exists on node {}, not on {}", t_.vmid, existing_->node, t_.node),
          fmt::format("restore it on {} (--node {}) or under another id with --new-id",
                      existing_->node, existing_->node));
    }
    if (existing_->status == "running") {
      throw Error(Errc::kUsage, fmt::format("guest {} on {} is running", t_.vmid, t_.node),
                  "shut it down before overwriting it");
    }
  }
  std::string dir = storage_dump_dir(client_, t_.node, t_.dump_storage, t_.dump_dir_template);
  std::time_t now = std::time(nullptr);
  for (int i = 0; i < 100; ++i) {
    std::string name =
        fmt::format("vzdump-{}-{}-{}.{}", t_.type, t_.vmid, stamp(now + i), extension_);
    std::string path = dir + "/" + name;
    if (!ssh_.stat(path) && !ssh_.stat(path + ".partial")) {
      archive_path_ = path;
      volid_ = fmt::format("{}:backup/{}", t_.dump_storage, name);
      break;
    }
  }
  if (archive_path_.empty()) {
    throw Error(Errc::kRemote, fmt::format("no free archive name in {} on {}", dir, t_.node));
  }
  preflight_done_ = true;
}

ByteSink& GuestRestore::upload() {
  if (!preflight_done_) throw Error(Errc::kInternal, "GuestRestore::upload before preflight");
  sink_ = std::make_unique<SftpSink>(ssh_, archive_path_);
  uploaded_ = true;  // from now on the destructor cleans up (the partial file or the archive)
  return *sink_;
}

TaskStatus GuestRestore::create() {
  std::map<std::string, std::string> form{{"vmid", t_.vmid}};
  if (!t_.storage.empty()) form["storage"] = t_.storage;
  if (t_.force) form["force"] = "1";
  if (t_.unique && t_.type == "qemu") form["unique"] = "1";
  std::string path;
  if (t_.type == "qemu") {
    form["archive"] = volid_;
    path = fmt::format("/nodes/{}/qemu", t_.node);
  } else {
    form["ostemplate"] = volid_;
    form["restore"] = "1";
    path = fmt::format("/nodes/{}/lxc", t_.node);
  }
  create_started_ = true;
  auto upid = client_.post(path, form);
  if (!upid.is_string()) {
    throw Error(Errc::kRemote,
                fmt::format("restore of guest {} on {} returned no task id", t_.vmid, t_.node));
  }
  WaitOptions w;
  w.log_lines = 15;
  TaskStatus st = client_.wait_task(upid.get<std::string>(), t_.timeout, w);
  created_ = true;
  return st;
}

TaskStatus GuestRestore::start() {
  auto upid = client_.post(api_base() + "/status/start");
  if (!upid.is_string()) {
    throw Error(Errc::kRemote, fmt::format("start of guest {} returned no task id", t_.vmid));
  }
  return client_.wait_task(upid.get<std::string>(), std::chrono::seconds(600));
}

int GuestRestore::isolate_network() {
  if (t_.type != "qemu") return 0;
  auto cfg = client_.get(api_base() + "/config");
  std::map<std::string, std::string> changes;
  static const std::regex net(R"(^net\d+$)");
  if (cfg.is_object()) {
    for (const auto& [k, v] : cfg.items()) {
      if (!std::regex_match(k, net) || !v.is_string()) continue;
      std::string val = v.get<std::string>();
      if (val.find("link_down=1") != std::string::npos) continue;
      changes[k] = val + ",link_down=1";
    }
  }
  if (!changes.empty()) client_.put(api_base() + "/config", changes);
  return static_cast<int>(changes.size());
}

nlohmann::json GuestRestore::current_status() {
  return client_.get(api_base() + "/status/current");
}

bool GuestRestore::agent_ping() {
  if (t_.type != "qemu") return false;
  try {
    client_.post(api_base() + "/agent/ping");
    return true;
  } catch (const Error& e) {
    if (e.code() == Errc::kRemote || e.code() == Errc::kTransient) return false;
    throw;
  }
}

void GuestRestore::destroy() {
  // Only what we created, or what --force overwrote (then it is ours too).
  destroy_guest(client_, t_.node, t_.type, t_.vmid);
  destroyed_ = true;
}

void destroy_guest(Client& client, const std::string& node, const std::string& type,
                   const std::string& vmid) {
  std::optional<GuestInfo> g;
  try {
    g = lookup_guest(client, vmid);
  } catch (const Error&) {
    g = GuestInfo{};  // unknown: try anyway
    g->node = node;
    g->status = "unknown";
  }
  if (!g) return;
  if (g->node != node && !g->node.empty()) {
    throw Error(Errc::kInternal,
                fmt::format("guest {} moved to {}; not removing it", vmid, g->node));
  }
  std::string base = fmt::format("/nodes/{}/{}/{}", node, type, vmid);
  if (g->status != "stopped") {
    try {
      auto upid = client.post(base + "/status/stop");
      if (upid.is_string()) client.wait_task(upid.get<std::string>(), std::chrono::seconds(300));
    } catch (const Error& e) {
      spdlog::debug("stop of guest {} before removal: {}", vmid, e.what());
    }
  }
  std::map<std::string, std::string> q{{"purge", "1"}, {"destroy-unreferenced-disks", "1"}};
  nlohmann::json upid;
  try {
    upid = client.del(base, q);
  } catch (const Error& e) {
    // A restore that failed half-way can leave the guest locked ("create"); it is ours, so the
    // lock may be skipped (PVE allows this to root only).
    if (e.message().find("locked") == std::string::npos) throw;
    q["skiplock"] = "1";
    upid = client.del(base, q);
  }
  if (upid.is_string()) client.wait_task(upid.get<std::string>(), std::chrono::seconds(600));
}

void GuestRestore::remove_archive() {
  if (archive_path_.empty()) return;
  ssh_.remove(archive_path_);
  uploaded_ = false;
}

}  // namespace pvesafe::pve
