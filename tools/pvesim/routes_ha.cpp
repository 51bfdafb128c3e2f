// HA endpoints: /cluster/ha/resources, /cluster/ha/rules (PVE 9), /cluster/ha/groups (PVE 8),
// /cluster/ha/status/current and /cluster/ha/status/manager_status.
#include <algorithm>
#include <ctime>
#include <set>

#include "ha_manager.h"
#include "router.h"
#include "views.h"

namespace pvesim {

namespace {

std::string ctime_str(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm);
  return buf;
}

json ha_resource_json(Sim& sim, const HaResource& r) {
  json j{{"sid", r.sid},
         {"type", r.sid.substr(0, 2)},
         {"state", r.state},
         {"max_restart", r.max_restart},
         {"max_relocate", r.max_relocate},
         {"digest", "4f1d6e0c0d8b5e2e1c3a7b9d2f4e6a8c0b1d3f5e"}};
  if (sim.pve_major() >= 9)
    j["failback"] = r.failback ? 1 : 0;
  else if (!r.group.empty())
    j["group"] = r.group;
  if (!r.comment.empty()) j["comment"] = r.comment;
  return j;
}

void check_sid(Sim& sim, const std::string& sid) {
  auto colon = sid.find(':');
  if (colon == std::string::npos) param_error("sid", "unable to parse service id");
  std::string t = sid.substr(0, colon);
  if (t != "vm" && t != "ct") param_error("sid", "unknown resource type '" + t + "'");
  int vmid = std::stoi(sid.substr(colon + 1));
  Guest* g = sim.guest(vmid);
  if (!g || (t == "vm") != (g->type == "qemu")) fail("no such resource " + sid);
}

// The guest behind an HA sid, or nullptr.
Guest* sid_guest(Sim& sim, const std::string& sid) {
  auto colon = sid.find(':');
  if (colon == std::string::npos) return nullptr;
  return sim.guest(std::stoi(sid.substr(colon + 1)));
}

std::string master_node(Sim& sim) { return sim.first_online_node(); }

}  // namespace

void register_ha_routes(Router& r) {
  r.add("GET", "/cluster/ha/resources", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    json out = json::array();
    std::string type = c.params.count("type") ? c.params.at("type") : "";
    for (auto& res : c.sim.c.ha_resources)
      if (type.empty() || res.sid.substr(0, 2) == type) out.push_back(ha_resource_json(c.sim, res));
    return out;
  });
  r.add("GET", "/cluster/ha/resources/{sid}", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    HaResource* res = c.sim.ha_resource(c.var("sid"));
    if (!res) fail("no such resource '" + c.var("sid") + "'");
    return ha_resource_json(c.sim, *res);
  });
  r.add("POST", "/cluster/ha/resources", [](Ctx& c) {
    c.require("/", "Sys.Console");
    std::string sid = req_param(c.params, "sid");
    if (sid.find(':') == std::string::npos) sid = "vm:" + sid;
    check_sid(c.sim, sid);
    if (c.sim.ha_resource(sid)) fail("resource ID '" + sid + "' already defined");
    HaResource res;
    res.sid = sid;
    if (auto v = opt_param(c.params, "state")) res.state = *v;
    if (auto v = opt_param(c.params, "group")) res.group = *v;
    if (auto v = opt_param(c.params, "comment")) res.comment = *v;
    res.max_restart = static_cast<int>(int_param(c.params, "max_restart", 1, 0, 10));
    res.max_relocate = static_cast<int>(int_param(c.params, "max_relocate", 1, 0, 10));
    res.failback = bool_param(c.params, "failback", true);
    c.sim.c.ha_resources.push_back(res);
    return json(nullptr);
  });
  r.add("PUT", "/cluster/ha/resources/{sid}", [](Ctx& c) {
    c.require("/", "Sys.Console");
    HaResource* res = c.sim.ha_resource(c.var("sid"));
    if (!res) fail("no such resource '" + c.var("sid") + "'");
    if (auto v = opt_param(c.params, "state")) res->state = *v;
    if (auto v = opt_param(c.params, "group")) res->group = *v;
    if (auto v = opt_param(c.params, "comment")) res->comment = *v;
    res->max_restart =
        static_cast<int>(int_param(c.params, "max_restart", res->max_restart, 0, 10));
    res->max_relocate =
        static_cast<int>(int_param(c.params, "max_relocate", res->max_relocate, 0, 10));
    return json(nullptr);
  });
  r.add("DELETE", "/cluster/ha/resources/{sid}", [](Ctx& c) {
    c.require("/", "Sys.Console");
    auto& v = c.sim.c.ha_resources;
    auto it = std::find_if(v.begin(), v.end(),
                           [&](const HaResource& x) { return x.sid == c.var("sid"); });
    if (it == v.end()) fail("no such resource '" + c.var("sid") + "'");
    v.erase(it);
    return json(nullptr);
  });

  r.add("GET", "/cluster/ha/rules", [](Ctx& c) {
    if (c.sim.pve_major() < 9)
      throw ApiError(501, "Method 'GET /cluster/ha/rules' not implemented");
    c.require("/", "Sys.Audit");
    json out = json::array();
    int order = 0;
    for (auto& rule : c.sim.c.ha_rules) {
      ++order;
      if (auto t = opt_param(c.params, "type"); t && *t != rule.type) continue;
      if (auto res = opt_param(c.params, "resource");
          res && ("," + rule.resources + ",").find("," + *res + ",") == std::string::npos)
        continue;
      json j{{"rule", rule.rule},
             {"type", rule.type},
             {"resources", rule.resources},
             {"order", order},
             {"digest", "9a0c5b1e2d3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b"}};
      if (rule.type == "node-affinity") {
        j["nodes"] = rule.nodes;
        j["strict"] = rule.strict;
      } else {
        j["affinity"] = rule.affinity.empty() ? "positive" : rule.affinity;
      }
      if (rule.disable) j["disable"] = 1;
      if (!rule.comment.empty()) j["comment"] = rule.comment;
      out.push_back(j);
    }
    return out;
  });
  r.add("POST", "/cluster/ha/rules", [](Ctx& c) {
    if (c.sim.pve_major() < 9)
      throw ApiError(501, "Method 'POST /cluster/ha/rules' not implemented");
    c.require("/", "Sys.Console");
    HaRule rule;
    rule.rule = req_param(c.params, "rule");
    rule.type = req_param(c.params, "type");
    if (rule.type != "node-affinity" && rule.type != "resource-affinity")
      param_error(
          "type",
          "value '" + rule.type +
              "' does not have a value in the enumeration 'node-affinity, resource-affinity'");
    rule.resources = req_param(c.params, "resources");
    if (rule.type == "node-affinity")
      rule.nodes = req_param(c.params, "nodes");
    else
      rule.affinity = req_param(c.params, "affinity");
    rule.strict = bool_param(c.params, "strict", false) ? 1 : 0;
    rule.disable = bool_param(c.params, "disable", false) ? 1 : 0;
    if (auto v = opt_param(c.params, "comment")) rule.comment = *v;
    for (auto& x : c.sim.c.ha_rules)
      if (x.rule == rule.rule) fail("rule '" + rule.rule + "' already defined");
    c.sim.c.ha_rules.push_back(rule);
    return json(nullptr);
  });
  r.add("DELETE", "/cluster/ha/rules/{rule}", [](Ctx& c) {
    if (c.sim.pve_major() < 9)
      throw ApiError(501,
                     "Method 'DELETE /cluster/ha/rules/" + c.var("rule") + "' not implemented");
    c.require("/", "Sys.Console");
    auto& v = c.sim.c.ha_rules;
    auto it =
        std::find_if(v.begin(), v.end(), [&](const HaRule& x) { return x.rule == c.var("rule"); });
    if (it == v.end()) fail("no such ha rule '" + c.var("rule") + "'");
    v.erase(it);
    return json(nullptr);
  });

  r.add("GET", "/cluster/ha/groups", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    json out = json::array();
    if (c.sim.pve_major() >= 9) return out;  // migrated to rules in PVE 9
    for (auto& g : c.sim.c.ha_groups) {
      json j{{"group", g.group},           {"type", "group"},
             {"nodes", g.nodes},           {"restricted", g.restricted},
             {"nofailback", g.nofailback}, {"digest", "1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c"}};
      if (!g.comment.empty()) j["comment"] = g.comment;
      out.push_back(j);
    }
    return out;
  });
  r.add("POST", "/cluster/ha/groups", [](Ctx& c) {
    c.require("/", "Sys.Console");
    if (c.sim.pve_major() >= 9) fail("ha groups have been migrated to rules");
    HaGroup g;
    g.group = req_param(c.params, "group");
    g.nodes = req_param(c.params, "nodes");
    g.restricted = bool_param(c.params, "restricted", false) ? 1 : 0;
    g.nofailback = bool_param(c.params, "nofailback", false) ? 1 : 0;
    if (auto v = opt_param(c.params, "comment")) g.comment = *v;
    c.sim.c.ha_groups.push_back(g);
    return json(nullptr);
  });

  r.add("GET", "/cluster/ha/status/current", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    Sim& s = c.sim;
    int64_t now = s.now();
    std::string master = master_node(s);
    json out = json::array();
    out.push_back({{"id", "quorum"},
                   {"type", "quorum"},
                   {"node", master},
                   {"quorate", s.quorate() ? 1 : 0},
                   {"status", s.quorate() ? "OK" : "No quorum on node '" + master + "'!"}});
    out.push_back({{"id", "master"},
                   {"type", "master"},
                   {"node", master},
                   {"timestamp", now - 4},
                   {"status", master + " (active, " + ctime_str(now - 4) + ")"}});
    if (s.pve_major() >= 9)
      out.push_back({{"id", "fencing"},
                     {"type", "fencing"},
                     {"node", master},
                     {"armed-state", s.c.ha_resources.empty() ? "standby" : "armed"},
                     {"status", s.c.ha_resources.empty() ? "standby (no HA resources)"
                                                         : "armed (CRM watchdog active)"}});
    // Nodes running HA resources (their LRM is active), in one pass over the resources.
    std::set<std::string> ha_nodes;
    for (auto& res : s.c.ha_resources)
      if (Guest* g = sid_guest(s, res.sid)) ha_nodes.insert(g->node);
    for (auto& n : s.c.nodes) {
      bool has = ha_nodes.count(n.name) != 0;
      int64_t ts = n.online ? now - 2 : now - 120;
      std::string st = !n.online ? "old timestamp - dead?"
                       : ha_node_state(s, n.name) == "fence"
                           ? "old timestamp - dead?"
                           : (has ? "active, watchdog active" : "idle, watchdog standby");
      out.push_back({{"id", "lrm:" + n.name},
                     {"type", "lrm"},
                     {"node", n.name},
                     {"timestamp", ts},
                     {"status", n.name + " (" + st + ", " + ctime_str(ts) + ")"}});
    }
    for (auto& res : s.c.ha_resources) {
      Guest* g = sid_guest(s, res.sid);
      std::string node = g ? g->node : "";
      std::string state = g ? ha_state(s, *g) : "error";
      json j{{"id", "service:" + res.sid},
             {"type", "service"},
             {"sid", res.sid},
             {"node", node},
             {"state", state},
             {"crm_state", state},
             {"request_state", res.state},
             {"max_restart", res.max_restart},
             {"max_relocate", res.max_relocate},
             {"status", res.sid + " (" + node + ", " + state + ")"}};
      if (s.pve_major() >= 9)
        j["failback"] = res.failback ? 1 : 0;
      else if (!res.group.empty())
        j["group"] = res.group;
      if (!res.comment.empty()) j["comment"] = res.comment;
      out.push_back(j);
    }
    return out;
  });

  // The journal of the HA daemons on a node (journalctl's short format): the CRM's state changes,
  // fencing and recoveries, the LRM's starts. Other services log nothing here.
  r.add("GET", "/nodes/{node}/syslog", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Syslog");
    std::string service = c.params.count("service") ? c.params.at("service") : "";
    json lines = ha_syslog(c.sim, n.name, service);
    int64_t start = int_param(c.params, "start", 0, 0, 1 << 30);
    int64_t limit = int_param(c.params, "limit", 50, 0, 1 << 30);
    json out = json::array();
    for (int64_t i = start; i < static_cast<int64_t>(lines.size()) && i < start + limit; ++i)
      out.push_back(lines[static_cast<size_t>(i)]);
    return out;
  });

  r.add("GET", "/cluster/ha/status/manager_status", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    Sim& s = c.sim;
    int64_t now = s.now();
    json lrm = json::object(), node_status = json::object(), node_request = json::object(),
         service_status = json::object();
    // Nodes running HA resources (their LRM is active), in one pass over the resources.
    std::set<std::string> ha_nodes;
    for (auto& res : s.c.ha_resources)
      if (Guest* g = sid_guest(s, res.sid)) ha_nodes.insert(g->node);
    for (auto& n : s.c.nodes) {
      bool has = ha_nodes.count(n.name) != 0;
      lrm[n.name] = {{"mode", "active"},
                     {"results", json::object()},
                     {"state", has ? "active" : "wait_for_agent_lock"},
                     {"timestamp", n.online ? now - 1 : now - 120}};
      node_status[n.name] = ha_node_state(s, n.name);
      node_request[n.name] = json::object();
    }
    for (auto& res : s.c.ha_resources) {
      Guest* g = sid_guest(s, res.sid);
      if (!g) continue;
      service_status[res.sid] = {
          {"node", g->node}, {"state", ha_state(s, *g)}, {"uid", random_hex(11).substr(0, 22)}};
      if (g->status == "running") service_status[res.sid]["running"] = 1;
    }
    return json{{"lrm_status", lrm},
                {"manager_status",
                 {{"master_node", master_node(s)},
                  {"node_status", node_status},
                  {"node_request", node_request},
                  {"service_status", service_status},
                  {"timestamp", now - 3}}},
                {"quorum", {{"node", master_node(s)}, {"quorate", s.quorate() ? "1" : "0"}}}};
  });
}

}  // namespace pvesim
