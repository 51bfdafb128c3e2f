#include "jobs/vzdump_hook.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "pve/ha.h"
#include "repo/stream.h"

namespace pvesafe::jobs {

namespace {
std::string read_small_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string cluster_name_from(const std::string& corosync_conf) {
  std::istringstream in(corosync_conf);
  for (std::string line; std::getline(in, line);) {
    auto p = line.find("cluster_name:");
    if (p == std::string::npos) continue;
    std::string v = line.substr(p + 13);
    v.erase(0, v.find_first_not_of(" \t"));
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.pop_back();
    return v;
  }
  return {};
}
}  // namespace

bool hook_phase_stores(const std::string& phase) { return phase == "backup-end"; }

VzdumpHookResult run_vzdump_hook(repo::Repository& repo, const VzdumpHookOptions& o,
                                 EventLog& log) {
  if (o.target.empty()) {
    throw Error(Errc::kUsage, "vzdump-hook backup-end: TARGET is not set",
                "run it as vzdump's hook script (script: in /etc/vzdump.conf)");
  }
  if (o.vmid.empty()) throw Error(Errc::kUsage, "vzdump-hook backup-end: no vmid argument");
  std::string type = o.vmtype == "openvz" ? "lxc" : o.vmtype;
  repo::FileSource source(o.target);
  repo::BackupOptions bo;
  bo.node = o.node;
  bo.guest_id = o.vmid;
  bo.guest_type = type;
  bo.file_name = source.name();
  bo.tags = {{"node", o.node}, {"guest", o.vmid}, {"source", "vzdump-hook"}};
  if (!type.empty()) bo.tags["type"] = type;
  if (!o.mode.empty()) bo.tags["mode"] = o.mode;
  if (auto c = cluster_name_from(read_small_file(o.pve_dir + "/corosync.conf")); !c.empty()) {
    bo.tags["cluster"] = c;
  }
  try {
    std::string sid = (type == "lxc" ? "ct:" : "vm:") + o.vmid;
    for (const auto& r :
         pve::parse_ha_resources_cfg(read_small_file(o.pve_dir + "/ha/resources.cfg"))) {
      if (r.sid() == sid) {
        auto t = pve::ha_tags(r);
        bo.tags.insert(t.begin(), t.end());
      }
    }
  } catch (const Error& e) {
    spdlog::warn("HA resources of this node not readable, the snapshot carries no HA state: {}",
                 e.what());
  }
  repo::CatalogEvent ev;
  ev.kind = "backup";
  ev.repository = repo.location();
  ev.node = o.node;
  ev.guest_id = o.vmid;
  ev.guest_type = type;
  ev.file_name = source.name();
  VzdumpHookResult r;
  r.file_name = source.name();
  r.backup = log.recorded(ev, [&](repo::CatalogEvent& e) {
    const auto before = repo.store().requests();
    auto b = repo::backup(repo, source, bo);
    e.snapshot_id = b.snapshot_id;
    e.size_bytes = static_cast<int64_t>(b.size_bytes);
    e.stored_bytes = static_cast<int64_t>(b.stored_bytes);
    e.duration_seconds = b.duration_seconds;
    e.throughput_bytes_per_second =
        b.duration_seconds > 0 ? static_cast<double>(b.size_bytes) / b.duration_seconds : 0;
    e.dedup_ratio = b.dedup_ratio;
    nlohmann::json j =
        o.details ? o.details(b, repo.store().requests() - before) : nlohmann::json::object();
    j["source"] = "vzdump-hook";
    j["mode"] = o.mode;
    e.details_json = j.dump();
    r.details = std::move(j);
    return b;
  });
  if (o.remove_archive) {
    if (::unlink(o.target.c_str()) == 0) {
      r.archive_removed = true;
    } else {
      r.warning = "could not remove " + o.target;
    }
  }
  return r;
}

}  // namespace pvesafe::jobs
