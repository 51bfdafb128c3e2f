// Cluster-wide endpoints: /version, /access/ticket, /cluster/{status,resources,nextid,tasks,
// config/*,backup,backup-info/not-backed-up,ceph/status}.
#include <algorithm>
#include <set>

#include "router.h"
#include "tasks.h"
#include "views.h"

namespace pvesim {

namespace {

json ceph_status(Sim& sim) {
  if (!sim.c.ceph) fail("binary not installed: /usr/bin/ceph-mon");
  // Shape follows a recorded PVE 8/9 response (pve-api-samples/cluster_ceph_status.json).
  json mons = json::array(), quorum = json::array(), quorum_names = json::array();
  int rank = 0;
  size_t up = 0;
  for (auto& n : sim.c.nodes) {
    if (rank >= 3) break;
    std::string addr = n.ip + ":6789";
    mons.push_back(
        {{"rank", rank},
         {"name", n.name},
         {"addr", addr + "/0"},
         {"public_addr", addr + "/0"},
         {"priority", 0},
         {"weight", 0},
         {"crush_location", "{}"},
         {"public_addrs",
          {{"addrvec", json::array({{{"type", "v2"}, {"addr", n.ip + ":3300"}, {"nonce", 0}},
                                    {{"type", "v1"}, {"addr", addr}, {"nonce", 0}}})}}}});
    if (n.online) {
      quorum.push_back(rank);
      quorum_names.push_back(n.name);
      ++up;
    }
    ++rank;
  }
  std::string health = sim.c.ceph_health;
  json checks = json::object();
  int osds = static_cast<int>(sim.c.nodes.size()) * 4, osds_up = 0;
  for (auto& n : sim.c.nodes) osds_up += n.online ? 4 : 0;
  if (osds_up < osds) {
    health = "HEALTH_WARN";
    checks["OSD_DOWN"] = {
        {"severity", "HEALTH_WARN"},
        {"muted", false},
        {"summary",
         {{"message", std::to_string(osds - osds_up) + " osds down"}, {"count", osds - osds_up}}},
        {"detail", json::array()}};
  }
  if (health != "HEALTH_OK" && checks.empty())
    checks["POOL_NEARFULL"] = {
        {"severity", health},
        {"muted", false},
        {"summary", {{"message", "1 pool(s) nearfull"}, {"count", 1}}},
        {"detail", json::array({{{"message", "pool 'vm_pool' is nearfull"}}})}};
  uint64_t total = static_cast<uint64_t>(osds) * (4ull << 40);
  return {{"fsid", "d11c6ea1-7ab2-41fa-99c5-b85f4d7ffd49"},
          {"election_epoch", 42},
          {"quorum", quorum},
          {"quorum_names", quorum_names},
          {"quorum_age", 86400},
          {"health", {{"status", health}, {"checks", checks}, {"mutes", json::array()}}},
          {"monmap",
           {{"epoch", 3},
            {"fsid", "d11c6ea1-7ab2-41fa-99c5-b85f4d7ffd49"},
            {"mons", mons},
            {"quorum", quorum},
            {"min_mon_release", sim.pve_major() >= 9 ? 19 : 18},
            {"min_mon_release_name", sim.pve_major() >= 9 ? "squid" : "reef"}}},
          {"osdmap",
           {{"epoch", 1200},
            {"num_osds", osds},
            {"num_up_osds", osds_up},
            {"num_in_osds", osds},
            {"num_remapped_pgs", 0},
            {"osd_up_since", sim.now() - 86400},
            {"osd_in_since", sim.now() - 86400}}},
          {"pgmap",
           {{"num_pgs", 129},
            {"num_pools", 2},
            {"num_objects", 120000},
            {"pgs_by_state", json::array({{{"state_name", "active+clean"}, {"count", 129}}})},
            {"bytes_total", total},
            {"bytes_used", total / 3},
            {"bytes_avail", total - total / 3},
            {"data_bytes", total / 9},
            {"read_bytes_sec", 50660},
            {"write_bytes_sec", 2697932},
            {"read_op_per_sec", 3},
            {"write_op_per_sec", 211}}},
          {"fsmap", {{"epoch", 1}, {"by_rank", json::array()}, {"up:standby", 0}}},
          {"mgrmap", {{"available", up > 0}, {"active_name", sim.c.nodes.front().name}}},
          {"servicemap", {{"epoch", 1}, {"services", json::object()}}},
          {"progress_events", json::object()}};
}

}  // namespace

void register_access_routes(Router& r) {
  r.add(
      "POST", "/access/ticket", [](Ctx& c) { return login(c.sim, c.params); }, true);
  r.add(
      "GET", "/access/ticket", [](Ctx&) { return json(nullptr); }, true);
  r.add("GET", "/access/permissions", [](Ctx& c) {
    json privs = json::object();
    for (const char* p :
         {"Sys.Audit", "Sys.Modify", "Sys.PowerMgmt", "VM.Audit", "VM.Allocate", "VM.Backup",
          "VM.PowerMgmt", "VM.Migrate", "VM.Snapshot", "VM.Config.Options", "Datastore.Audit",
          "Datastore.AllocateSpace", "Datastore.Allocate", "Permissions.Modify"})
      if (c.can(p)) privs[p] = 1;
    return json{{"/", privs}};
  });
}

void register_cluster_routes(Router& r) {
  r.add("GET", "/version", [](Ctx& c) {
    std::string v = c.sim.c.version;
    return json{{"version", v},
                {"release", v.substr(0, v.rfind('.'))},
                {"repoid", c.sim.pve_major() >= 9 ? "3e76eec21c4a14a7" : "2a55feb8b15ae19d"},
                {"console", "xtermjs"}};
  });

  r.add("GET", "/cluster/status", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    json out = json::array();
    out.push_back({{"type", "cluster"},
                   {"id", "cluster"},
                   {"name", c.sim.c.name},
                   {"nodes", c.sim.c.nodes.size()},
                   {"quorate", c.sim.quorate() ? 1 : 0},
                   {"version", static_cast<int>(c.sim.c.nodes.size()) + 2}});
    std::string local = c.sim.first_online_node();
    for (auto& n : c.sim.c.nodes)
      out.push_back({{"type", "node"},
                     {"id", "node/" + n.name},
                     {"name", n.name},
                     {"nodeid", n.nodeid},
                     {"ip", n.ip},
                     {"online", n.online ? 1 : 0},
                     {"local", n.name == local ? 1 : 0},
                     {"level", ""}});
    return out;
  });

  r.add("GET", "/cluster/resources", [](Ctx& c) {
    std::string type = c.params.count("type") ? c.params.at("type") : "";
    if (!type.empty() && type != "vm" && type != "storage" && type != "node" && type != "sdn")
      param_error(
          "type",
          "value '" + type + "' does not have a value in the enumeration 'vm, storage, node, sdn'");
    bool vm_audit = c.can("VM.Audit"), sys_audit = c.can("Sys.Audit"),
         ds_audit = c.can("Datastore.Audit");
    UsageIndex idx = build_usage_index(c.sim);
    // Serialized directly: at 10,000 guests a JSON tree costs more than the whole answer.
    std::string out = "[";
    out.reserve(c.sim.c.guests.size() * 330 + 4096);
    auto add = [&out](const json& j) {
      if (out.size() > 1) out += ',';
      out += j.dump();
    };
    if ((type.empty() || type == "vm") && vm_audit)
      for (auto& [id, g] : c.sim.c.guests) {
        if (out.size() > 1) out += ',';
        append_guest_resource(out, c.sim, g, &idx);
      }
    if ((type.empty() || type == "node") && sys_audit)
      for (auto& n : c.sim.c.nodes) add(node_resource(c.sim, n, &idx));
    if ((type.empty() || type == "storage") && ds_audit)
      for (auto& n : c.sim.c.nodes)
        for (auto& s : c.sim.c.storages)
          if (c.sim.storage_on_node(s, n.name)) add(storage_resource(c.sim, s, n, &idx));
    if ((type.empty() || type == "sdn") && c.can("SDN.Audit"))
      for (auto& n : c.sim.c.nodes)
        add({{"id", "sdn/" + n.name + "/localnetwork"},
             {"type", "sdn"},
             {"sdn", "localnetwork"},
             {"node", n.name},
             {"status", n.online ? "ok" : "unknown"}});
    out += ']';
    c.raw_data = std::move(out);
    return json(nullptr);
  });

  r.add("GET", "/cluster/nextid", [](Ctx& c) {
    if (c.params.count("vmid")) {
      int64_t v = int_param(c.params, "vmid", 0, 100, 999999999);
      if (c.sim.guest(static_cast<int>(v)))
        param_error("vmid", "VM " + std::to_string(v) + " already exists");
      return json(std::to_string(v));
    }
    int id = 100;
    while (c.sim.guest(id)) ++id;
    return json(std::to_string(id));
  });

  r.add("GET", "/cluster/tasks", [](Ctx& c) {
    json out = json::array();
    for (auto it = c.sim.task_order.rbegin(); it != c.sim.task_order.rend() && out.size() < 2000;
         ++it) {
      const Task& t = **it;
      if (!c.can("Sys.Audit") && t.user != c.who.user) continue;
      json e = task_list_entry(t);
      if (!t.running) e["saved"] = "1";
      out.push_back(e);
    }
    return out;
  });

  r.add("GET", "/cluster/config/nodes", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    json out = json::array();
    for (auto& n : c.sim.c.nodes)
      out.push_back({{"node", n.name},
                     {"name", n.name},
                     {"nodeid", std::to_string(n.nodeid)},
                     {"quorum_votes", "1"},
                     {"ring0_addr", n.ip}});
    return out;
  });

  r.add("GET", "/cluster/config/totem", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    return json{{"cluster_name", c.sim.c.name},
                {"config_version", std::to_string(c.sim.c.nodes.size() + 2)},
                {"interface", {{"0", {{"linknumber", "0"}}}}},
                {"ip_version", "ipv4-6"},
                {"link_mode", "passive"},
                {"secauth", "on"},
                {"version", "2"}};
  });

  r.add("GET", "/cluster/config/qdevice", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    return json::object();
  });

  r.add("GET", "/cluster/backup", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    json out = json::array();
    for (auto& j : c.sim.c.backup_jobs) {
      json e{{"id", j.id},
             {"type", "vzdump"},
             {"schedule", j.schedule},
             {"storage", j.storage},
             {"mode", j.mode},
             {"compress", j.compress},
             {"enabled", j.enabled ? 1 : 0},
             {"next-run", (c.sim.now() / 86400 + 1) * 86400 + 3600}};
      if (j.all)
        e["all"] = 1;
      else
        e["vmid"] = j.vmid;
      out.push_back(e);
    }
    return out;
  });

  r.add("GET", "/cluster/backup-info/not-backed-up", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    std::set<int> covered;
    bool all = false;
    for (auto& j : c.sim.c.backup_jobs) {
      if (!j.enabled) continue;
      if (j.all) all = true;
      for (auto& v : split(j.vmid, ','))
        if (!v.empty()) covered.insert(std::stoi(v));
    }
    json out = json::array();
    if (!all)
      for (auto& [id, g] : c.sim.c.guests)
        if (!covered.count(id)) out.push_back({{"vmid", id}, {"name", g.name}, {"type", g.type}});
    return out;
  });

  r.add("GET", "/cluster/ceph/status", [](Ctx& c) {
    if (!c.can("Sys.Audit") && !c.can("Datastore.Audit")) c.require("/", "Sys.Audit");
    return ceph_status(c.sim);
  });
  r.add("GET", "/nodes/{node}/ceph/status", [](Ctx& c) {
    if (!c.can("Sys.Audit") && !c.can("Datastore.Audit")) c.require("/", "Sys.Audit");
    return ceph_status(c.sim);
  });
}

}  // namespace pvesim
