#include "jobs/site_restore.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "jobs/cluster_config.h"
#include "jobs/snapshot_guest_config.h"
#include "pve/cluster_status.h"
#include "pve/guest.h"
#include "pve/guest_config.h"
#include "pve/ha.h"
#include "pve/provision.h"

namespace pvesafe::jobs {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::vector<std::string> split_any(const std::string& s, const std::string& seps) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (seps.find(c) != std::string::npos) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string tag_of(const repo::SnapshotInfo& s, const std::string& k) {
  auto it = s.tags.find(k);
  return it == s.tags.end() ? std::string() : it->second;
}

bool newer(const repo::SnapshotInfo& a, const repo::SnapshotInfo& b) {
  if (a.time != b.time) return a.time > b.time;
  return a.commit_ns > b.commit_ns;
}

struct TargetStorage {
  std::string id;
  std::set<std::string> content;
};

std::map<std::string, TargetStorage> target_storages(pve::Client& client) {
  std::map<std::string, TargetStorage> out;
  auto data = client.get("/storage");
  if (!data.is_array()) return out;
  for (const auto& s : data) {
    TargetStorage t;
    t.id = s.value("storage", std::string());
    for (const auto& c : split_any(s.value("content", std::string()), ",")) t.content.insert(c);
    if (!t.id.empty()) out[t.id] = t;
  }
  return out;
}

// The guest ids a cluster configuration snapshot lists (its API view of /cluster/resources).
std::vector<pve::GuestInfo> config_guests(const ClusterConfigSnapshot& snap) {
  const auto* e = snap.find("api/cluster-resources.json");
  if (!e) return {};
  try {
    auto j = nlohmann::json::parse(e->data);
    if (j.is_object() && j.contains("data")) j = j["data"];
    return pve::parse_guests(j);
  } catch (const std::exception&) {
    return {};
  }
}

std::vector<pve::Section> config_sections(const ClusterConfigSnapshot& snap,
                                          const std::string& path) {
  const auto* e = snap.find(path);
  if (!e || e->data.empty()) return {};
  return pve::parse_section_config(e->data, path);
}

bool selected(const repo::SnapshotInfo& s, const SiteSelection& sel) {
  if (!sel.cluster.empty() && tag_of(s, "cluster") != sel.cluster) return false;
  if (!sel.node.empty() && s.node != sel.node) return false;
  if (!sel.pool.empty() && tag_of(s, "pool") != sel.pool) return false;
  if (!sel.tag.empty()) {
    auto tags = split_any(tag_of(s, "pve_tags"), ";, ");
    if (std::find(tags.begin(), tags.end(), sel.tag) == tags.end()) return false;
  }
  if (!sel.guests.empty() &&
      std::find(sel.guests.begin(), sel.guests.end(), s.guest_id) == sel.guests.end()) {
    return false;
  }
  return true;
}

// "vm:100,ct:101" with ids mapped; ids not restored are left out.
std::string map_resources(const std::string& list, const std::map<std::string, std::string>& ids) {
  std::string out;
  for (const auto& sid : split_any(list, ",")) {
    auto colon = sid.find(':');
    if (colon == std::string::npos) continue;
    auto it = ids.find(sid.substr(colon + 1));
    if (it == ids.end()) continue;
    out += (out.empty() ? "" : ",") + sid.substr(0, colon + 1) + it->second;
  }
  return out;
}

// "pve-01:2,pve-02" with node names mapped.
std::string map_nodes(const std::string& list, const std::map<std::string, std::string>& nodes) {
  std::string out;
  for (const auto& n : split_any(list, ",")) {
    auto colon = n.find(':');
    std::string name = n.substr(0, colon);
    auto it = nodes.find(name);
    if (it != nodes.end()) name = it->second;
    out += (out.empty() ? "" : ",") + name + (colon == std::string::npos ? "" : n.substr(colon));
  }
  return out;
}

}  // namespace

VmidConflict parse_vmid_conflict(const std::string& s) {
  if (s == "fail") return VmidConflict::kFail;
  if (s == "skip") return VmidConflict::kSkip;
  if (s == "new-id") return VmidConflict::kNewId;
  if (s == "replace") return VmidConflict::kReplace;
  throw Error(Errc::kUsage, fmt::format("unknown vmid conflict policy '{}'", s),
              "use --on-conflict fail|skip|new-id|replace");
}

const char* to_string(VmidConflict c) {
  switch (c) {
    case VmidConflict::kFail:
      return "fail";
    case VmidConflict::kSkip:
      return "skip";
    case VmidConflict::kNewId:
      return "new-id";
    case VmidConflict::kReplace:
      return "replace";
  }
  return "?";
}

std::map<std::string, std::string> parse_name_map(const std::vector<std::string>& items,
                                                  const std::string& flag) {
  std::map<std::string, std::string> m;
  for (const auto& item : items) {
    for (const auto& one : split_any(item, ",")) {
      auto eq = one.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == one.size()) {
        throw Error(Errc::kUsage, fmt::format("{} '{}' is not OLD=NEW", flag, one),
                    fmt::format("e.g. {} local-lvm=fast-ssd", flag));
      }
      m[one.substr(0, eq)] = one.substr(eq + 1);
    }
  }
  return m;
}

int SitePlan::to_restore() const {
  int n = 0;
  for (const auto& g : guests) n += g.status.empty() ? 1 : 0;
  return n;
}

int SiteRestoreResult::count(const std::string& status) const {
  int n = 0;
  for (const auto& g : guests) n += g.status == status ? 1 : 0;
  return n;
}

std::optional<Error> SiteRestoreResult::first_error() const {
  for (const auto& g : guests) {
    if (g.status == "failed" && g.recovery.error) {
      return Error(g.recovery.error->code(),
                   fmt::format("guest {}: {}", g.plan.source_vmid, g.recovery.error->message()),
                   g.recovery.error->hint());
    }
  }
  for (const auto& g : guests) {
    if (g.status == "missing") {
      return Error(Errc::kNotFound,
                   fmt::format("guest {} has no snapshot: {}", g.plan.source_vmid, g.plan.reason),
                   "the others were restored; back it up or restore it from elsewhere");
    }
  }
  return std::nullopt;
}

SitePlan plan_site_restore(repo::Repository& repo, const SiteRestoreOptions& o) {
  if (o.jobs < 1) throw Error(Errc::kUsage, "--jobs must be at least 1");
  for (const auto& g : o.select.guests) pve::check_vmid(g);
  pve::Client client(o.api);
  pve::ClusterStatus status = pve::require_quorum(client);
  SitePlan plan;
  plan.target_cluster = status.name;

  // Newest snapshot per guest.
  std::map<std::string, repo::SnapshotInfo> newest;
  for (const auto& s : repo.list_snapshots()) {
    if (s.guest_id.empty() || tag_of(s, "content") == kClusterConfigContent) continue;
    try {
      pve::archive_kind(s.file_name);
    } catch (const Error&) {
      continue;  // not a vzdump archive of a guest
    }
    if (!selected(s, o.select)) continue;
    auto it = newest.find(s.guest_id);
    if (it == newest.end() || newer(s, it->second)) newest[s.guest_id] = s;
  }

  // What should be there: the explicit list, else the cluster configuration's inventory.
  std::optional<ClusterConfigSnapshot> config;
  if (o.use_cluster_config && !o.scratch) {
    try {
      config = load_cluster_config(repo, "latest", o.select.cluster);
      plan.config_snapshot = config->snapshot_id;
    } catch (const Error& e) {
      if (e.code() != Errc::kNotFound) throw;
      plan.notes.push_back(
          "no cluster configuration snapshot: HA groups and rules are not "
          "restored, guests without a snapshot cannot be named");
    }
  }
  std::map<std::string, SiteGuestPlan> missing;
  for (const auto& g : o.select.guests) {
    if (!newest.count(g)) {
      SiteGuestPlan m;
      m.source_vmid = g;
      m.status = "missing";
      m.reason = "no snapshot of this guest in the repository";
      missing[g] = m;
    }
  }
  if (config && o.select.guests.empty()) {
    for (const auto& g : config_guests(*config)) {
      if (g.is_template || newest.count(g.vmid)) continue;
      if (!o.select.node.empty() && g.node != o.select.node) continue;
      if (!o.select.pool.empty() && g.pool != o.select.pool) continue;
      if (!o.select.tag.empty() &&
          std::find(g.tags.begin(), g.tags.end(), o.select.tag) == g.tags.end()) {
        continue;
      }
      SiteGuestPlan m;
      m.source_vmid = g.vmid;
      m.type = g.type;
      m.name = g.name;
      m.source_node = g.node;
      m.status = "missing";
      m.reason = fmt::format("listed in the cluster configuration {} but has no snapshot",
                             config->snapshot_id.substr(0, 8));
      missing[g.vmid] = m;
    }
  }
  if (newest.empty()) {
    throw Error(Errc::kNotFound,
                missing.empty()
                    ? "no guest snapshot matches the selection"
                    : fmt::format("none of the {} selected guests has a snapshot", missing.size()),
                "pvesafe snapshots lists what the repository holds");
  }

  // Target state.
  auto storages = target_storages(client);
  auto target_guests = pve::list_guests(client);
  std::map<std::string, pve::GuestInfo> existing;
  for (const auto& g : target_guests) existing[g.vmid] = g;
  std::set<std::string> online;
  for (const auto& n : status.nodes) {
    if (n.online) online.insert(n.name);
  }
  if (online.empty()) throw Error(Errc::kRemote, "the target cluster has no online node");
  if (!o.node.empty() && !online.count(o.node)) {
    throw Error(Errc::kNotFound, fmt::format("node {} is not an online node of cluster {}", o.node,
                                             plan.target_cluster));
  }
  for (const auto& [from, to] : o.node_map) {
    if (!online.count(to)) {
      throw Error(Errc::kNotFound,
                  fmt::format("--node-map {}={}: node {} is not an online node of cluster {}", from,
                              to, to, plan.target_cluster));
    }
  }
  std::vector<std::string> storage_errors;
  for (const auto& [from, to] : o.storage_map) {
    if (!storages.count(to)) {
      storage_errors.push_back(fmt::format("--storage-map {}={}: {} is not a storage of cluster {}",
                                           from, to, to, plan.target_cluster));
    }
  }
  std::map<std::string, int> load;  // planned guests per node
  std::set<std::string> used_ids;
  for (const auto& g : target_guests) used_ids.insert(g.vmid);
  for (const auto& [id, s] : newest) used_ids.insert(id);
  std::optional<int> next_free;
  auto fresh_id = [&]() {
    if (!next_free) next_free = std::stoi(pve::next_vmid(client));
    while (used_ids.count(std::to_string(*next_free))) ++*next_free;
    std::string id = std::to_string((*next_free)++);
    used_ids.insert(id);
    return id;
  };
  std::vector<std::string> conflicts;
  std::set<std::string> missing_storages;

  std::vector<SiteGuestPlan> planned;
  for (const auto& [id, s] : newest) {
    SiteGuestPlan p;
    p.source_vmid = id;
    p.snapshot_id = s.id;
    p.snapshot_time = s.time_utc;
    p.file_name = s.file_name;
    p.size_bytes = s.size_bytes;
    p.disk_bytes = snapshot_disk_bytes(s);
    p.source_node = s.node;
    p.name = tag_of(s, "name");
    p.type = s.guest_type.empty() ? pve::archive_kind(s.file_name).type : s.guest_type;
    auto pve_tags = split_any(tag_of(s, "pve_tags"), ";, ");
    p.critical = std::find(pve_tags.begin(), pve_tags.end(), o.critical_tag) != pve_tags.end();
    auto ha = pve::ha_from_tags(s.tags, id, p.type);
    if (ha && ha->wants_running()) p.priority_class = 0;
    RecoveryTarget& t = p.target;
    t.dump_storage = o.dump_storage;
    t.scratch = o.scratch;
    t.start = o.start;
    t.task_timeout = o.task_timeout;
    t.health_timeout = o.health_timeout;
    t.threads = o.threads;
    if (ha && !o.scratch) t.ha = ha;

    // Storages: where each volume was, where it goes.
    std::string need = p.type == "lxc" ? "rootdir" : "images";
    std::vector<pve::GuestVolume> volumes;
    try {
      volumes = pve::restore_volumes(p.type, snapshot_guest_config(repo, s.id));
    } catch (const Error& e) {
      if (e.code() != Errc::kUnsupported) throw;
      plan.notes.push_back(
          fmt::format("guest {}: {}; its disks go where the archive says", id, e.message()));
    }
    for (const auto& v : volumes) {
      auto m = o.storage_map.find(v.storage);
      std::string to = !o.storage.empty()         ? o.storage
                       : m == o.storage_map.end() ? v.storage
                                                  : m->second;
      auto st = storages.find(to);
      if (st == storages.end()) {
        if (!o.storage.empty()) {
          storage_errors.push_back(
              fmt::format("storage {} does not exist on cluster {}", to, plan.target_cluster));
        } else if (m == o.storage_map.end()) {
          missing_storages.insert(v.storage);
        }
        continue;
      }
      if (!st->second.content.count(need)) {
        storage_errors.push_back(
            fmt::format("storage {} of cluster {} does not hold {} (guest {} "
                        "{})",
                        to, plan.target_cluster, need, id, v.key));
        continue;
      }
      if (t.storage.empty()) {
        t.storage = to;
      } else if (to != t.storage && p.type == "qemu") {
        t.move_disks[v.key] = to;
      } else if (to != t.storage) {
        storage_errors.push_back(fmt::format(
            "guest {}: container volumes go to one storage (pct restore), the map sends them to "
            "{} and {}",
            id, t.storage, to));
      }
      if (std::find(p.storages.begin(), p.storages.end(), to) == p.storages.end()) {
        p.storages.push_back(to);
      }
    }
    if (t.storage.empty()) t.storage = o.storage;
    if (p.type == "lxc" && t.storage.empty()) t.storage = "local";

    // Node.
    auto nm = o.node_map.find(s.node);
    if (!o.node.empty()) {
      t.node = o.node;
    } else if (nm != o.node_map.end()) {
      t.node = nm->second;
    } else if (online.count(s.node)) {
      t.node = s.node;
    }

    // vmid.
    t.vmid = id;
    if (o.scratch) {
      t.vmid = fresh_id();
    } else if (auto ex = existing.find(id); ex != existing.end()) {
      switch (o.on_conflict) {
        case VmidConflict::kFail:
          conflicts.push_back(fmt::format("{} ({} on {})", id, ex->second.type, ex->second.node));
          break;
        case VmidConflict::kSkip:
          p.status = "skipped";
          p.reason = fmt::format("vmid {} exists on the target ({} on {})", id, ex->second.type,
                                 ex->second.node);
          break;
        case VmidConflict::kNewId:
          t.vmid = fresh_id();
          p.reason = fmt::format("vmid {} exists on the target: restored as {}", id, t.vmid);
          break;
        case VmidConflict::kReplace:
          if (ex->second.type != p.type) {
            conflicts.push_back(fmt::format("{} ({} on {}, the snapshot is {}: cannot replace)", id,
                                            ex->second.type, ex->second.node, p.type));
          }
          t.node = ex->second.node;
          t.force = true;
          p.reason = fmt::format("replaces the existing guest {} on {}", id, ex->second.node);
          break;
      }
    }
    planned.push_back(std::move(p));
  }
  for (const auto& s : missing_storages) {
    storage_errors.push_back(
        fmt::format("storage {} does not exist on cluster {}", s, plan.target_cluster));
  }
  if (!storage_errors.empty()) {
    std::string msg = storage_errors.front();
    if (storage_errors.size() > 1) msg += fmt::format(" (and {} more)", storage_errors.size() - 1);
    std::string have;
    for (const auto& [id, st] : storages) have += (have.empty() ? "" : ", ") + id;
    throw Error(Errc::kNotFound, msg,
                fmt::format("map each old storage with --storage-map OLD=NEW; cluster {} has: {}",
                            plan.target_cluster, have));
  }
  if (!conflicts.empty()) {
    std::string list;
    for (const auto& c : conflicts) list += (list.empty() ? "" : ", ") + c;
    throw Error(Errc::kUsage,
                fmt::format("{} vmid{} exist{} on cluster {}: {}", conflicts.size(),
                            conflicts.size() == 1 ? "" : "s", conflicts.size() == 1 ? "s" : "",
                            plan.target_cluster, list),
                "choose --on-conflict skip|new-id|replace, or remove those guests");
  }

  std::stable_sort(planned.begin(), planned.end(),
                   [](const SiteGuestPlan& a, const SiteGuestPlan& b) {
                     if (a.status.empty() != b.status.empty()) return a.status.empty();
                     if (a.priority_class != b.priority_class) {
                       return a.priority_class < b.priority_class;
                     }
                     if (a.critical != b.critical) return a.critical;
                     return std::stoll(a.source_vmid) < std::stoll(b.source_vmid);
                   });
  // Nodes for guests whose own node is not there: the least loaded online node.
  for (auto& p : planned) {
    if (!p.target.node.empty() && p.status.empty()) ++load[p.target.node];
  }
  for (auto& p : planned) {
    if (!p.target.node.empty() || !p.status.empty()) continue;
    std::string best;
    for (const auto& n : online) {
      if (best.empty() || load[n] < load[best]) best = n;
    }
    p.target.node = best;
    ++load[best];
  }
  plan.guests = std::move(planned);
  for (auto& [id, m] : missing) plan.guests.push_back(std::move(m));

  if (config && !o.scratch) {
    plan.ha_groups = config_sections(*config, "pve/ha/groups.cfg");
    plan.ha_rules = config_sections(*config, "pve/ha/rules.cfg");
  }
  for (const auto& [from, to] : o.storage_map) {
    bool used = false;
    for (const auto& g : plan.guests) {
      used = used || std::find(g.storages.begin(), g.storages.end(), to) != g.storages.end();
    }
    if (!used) plan.notes.push_back(fmt::format("--storage-map {}={} is not used", from, to));
  }
  return plan;
}

SiteRestoreResult run_site_plan(repo::Repository& repo, store::ReadTimingStore* timing,
                                const SiteRestoreOptions& o, SitePlan plan,
                                Clock::time_point started, EventLog* log) {
  SiteRestoreResult res;
  res.jobs = o.jobs;
  res.plan_seconds = seconds_between(started, Clock::now());
  pve::Client client(o.api);
  auto nodes = pve::list_nodes(client);

  std::map<std::string, std::string> ids;  // source vmid -> target vmid (restored)
  // HA groups (PVE 8) first: the resources name them.
  for (auto g : plan.ha_groups) {
    if (auto n = g.get("nodes")) g.set("nodes", map_nodes(*n, o.node_map));
    try {
      pve::add_ha_group(client, g);
    } catch (const Error& e) {
      res.ha_notes.push_back(fmt::format("HA group {}: {}", g.id, e.message()));
    }
  }

  res.guests.resize(plan.guests.size());
  for (size_t i = 0; i < plan.guests.size(); ++i) {
    res.guests[i].plan = plan.guests[i];
    res.guests[i].status = plan.guests[i].status;
  }
  std::mutex mu;
  for (int cls : {0, 1}) {
    std::vector<size_t> todo;
    for (size_t i = 0; i < res.guests.size(); ++i) {
      const auto& p = res.guests[i].plan;
      if (p.status.empty() && p.priority_class == cls) todo.push_back(i);
    }
    if (todo.empty()) continue;
    std::atomic<size_t> next{0};
    auto worker = [&] {
      std::unique_ptr<pve::Client> own;
      try {
        own = std::make_unique<pve::Client>(o.api);
      } catch (const Error& e) {
        spdlog::error("site restore: cannot connect a worker: {}", e.what());
      }
      while (true) {
        size_t k = next.fetch_add(1);
        if (k >= todo.size()) break;
        auto& g = res.guests[todo[k]];
        if (!own) {
          g.status = "failed";
          g.recovery.error = Error(Errc::kTransient, "no API connection for this worker");
          continue;
        }
        std::string src = g.plan.source_vmid;
        RecoveryContext ctx{repo, timing, *own, o.ssh, nodes, {}};
        if (o.progress) {
          ctx.progress = [&, src](const RecoveryProgress& p) { o.progress({src, p}); };
        }
        RecoveryResult r = recover_guest(ctx, g.plan.snapshot_id, g.plan.target);
        r.source_vmid = src;
        g.recovery = r;
        g.status = r.error ? "failed" : "ok";
        g.healthy_after_seconds = seconds_between(started, r.finished);
        if (log) {
          repo::CatalogEvent ev;
          ev.kind = "restore";
          ev.repository = repo.location();
          ev.snapshot_id = g.plan.snapshot_id;
          ev.node = g.plan.target.node;
          ev.guest_id = g.plan.target.vmid;
          ev.guest_type = r.type;
          ev.file_name = r.file_name;
          ev.size_bytes = static_cast<int64_t>(r.size_bytes);
          ev.duration_seconds = r.seconds();
          double transfer = r.stages.fetch + r.stages.decrypt_verify;
          ev.throughput_bytes_per_second =
              transfer > 0 ? static_cast<double>(r.size_bytes) / transfer : 0;
          nlohmann::json d = pve::to_json(r.stages);
          d["site"] = true;
          d["source_vmid"] = src;
          d["source_node"] = g.plan.source_node;
          d["priority_class"] = g.plan.priority_class;
          d["ha_registered"] = r.ha_registered;
          d["health"] = r.health_detail;
          ev.details_json = d.dump();
          if (r.error) {
            log->record_failure(ev, *r.error);
          } else {
            log->record(ev);
          }
        }
        if (!r.error) {
          std::lock_guard<std::mutex> l(mu);
          ids[src] = g.plan.target.vmid;
        }
      }
    };
    std::vector<std::thread> workers;
    int n = std::min<int>(o.jobs, static_cast<int>(todo.size()));
    for (int w = 0; w < n; ++w) workers.emplace_back(worker);
    for (auto& w : workers) w.join();
    double last = 0;
    for (size_t i : todo) last = std::max(last, res.guests[i].healthy_after_seconds);
    if (cls == 0) res.critical_rto_seconds = last;
    res.rto_seconds = std::max(res.rto_seconds, last);
  }

  // HA rules (PVE 9) last: they name resources.
  for (auto r : plan.ha_rules) {
    if (auto list = r.get("resources")) {
      std::string mapped = map_resources(*list, ids);
      if (mapped.empty()) {
        res.ha_notes.push_back(fmt::format("HA rule {}: none of its guests was restored", r.id));
        continue;
      }
      r.set("resources", mapped);
    }
    if (auto n = r.get("nodes")) r.set("nodes", map_nodes(*n, o.node_map));
    try {
      pve::add_ha_rule(client, r);
    } catch (const Error& e) {
      res.ha_notes.push_back(fmt::format("HA rule {}: {}", r.id, e.message()));
    }
  }
  res.plan = std::move(plan);
  return res;
}

SiteRestoreResult restore_site(repo::Repository& repo, store::ReadTimingStore* timing,
                               const SiteRestoreOptions& o, EventLog& log) {
  auto started = Clock::now();
  repo::CatalogEvent ev;
  ev.kind = "site-restore";
  ev.repository = repo.location();
  SitePlan plan;
  try {
    plan = plan_site_restore(repo, o);
  } catch (const Error& e) {
    if (e.code() != Errc::kUsage && !o.dry_run) log.record_failure(ev, e);
    throw;
  }
  if (o.planned) o.planned(plan);
  if (o.dry_run) {
    SiteRestoreResult r;
    r.jobs = o.jobs;
    r.plan = std::move(plan);
    for (const auto& p : r.plan.guests) {
      SiteGuestResult g;
      g.plan = p;
      g.status = p.status;
      r.guests.push_back(std::move(g));
    }
    return r;
  }
  auto res = run_site_plan(repo, timing, o, std::move(plan), started, &log);
  ev.node = res.plan.target_cluster;
  ev.duration_seconds = res.rto_seconds;
  uint64_t bytes = 0;
  for (const auto& g : res.guests) bytes += g.recovery.size_bytes;
  ev.size_bytes = static_cast<int64_t>(bytes);
  nlohmann::json d = to_json(res);
  d.erase("guests");
  ev.details_json = d.dump();
  if (auto err = res.first_error()) {
    log.record_failure(ev, *err);
  } else {
    log.record(ev);
  }
  return res;
}

nlohmann::json to_json(const SitePlan& plan) {
  nlohmann::json guests = nlohmann::json::array();
  for (const auto& g : plan.guests) {
    nlohmann::json j{{"source_vmid", g.source_vmid},
                     {"type", g.type},
                     {"name", g.name},
                     {"source_node", g.source_node},
                     {"snapshot_id", g.snapshot_id},
                     {"snapshot_time", g.snapshot_time},
                     {"size_bytes", g.size_bytes},
                     {"disk_bytes", g.disk_bytes},
                     {"priority_class", g.priority_class},
                     {"critical", g.critical},
                     {"ha", g.target.ha.has_value()},
                     {"node", g.target.node},
                     {"vmid", g.target.vmid},
                     {"storage", g.target.storage},
                     {"move_disks", g.target.move_disks},
                     {"replace", g.target.force},
                     {"status", g.status.empty() ? "planned" : g.status}};
    if (!g.reason.empty()) j["reason"] = g.reason;
    guests.push_back(j);
  }
  nlohmann::json groups = nlohmann::json::array(), rules = nlohmann::json::array();
  for (const auto& s : plan.ha_groups) groups.push_back(s.id);
  for (const auto& s : plan.ha_rules) rules.push_back(s.id);
  return {{"target_cluster", plan.target_cluster},
          {"cluster_config_snapshot", plan.config_snapshot},
          {"guests", guests},
          {"ha_groups", groups},
          {"ha_rules", rules},
          {"notes", plan.notes}};
}

nlohmann::json to_json(const SiteRestoreResult& r) {
  nlohmann::json plan = to_json(r.plan);
  nlohmann::json guests = nlohmann::json::array();
  for (size_t i = 0; i < r.guests.size(); ++i) {
    const auto& g = r.guests[i];
    nlohmann::json j = plan["guests"][i];
    j["status"] = g.status;
    if (g.status == "ok" || g.status == "failed") {
      j["stages"] = pve::to_json(g.recovery.stages);
      j["stages_completed"] = g.recovery.completed;
      j["seconds"] = g.recovery.seconds();
      j["healthy_after_seconds"] = g.healthy_after_seconds;
      j["fetched_bytes"] = g.recovery.fetched_bytes;
      j["health"] = g.recovery.health_detail;
      j["ha_registered"] = g.recovery.ha_registered;
      j["started"] = g.recovery.started;
      if (g.recovery.error) j["error"] = g.recovery.error->what();
    }
    guests.push_back(j);
  }
  return {{"target_cluster", r.plan.target_cluster},
          {"cluster_config_snapshot", r.plan.config_snapshot},
          {"jobs", r.jobs},
          {"plan_seconds", r.plan_seconds},
          {"rto_seconds", r.rto_seconds},
          {"critical_rto_seconds", r.critical_rto_seconds},
          {"restored", r.count("ok")},
          {"failed", r.count("failed")},
          {"missing", r.count("missing")},
          {"skipped", r.count("skipped")},
          {"ha_groups", plan["ha_groups"]},
          {"ha_rules", plan["ha_rules"]},
          {"ha_notes", r.ha_notes},
          {"notes", r.plan.notes},
          {"guests", guests}};
}

}  // namespace pvesafe::jobs
