#include "cluster/audit.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "core/error.h"
#include "core/json_number.h"

namespace pvesafe::cluster {

namespace {

using nlohmann::json;

// PVE returns flags and counters as numbers or strings depending on the endpoint and version.
long long as_int(const json& j, long long def = 0) {
  if (j.is_number_integer() || j.is_number_unsigned()) return j.get<long long>();
  if (j.is_number_float()) return clamp_to<long long>(j.get<double>(), def);
  if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
  if (j.is_string()) {
    try {
      return std::stoll(j.get<std::string>());
    } catch (...) {
      return def;
    }
  }
  return def;
}
double as_double(const json& j) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    try {
      return std::stod(j.get<std::string>());
    } catch (...) {
    }
  }
  return 0;
}
std::string as_str(const json& obj, const char* key) {
  if (!obj.is_object() || !obj.contains(key)) return "";
  const json& v = obj.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}
long long int_key(const json& obj, const char* key, long long def = 0) {
  if (!obj.is_object() || !obj.contains(key)) return def;
  return as_int(obj.at(key), def);
}

Finding finding(Severity sev, std::string check, std::string subject, std::string node,
                std::string message, std::string remedy) {
  Finding f;
  f.severity = sev;
  f.check = std::move(check);
  f.subject = std::move(subject);
  f.node = std::move(node);
  f.message = std::move(message);
  f.remedy = std::move(remedy);
  return f;
}

Finding query_failed(const std::string& check, const std::string& path, const std::string& node,
                     const std::exception& e) {
  return finding(Severity::kWarning, check, node.empty() ? path : "node " + node, node,
                 "could not read " + path + ": " + e.what(),
                 "check the API token's Sys.Audit privilege and that the node is reachable");
}

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// "pve-01:2,pve-02:1,pve-03" -> {(pve-01,2),(pve-02,1),(pve-03,0)}
std::vector<std::pair<std::string, int>> parse_node_list(const std::string& s) {
  std::vector<std::pair<std::string, int>> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find_first_of(", ;", pos);
    std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!item.empty()) {
      auto colon = item.find(':');
      int pri = 0;
      if (colon != std::string::npos) {
        try {
          pri = std::stoi(item.substr(colon + 1));
        } catch (...) {
        }
        item = item.substr(0, colon);
      }
      out.emplace_back(item, pri);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

// Debian version parts.
struct DebVersion {
  long long epoch = 0;
  std::string upstream, revision;
};
DebVersion split_version(const std::string& v) {
  DebVersion d;
  std::string rest = v;
  auto colon = rest.find(':');
  if (colon != std::string::npos) {
    try {
      d.epoch = std::stoll(rest.substr(0, colon));
    } catch (...) {
    }
    rest = rest.substr(colon + 1);
  }
  auto dash = rest.rfind('-');
  if (dash != std::string::npos) {
    d.upstream = rest.substr(0, dash);
    d.revision = rest.substr(dash + 1);
  } else {
    d.upstream = rest;
  }
  return d;
}
int order(char c) {
  if (std::isdigit(static_cast<unsigned char>(c))) return 0;
  if (std::isalpha(static_cast<unsigned char>(c))) return c;
  if (c == '~') return -1;
  if (c) return c + 256;
  return 0;
}
int verrevcmp(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    int first_diff = 0;
    while ((i < a.size() && !std::isdigit(static_cast<unsigned char>(a[i]))) ||
           (j < b.size() && !std::isdigit(static_cast<unsigned char>(b[j])))) {
      int ac = i < a.size() ? order(a[i]) : 0;
      int bc = j < b.size() ? order(b[j]) : 0;
      if (ac != bc) return ac - bc;
      ++i;
      ++j;
    }
    while (i < a.size() && a[i] == '0') ++i;
    while (j < b.size() && b[j] == '0') ++j;
    while (i < a.size() && std::isdigit(static_cast<unsigned char>(a[i])) && j < b.size() &&
           std::isdigit(static_cast<unsigned char>(b[j]))) {
      if (!first_diff) first_diff = a[i] - b[j];
      ++i;
      ++j;
    }
    if (i < a.size() && std::isdigit(static_cast<unsigned char>(a[i]))) return 1;
    if (j < b.size() && std::isdigit(static_cast<unsigned char>(b[j]))) return -1;
    if (first_diff) return first_diff;
  }
  return 0;
}

// "8.2.4" -> "8.2"; used to grade skew.
std::string major_minor(const std::string& v) {
  DebVersion d = split_version(v);
  auto first = d.upstream.find_first_of(".-+~");
  if (first == std::string::npos) return d.upstream;
  auto second = d.upstream.find_first_of(".-+~", first + 1);
  return d.upstream.substr(0, second);
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

int compare_debian_versions(const std::string& a, const std::string& b) {
  DebVersion x = split_version(a), y = split_version(b);
  if (x.epoch != y.epoch) return x.epoch < y.epoch ? -1 : 1;
  int r = verrevcmp(x.upstream, y.upstream);
  if (r) return r < 0 ? -1 : 1;
  r = verrevcmp(x.revision, y.revision);
  return r < 0 ? -1 : (r > 0 ? 1 : 0);
}

Severity AuditReport::worst() const {
  Severity w = Severity::kOk;
  for (const auto& f : findings) w = std::max(w, f.severity);
  return w;
}

nlohmann::json AuditReport::to_json() const {
  json j;
  std::map<std::string, int> counts{{"critical", 0}, {"warning", 0}, {"info", 0}};
  for (const auto& f : findings) counts[std::string(severity_name(f.severity))]++;
  j["summary"] = {{"worst", severity_name(worst())},
                  {"critical", counts["critical"]},
                  {"warning", counts["warning"]},
                  {"info", counts["info"]},
                  {"nodes", nodes}};
  j["checks"] = json::array();
  for (const auto& c : checks) {
    j["checks"].push_back(
        {{"check", c.check}, {"worst", severity_name(c.worst)}, {"findings", c.findings}});
  }
  j["findings"] = json::array();
  for (const auto& f : findings) j["findings"].push_back(cluster::to_json(f));
  return j;
}

std::vector<Finding> check_nodes(const pve::ApiGet& get, std::vector<std::string>* online,
                                 std::vector<std::string>* all) {
  std::vector<Finding> out;
  json nodes = get("/nodes");
  for (const auto& n : nodes) {
    std::string name = as_str(n, "node");
    if (name.empty()) continue;
    all->push_back(name);
    std::string status = as_str(n, "status");
    if (status == "online") {
      online->push_back(name);
    } else {
      out.push_back(finding(Severity::kCritical, "nodes", "node " + name, name,
                            "node " + name + " is " + (status.empty() ? "not online" : status),
                            "bring the node back or remove it from the cluster (pvecm delnode); "
                            "its HA guests are fenced and recovered elsewhere only with quorum"));
    }
  }
  std::sort(all->begin(), all->end());
  std::sort(online->begin(), online->end());
  if (all->empty()) {
    out.push_back(finding(Severity::kCritical, "nodes", "/nodes", "", "the API lists no nodes",
                          "check the API endpoint and token"));
  }
  return out;
}

std::vector<Finding> check_quorum(const pve::ApiGet& get) {
  std::vector<Finding> out;
  json status = get("/cluster/status");
  bool have_cluster = false;
  int members = 0, online = 0;
  for (const auto& e : status) {
    std::string type = as_str(e, "type");
    if (type == "cluster") {
      have_cluster = true;
      if (int_key(e, "quorate") == 0) {
        out.push_back(finding(
            Severity::kCritical, "quorum", "cluster " + as_str(e, "name"), "",
            "cluster " + as_str(e, "name") + " is not quorate: /etc/pve is read-only, HA does not "
                                             "recover guests",
            "restore the cluster network or bring nodes back; never set expected votes on a "
            "partition that may not be the majority"));
      }
    } else if (type == "node") {
      ++members;
      std::string name = as_str(e, "name");
      if (int_key(e, "online") != 0) {
        ++online;
      } else {
        out.push_back(finding(Severity::kCritical, "quorum", "node " + name, name,
                              "member " + name + " is not in the corosync membership",
                              "check corosync on " + name +
                                  " (systemctl status corosync; corosync-cfgtool -s)"));
      }
    }
  }
  if (!have_cluster) {
    out.push_back(finding(Severity::kInfo, "quorum", "cluster", "",
                          "this node is not part of a cluster (no quorum to check)",
                          "create or join a cluster (pvecm create / pvecm add) for HA"));
    return out;
  }
  if (members >= 2 && members % 2 == 0) {
    bool qdevice = false;
    try {
      json q = get("/cluster/config/qdevice");
      qdevice = q.is_object() && !q.empty();
    } catch (const Error&) {
    }
    if (!qdevice) {
      out.push_back(finding(
          members == 2 ? Severity::kCritical : Severity::kWarning, "quorum", "cluster", "",
          std::to_string(members) + " nodes and no QDevice: a " + std::to_string(members / 2) +
              "/" + std::to_string(members / 2) + " split leaves no side quorate",
          "add a QDevice (pvecm qdevice setup HOST) or an odd number of nodes"));
    }
  }
  return out;
}

std::vector<Finding> check_versions(const pve::ApiGet& get, const std::vector<std::string>& nodes,
                                    const AuditOptions& o) {
  std::vector<Finding> out;
  // package -> node -> version
  std::map<std::string, std::map<std::string, std::string>> versions;
  std::vector<std::string> queried;
  for (const auto& node : nodes) {
    std::string path = "/nodes/" + node + "/apt/versions";
    try {
      json list = get(path);
      for (const auto& p : list) {
        std::string state = as_str(p, "CurrentState");
        if (!state.empty() && state != "Installed") continue;
        std::string pkg = as_str(p, "Package"), ver = as_str(p, "Version");
        if (!pkg.empty() && !ver.empty()) versions[pkg][node] = ver;
      }
      queried.push_back(node);
    } catch (const std::exception& e) {
      out.push_back(query_failed("versions", path, node, e));
    }
  }
  for (const auto& [pkg, by_node] : versions) {
    bool cluster_pkg = contains(o.cluster_packages, pkg);
    if (cluster_pkg) {
      for (const auto& node : queried) {
        if (!by_node.count(node)) {
          out.push_back(finding(Severity::kWarning, "versions", "node " + node, node,
                                pkg + " is not installed on " + node + " but is on other nodes",
                                "install " + pkg + " on " + node + " (apt install " + pkg + ")"));
        }
      }
    }
    std::string newest;
    for (const auto& [node, ver] : by_node)
      if (newest.empty() || compare_debian_versions(ver, newest) > 0) newest = ver;
    std::map<std::string, std::vector<std::string>> nodes_by_version;
    for (const auto& [node, ver] : by_node) nodes_by_version[ver].push_back(node);
    if (nodes_by_version.size() < 2) continue;
    std::string spread;
    for (const auto& [ver, ns] : nodes_by_version)
      spread += (spread.empty() ? "" : "; ") + ver + " on " + join(ns);
    for (const auto& [node, ver] : by_node) {
      if (ver == newest) continue;
      Severity sev = cluster_pkg && major_minor(ver) != major_minor(newest) ? Severity::kCritical
                                                                          : Severity::kWarning;
      out.push_back(finding(sev, "versions", "node " + node, node,
                            pkg + " " + ver + " on " + node + " is behind " + newest + " (" +
                                spread + ")",
                            "upgrade " + node +
                                " (apt update && apt full-upgrade, one node at a time with its "
                                "guests migrated away), or run the pve_repos role with "
                                "pve_repos_align_versions=true"));
    }
  }
  return out;
}

std::vector<Finding> check_services(const pve::ApiGet& get, const std::vector<std::string>& nodes,
                                    const AuditOptions& o) {
  std::vector<Finding> out;
  for (const auto& node : nodes) {
    std::string path = "/nodes/" + node + "/services";
    json list;
    try {
      list = get(path);
    } catch (const std::exception& e) {
      out.push_back(query_failed("services", path, node, e));
      continue;
    }
    for (const auto& want : o.required_services) {
      const json* svc = nullptr;
      for (const auto& s : list) {
        if (as_str(s, "service") == want || as_str(s, "name") == want ||
            as_str(s, "service") == want + ".service") {
          svc = &s;
          break;
        }
      }
      if (!svc) {
        out.push_back(finding(Severity::kWarning, "services", "node " + node, node,
                              "service " + want + " is not reported by " + node,
                              "check that " + want + " is installed on " + node));
        continue;
      }
      std::string state = as_str(*svc, "state");
      std::string active = as_str(*svc, "active-state");
      bool running = state == "running" || (state.empty() && active == "active");
      if (running) continue;
      std::string why = "service " + want + " on " + node + " is " +
                        (state.empty() ? active : state) +
                        (active.empty() || active == state ? "" : " (" + active + ")");
      if (want == "pve-ha-lrm") why += ": HA guests on this node are neither watched nor fenced";
      if (want == "pve-ha-crm") why += ": this node cannot take over as HA manager";
      if (want == "corosync" || want == "pve-cluster") why += ": the node is out of the cluster";
      out.push_back(finding(Severity::kCritical, "services", "node " + node, node, why,
                            "on " + node + ": systemctl start " + want + "; journalctl -u " +
                                want + " -b shows why it stopped"));
    }
  }
  return out;
}

namespace {

struct Placement {
  std::string node;
  std::string type;  // qemu | lxc
};

std::vector<std::pair<std::string, std::string>> guest_volumes(const json& config,
                                                               const std::string& type) {
  std::vector<std::pair<std::string, std::string>> out;  // (key, storage)
  if (!config.is_object()) return out;
  for (const auto& [key, value] : config.items()) {
    if (!value.is_string()) continue;
    std::string v = value.get<std::string>();
    bool disk = false;
    if (type == "qemu") {
      for (const char* p : {"ide", "sata", "scsi", "virtio", "efidisk", "tpmstate"}) {
        std::string ps = p;
        if (key.rfind(ps, 0) == 0 && key.size() > ps.size() &&
            std::all_of(key.begin() + ps.size(), key.end(), ::isdigit))
          disk = true;
      }
      if (v.find("media=cdrom") != std::string::npos) disk = false;
    } else {
      if (key == "rootfs") disk = true;
      if (key.rfind("mp", 0) == 0 && key.size() > 2 &&
          std::all_of(key.begin() + 2, key.end(), ::isdigit))
        disk = true;
    }
    if (!disk) continue;
    std::string vol = v.substr(0, v.find(','));
    if (vol.rfind("none", 0) == 0) continue;
    if (!vol.empty() && vol[0] == '/') {
      out.emplace_back(key, vol);  // bind mount or device: node-local by definition
      continue;
    }
    auto colon = vol.find(':');
    if (colon == std::string::npos) continue;
    out.emplace_back(key, vol.substr(0, colon));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<Finding> check_ha(const pve::ApiGet& get, const std::vector<std::string>& online,
                              const std::vector<std::string>& all) {
  std::vector<Finding> out;
  json resources;
  try {
    resources = get("/cluster/ha/resources");
  } catch (const std::exception& e) {
    out.push_back(query_failed("ha", "/cluster/ha/resources", "", e));
    return out;
  }
  json cluster_resources;
  try {
    cluster_resources = get("/cluster/resources");
  } catch (const std::exception& e) {
    out.push_back(query_failed("ha", "/cluster/resources", "", e));
    return out;
  }
  std::map<std::string, Placement> guests;             // "vm:100" / "ct:101" -> placement
  std::map<std::pair<std::string, std::string>, bool> shared;  // (node, storage) -> shared
  for (const auto& r : cluster_resources) {
    std::string type = as_str(r, "type");
    if (type == "qemu" || type == "lxc") {
      std::string vmid = std::to_string(int_key(r, "vmid"));
      guests[(type == "qemu" ? "vm:" : "ct:") + vmid] = {as_str(r, "node"), type};
    } else if (type == "storage") {
      shared[{as_str(r, "node"), as_str(r, "storage")}] = int_key(r, "shared") != 0;
    }
  }

  // Rules (PVE 9) or groups (PVE 8): constraints on where a resource may run.
  struct Constraint {
    std::string id;
    std::vector<std::pair<std::string, int>> nodes;
    bool strict = false;
  };
  std::map<std::string, Constraint> by_resource;  // sid -> node-affinity constraint
  std::map<std::string, Constraint> groups;
  std::vector<Constraint> all_constraints;
  bool have_rules = false;
  try {
    json rules = get("/cluster/ha/rules");
    have_rules = true;
    for (const auto& r : rules) {
      if (as_str(r, "type") != "node-affinity" || int_key(r, "disable") != 0) continue;
      Constraint c{"rule " + as_str(r, "rule"), parse_node_list(as_str(r, "nodes")),
                   int_key(r, "strict") != 0};
      std::string list = as_str(r, "resources");
      for (size_t pos = 0; pos <= list.size();) {
        size_t comma = list.find(',', pos);
        std::string sid = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        sid.erase(std::remove(sid.begin(), sid.end(), ' '), sid.end());
        if (!sid.empty()) by_resource[sid] = c;
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
      all_constraints.push_back(c);
    }
  } catch (const Error& e) {
    if (e.code() != Errc::kNotFound) out.push_back(query_failed("ha", "/cluster/ha/rules", "", e));
  }
  try {
    json gl = get("/cluster/ha/groups");
    for (const auto& g : gl) {
      Constraint c{"group " + as_str(g, "group"), parse_node_list(as_str(g, "nodes")),
                   int_key(g, "restricted") != 0};
      groups[as_str(g, "group")] = c;
      all_constraints.push_back(c);
    }
  } catch (const Error& e) {
    if (!have_rules && e.code() != Errc::kNotFound)
      out.push_back(query_failed("ha", "/cluster/ha/groups", "", e));
  }

  for (const auto& c : all_constraints) {
    std::vector<std::string> unknown, listed;
    std::set<int> priorities;
    for (const auto& [n, pri] : c.nodes) {
      listed.push_back(n);
      priorities.insert(pri);
      if (!contains(all, n)) unknown.push_back(n);
    }
    if (!unknown.empty()) {
      bool none_left = unknown.size() == c.nodes.size();
      out.push_back(finding(none_left && c.strict ? Severity::kCritical : Severity::kWarning, "ha",
                            c.id, "",
                            c.id + " names unknown node(s) " + join(unknown) +
                                " (cluster nodes: " + join(all) + ")",
                            "fix the node names in " + c.id + " (typo, or a removed node)"));
    }
    std::vector<std::string> sorted_listed = listed;
    std::sort(sorted_listed.begin(), sorted_listed.end());
    if (all.size() > 1 && sorted_listed == all && priorities.size() == 1) {
      out.push_back(finding(Severity::kWarning, "ha", c.id, "",
                            c.id + " lists every node with the same priority (" +
                                std::to_string(*priorities.begin()) +
                                "): it expresses no preferred order",
                            "give the nodes priorities (e.g. " + all.front() +
                                ":2,...) for a preferred order, or remove the " +
                                c.id.substr(0, c.id.find(' '))));
    }
  }

  // HA-capable nodes: online, and the LRM not in maintenance.
  std::vector<std::string> capable = online;
  try {
    json st = get("/cluster/ha/status/current");
    for (const auto& e : st) {
      if (as_str(e, "type") != "lrm") continue;
      std::string s = as_str(e, "status");
      if (s.find("maintenance") != std::string::npos || s.find("dead") != std::string::npos ||
          s.find("old timestamp") != std::string::npos) {
        std::string n = as_str(e, "node");
        capable.erase(std::remove(capable.begin(), capable.end(), n), capable.end());
      }
    }
  } catch (const Error&) {
  }

  int active_resources = 0;
  for (const auto& r : resources) {
    std::string sid = as_str(r, "sid");
    std::string state = as_str(r, "state");
    if (sid.empty() || state == "ignored" || state == "disabled") continue;
    ++active_resources;
    auto g = guests.find(sid);
    if (g == guests.end()) {
      out.push_back(finding(Severity::kWarning, "ha", sid, "",
                            sid + " is an HA resource but no such guest exists",
                            "remove the stale HA resource (ha-manager remove " + sid + ")"));
      continue;
    }
    const Placement& p = g->second;
    std::string vmid = sid.substr(sid.find(':') + 1);
    std::string path = "/nodes/" + p.node + "/" + p.type + "/" + vmid + "/config";
    try {
      json config = get(path);
      for (const auto& [key, storage] : guest_volumes(config, p.type)) {
        bool is_path = !storage.empty() && storage[0] == '/';
        auto s = shared.find({p.node, storage});
        bool is_shared = !is_path && s != shared.end() && s->second;
        if (is_shared) continue;
        out.push_back(finding(
            Severity::kCritical, "ha", sid + " on " + p.node, p.node,
            sid + " " + key + " is on " +
                (is_path ? "node-local path " + storage
                         : (s == shared.end() ? "storage " + storage + " (unknown on " + p.node + ")"
                                              : "non-shared storage " + storage)) +
                " of " + p.node + ": HA cannot recover it on another node",
            "move the disk to shared storage (qm disk move / pct move-volume), or set up "
            "storage replication and accept losing the changes since the last sync"));
      }
    } catch (const std::exception& e) {
      out.push_back(query_failed("ha", path, p.node, e));
    }

    // Failover targets.
    std::vector<std::string> allowed = capable;
    const Constraint* c = nullptr;
    if (auto it = by_resource.find(sid); it != by_resource.end()) c = &it->second;
    std::string group = as_str(r, "group");
    if (!c && !group.empty() && groups.count(group)) c = &groups[group];
    if (c && c->strict) {
      std::vector<std::string> in_rule;
      for (const auto& n : allowed)
        if (std::any_of(c->nodes.begin(), c->nodes.end(),
                        [&](const auto& x) { return x.first == n; }))
          in_rule.push_back(n);
      allowed = in_rule;
    }
    if (allowed.size() <= 1) {
      out.push_back(finding(
          Severity::kCritical, "ha", sid, p.node,
          sid + " can run on " +
              (allowed.empty() ? std::string("no node") : "only " + allowed.front()) +
              (c && c->strict ? " (strict " + c->id + ")" : "") + ": no failover target",
          c && c->strict ? "add nodes to " + c->id + " or make it non-strict"
                         : "bring more nodes online / out of maintenance"));
    }
  }
  if (active_resources > 0 && capable.size() == 1) {
    out.push_back(finding(Severity::kCritical, "ha", "cluster", capable.front(),
                          "only one HA-capable node (" + capable.front() + ") for " +
                              std::to_string(active_resources) + " HA resource(s)",
                          "bring other nodes online or out of maintenance mode"));
  }
  return out;
}

std::vector<Finding> check_storage(const pve::ApiGet& get, const AuditOptions& o) {
  std::vector<Finding> out;
  json res = get("/cluster/resources");
  std::set<std::string> seen_shared;
  for (const auto& r : res) {
    if (as_str(r, "type") != "storage") continue;
    std::string node = as_str(r, "node"), storage = as_str(r, "storage");
    bool is_shared = int_key(r, "shared") != 0;
    if (as_str(r, "status") != "available") continue;
    if (is_shared && !seen_shared.insert(storage).second) continue;
    double used = as_double(r.value("disk", json(0))), size = as_double(r.value("maxdisk", json(0)));
    if (size <= 0) continue;
    double ratio = used / size;
    if (ratio < o.storage_warning_ratio) continue;
    std::string subject = "storage " + storage + (is_shared ? "" : " on " + node);
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.1f%%", ratio * 100);
    out.push_back(finding(ratio >= o.storage_critical_ratio ? Severity::kCritical : Severity::kWarning,
                          "storage", subject, is_shared ? "" : node,
                          subject + " is " + pct + " full",
                          "free space or extend " + storage +
                              ": full storage stops guests, backups and replication"));
  }
  return out;
}

std::vector<Finding> check_certificates(const pve::ApiGet& get,
                                        const std::vector<std::string>& nodes,
                                        const AuditOptions& o) {
  std::vector<Finding> out;
  std::time_t now = o.now ? o.now : std::time(nullptr);
  for (const auto& node : nodes) {
    std::string path = "/nodes/" + node + "/certificates/info";
    json list;
    try {
      list = get(path);
    } catch (const std::exception& e) {
      out.push_back(query_failed("certs", path, node, e));
      continue;
    }
    for (const auto& c : list) {
      long long notafter = int_key(c, "notafter", 0);
      if (notafter == 0) continue;
      long long days = (notafter - static_cast<long long>(now)) / 86400;
      std::string file = as_str(c, "filename");
      if (days >= o.cert_warning_days) continue;
      Severity sev = days < o.cert_critical_days ? Severity::kCritical : Severity::kWarning;
      std::string msg = notafter <= now ? "certificate " + file + " on " + node + " has expired"
                                        : "certificate " + file + " on " + node + " expires in " +
                                              std::to_string(days) + " day(s)";
      out.push_back(finding(sev, "certs", "node " + node, node, msg,
                            file == "pve-ssl.pem"
                                ? "renew it: pvecm updatecerts --force on " + node
                                : "renew it (ACME: pvenode acme cert renew; custom: upload a new "
                                  "certificate)"));
    }
  }
  return out;
}

std::vector<Finding> check_corosync_api(const pve::ApiGet& get, const AuditOptions& o) {
  std::vector<Finding> out;
  json nodes, totem;
  try {
    nodes = get("/cluster/config/nodes");
    totem = get("/cluster/config/totem");
  } catch (const Error& e) {
    if (e.code() == Errc::kNotFound) return out;  // not a cluster, or an API without it
    out.push_back(query_failed("corosync", "/cluster/config", "", e));
    return out;
  }
  CorosyncConf c;
  c.source = "corosync.conf (API)";
  c.quorum_provider = "corosync_votequorum";  // PVE always uses votequorum
  c.cluster_name = as_str(totem, "cluster_name");
  if (totem.is_object() && totem.contains("config_version"))
    c.config_version = static_cast<uint64_t>(as_int(totem["config_version"]));
  if (totem.is_object() && totem.contains("token"))
    c.token = static_cast<uint32_t>(as_int(totem["token"]));
  c.secauth = as_str(totem, "secauth");
  c.transport = totem.is_object() && totem.contains("transport") ? as_str(totem, "transport") : "knet";
  for (const auto& n : nodes) {
    CorosyncConfNode cn;
    cn.name = as_str(n, "name").empty() ? as_str(n, "node") : as_str(n, "name");
    if (n.contains("nodeid")) cn.nodeid = static_cast<uint32_t>(as_int(n["nodeid"]));
    cn.quorum_votes = static_cast<int>(int_key(n, "quorum_votes", 1));
    for (int l = 0; l < 8; ++l) {
      for (const std::string& k : {"ring" + std::to_string(l) + "_addr",
                                   "link" + std::to_string(l) + "_addr"}) {
        std::string a = as_str(n, k.c_str());
        if (!a.empty()) cn.links[l] = a;
      }
    }
    c.nodes.push_back(cn);
  }
  try {
    json q = get("/cluster/config/qdevice");
    c.has_qdevice = q.is_object() && !q.empty();
  } catch (const Error&) {
  }
  for (auto& f : lint_corosync(c, o.corosync)) {
    // Vote parity is reported by the quorum check from the live membership.
    if (f.check == "corosync.votes" && f.message.find("no QDevice") != std::string::npos) continue;
    out.push_back(std::move(f));
  }
  return out;
}

namespace {

void run_check(AuditReport& report, const AuditOptions& o, const std::string& id,
               const std::function<std::vector<Finding>()>& fn) {
  if (contains(o.skip, id)) return;
  CheckRun run;
  run.check = id;
  std::vector<Finding> found;
  try {
    found = fn();
  } catch (const std::exception& e) {
    found.push_back(finding(Severity::kWarning, id, id, "", "check " + id + " failed: " + e.what(),
                            "see the error; the other checks still ran"));
  }
  for (const auto& f : found) run.worst = std::max(run.worst, f.severity);
  run.findings = found.size();
  report.checks.push_back(run);
  for (auto& f : found) report.findings.push_back(std::move(f));
}

void sort_findings(std::vector<Finding>& v) {
  std::stable_sort(v.begin(), v.end(), [](const Finding& a, const Finding& b) {
    if (a.severity != b.severity) return a.severity > b.severity;
    if (a.check != b.check) return a.check < b.check;
    return a.subject < b.subject;
  });
}

void lint_files(AuditReport& report, const AuditOptions& o) {
  run_check(report, o, "corosync", [&] {
    std::vector<Finding> out;
    std::vector<CorosyncConf> copies;
    for (const auto& path : o.corosync_files) {
      CorosyncConf c;
      try {
        c = CorosyncConf::load(path);
      } catch (const Error& e) {
        if (e.code() != Errc::kConfig) throw;
        out.push_back(finding(Severity::kCritical, "corosync.syntax", path, "", e.message(),
                              "corosync refuses to start with this file: fix it before copying "
                              "it into place"));
        continue;
      }
      for (auto& f : lint_corosync(c, o.corosync)) out.push_back(std::move(f));
      copies.push_back(std::move(c));
    }
    for (auto& f : lint_config_versions(copies)) out.push_back(std::move(f));
    return out;
  });
}

}  // namespace

AuditReport run_audit(const pve::ApiGet& get, const AuditOptions& o) {
  AuditReport report;
  std::vector<std::string> online, all;
  // The node list drives the per-node checks, so its failure is fatal (an Error reaches the CLI).
  {
    CheckRun run;
    run.check = "nodes";
    auto found = check_nodes(get, &online, &all);
    for (const auto& f : found) run.worst = std::max(run.worst, f.severity);
    run.findings = found.size();
    report.checks.push_back(run);
    for (auto& f : found) report.findings.push_back(std::move(f));
  }
  report.nodes = all;
  run_check(report, o, "quorum", [&] { return check_quorum(get); });
  run_check(report, o, "versions", [&] { return check_versions(get, online, o); });
  run_check(report, o, "services", [&] { return check_services(get, online, o); });
  run_check(report, o, "ha", [&] { return check_ha(get, online, all); });
  run_check(report, o, "storage", [&] { return check_storage(get, o); });
  run_check(report, o, "certs", [&] { return check_certificates(get, online, o); });
  if (!o.corosync_files.empty()) {
    lint_files(report, o);
  } else if (o.corosync_from_api) {
    run_check(report, o, "corosync", [&] { return check_corosync_api(get, o); });
  }
  sort_findings(report.findings);
  return report;
}

AuditReport audit_corosync_files(const AuditOptions& o) {
  AuditReport report;
  lint_files(report, o);
  sort_findings(report.findings);
  return report;
}

}  // namespace pvesafe::cluster
