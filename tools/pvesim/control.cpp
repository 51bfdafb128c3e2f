#include "control.h"

#include <httplib.h>

#include <chrono>
#include <thread>

#include "ha_manager.h"
#include "pmxcfs.h"
#include "router.h"
#include "views.h"

namespace pvesim {

namespace {

void reply(httplib::Response& res, const json& data) {
  res.status = 200;
  res.set_content(json{{"data", data}}.dump(), "application/json;charset=UTF-8");
}

std::vector<Node*> target_nodes(Sim& sim, const Params& p) {
  std::vector<Node*> out;
  auto it = p.find("node");
  if (it == p.end() || it->second.empty()) {
    for (auto& n : sim.c.nodes) out.push_back(&n);
    return out;
  }
  Node* n = sim.node(it->second);
  if (!n) throw ApiError(404, "no such node '" + it->second + "'");
  out.push_back(n);
  return out;
}

json guest_info(Sim& sim, const Guest& g) {
  json j{
      {"vmid", g.vmid},     {"type", g.type}, {"node", g.node},     {"name", g.name},
      {"status", g.status}, {"lock", g.lock}, {"config", g.config}, {"backup_size", g.backup_size}};
  j["restored_from"] = g.restored_from.empty() ? json(nullptr) : json(g.restored_from);
  j["sha256"] = g.restored_sha256.empty() ? json(nullptr) : json(g.restored_sha256);
  j["restored_bytes"] = g.restored_bytes < 0 ? json(nullptr) : json(g.restored_bytes);
  j["disks"] = json::array();
  for (const auto& d : g.restored_disks)
    j["disks"].push_back({{"name", d.name}, {"size", d.size}, {"sha256", d.sha256}});
  j["entries"] = g.restored_entries < 0 ? json(nullptr) : json(g.restored_entries);
  j["ha"] = ha_state(sim, g).empty() ? json(nullptr) : json(ha_state(sim, g));
  return j;
}

}  // namespace

void handle_control(Sim& sim, const httplib::Request& req, httplib::Response& res) {
  try {
    if (req.remote_addr != "127.0.0.1" && req.remote_addr != "::1" &&
        req.remote_addr != "::ffff:127.0.0.1")
      throw ApiError(403, "the pvesim control plane answers loopback clients only");
    Params p;
    for (const auto& [k, v] : req.params) p[k] = v;
    if (!req.body.empty() &&
        starts_with(req.get_header_value("Content-Type"), "application/x-www-form-urlencoded"))
      parse_form(req.body, p);
    std::vector<std::string> seg = split(req.path.substr(std::string("/pvesim/").size()), '/');
    const std::string& what = seg[0];
    const bool post = req.method == "POST";
    if (what == "reset" && post) {
      // Tasks still running (a start nobody waited for) would change the state after it was
      // restored: let them finish first (held ones are released), for at most 30 s.
      sim.hold_tasks = false;
      for (int i = 0; i < 3000 && sim.running_workers.load() > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::lock_guard<std::mutex> lk(sim.mu);
    PmxcfsRound round(sim, post);
    auto param = [&](const char* k) { return p.count(k) ? p.at(k) : std::string(); };

    if (what == "node" && post && seg.size() == 3) {
      Node* n = sim.node(seg[1]);
      if (!n) throw ApiError(404, "no such node '" + seg[1] + "'");
      if (seg[2] != "offline" && seg[2] != "online")
        throw ApiError(400, "use .../offline or .../online");
      n->online = seg[2] == "online";
      if (n->online) n->boot_time = sim.now() - 5;
      json moved = json::array();
      if (!n->online && p.count("recover") && p.at("recover") == "1")
        moved = ha_recover_now(sim, n->name);
      return reply(res,
                   json{{"node", n->name}, {"online", n->online ? 1 : 0}, {"recovered", moved}});
    }
    if (what == "fail-next-task" && post) {
      int count = p.count("count") ? std::stoi(p.at("count")) : 1;
      bool warn = param("mode") == "warnings";
      for (int i = 0; i < count; ++i)
        (warn ? sim.faults.warn_next : sim.faults.fail_next)
            .emplace_back(param("node"), param("type"));
      return reply(res, json{{"pending_failures", sim.faults.fail_next.size()},
                             {"pending_warnings", sim.faults.warn_next.size()}});
    }
    if (what == "slow" && post) {
      sim.faults.slow_ms = p.count("ms") ? std::stoi(p.at("ms")) : 0;
      sim.faults.slow_path = param("path");
      if (starts_with(sim.faults.slow_path, "/api2/json"))
        sim.faults.slow_path = sim.faults.slow_path.substr(10);
      return reply(res, json{{"ms", sim.faults.slow_ms}, {"path", sim.faults.slow_path}});
    }
    if (what == "malformed" && post) {
      std::string path = param("path");
      if (starts_with(path, "/api2/json")) path = path.substr(10);
      if (path.empty())
        sim.faults.malformed_prefixes.clear();
      else
        sim.faults.malformed_prefixes.push_back(path);
      return reply(res, sim.faults.malformed_prefixes);
    }
    if (what == "service" && post) {
      std::string name = param("name"), state = param("state");
      if (state != "running" && state != "stopped" && state != "failed")
        throw ApiError(400, "state must be running, stopped or failed");
      int changed = 0;
      for (Node* n : target_nodes(sim, p))
        for (auto& s : n->services)
          if (s.name == name) {
            s.state = state;
            ++changed;
          }
      if (!changed) throw ApiError(404, "no such service '" + name + "'");
      return reply(res, json{{"changed", changed}});
    }
    if (what == "package" && post) {
      std::string name = param("name"), version = param("version");
      if (name.empty() || version.empty()) throw ApiError(400, "name and version are required");
      for (Node* n : target_nodes(sim, p)) n->packages[name] = version;
      return reply(res, nullptr);
    }
    if (what == "guest" && seg.size() == 2) {
      Guest* g = sim.guest(std::stoi(seg[1]));
      if (!g) throw ApiError(404, "no guest " + seg[1]);
      if (post) {
        if (p.count("status")) {
          g->status = p.at("status");
          if (g->status == "running") g->started_at = sim.now();
        }
        if (p.count("node")) {
          if (!sim.node(p.at("node"))) throw ApiError(404, "no such node '" + p.at("node") + "'");
          g->node = p.at("node");
        }
        if (p.count("backup_size")) g->backup_size = parse_size(p.at("backup_size"));
        if (p.count("lock")) g->lock = p.at("lock");
      }
      return reply(res, guest_info(sim, *g));
    }
    if (what == "time" && post) {
      if (p.count("epoch")) {
        int64_t e = std::stoll(p.at("epoch"));
        sim.clock_offset = 0;
        sim.clock_offset = e == 0 ? 0 : e - sim.now();
      } else if (p.count("offset")) {
        sim.clock_offset = std::stoll(p.at("offset"));
      }
      return reply(res, json{{"now", sim.now()}, {"offset", sim.clock_offset.load()}});
    }
    if (what == "cert" && post) {
      int64_t days = std::stoll(param("days"));
      for (Node* n : target_nodes(sim, p)) n->cert_notafter = sim.now() + days * 86400;
      return reply(res, nullptr);
    }
    if (what == "ceph" && post) {
      if (p.count("enabled")) sim.c.ceph = p.at("enabled") == "1";
      if (p.count("health")) sim.c.ceph_health = p.at("health");
      return reply(res, json{{"enabled", sim.c.ceph}, {"health", sim.c.ceph_health}});
    }
    if (what == "storage-path" && !post) {
      Storage* s = sim.storage(param("storage"));
      if (!s) throw ApiError(404, "no such storage '" + param("storage") + "'");
      std::string node = param("node").empty() ? sim.c.nodes.front().name : param("node");
      return reply(res, sim.storage_path(*s, node));
    }
    if (what == "state" && !post) {
      json nodes = json::object();
      for (auto& n : sim.c.nodes) nodes[n.name] = n.online ? "online" : "offline";
      size_t running = 0;
      for (auto& t : sim.task_order) running += t->running ? 1 : 0;
      return reply(res, json{{"nodes", nodes},
                             {"guests", sim.c.guests.size()},
                             {"tasks", sim.task_order.size()},
                             {"running_tasks", running},
                             {"now", sim.now()},
                             {"version", sim.c.version},
                             {"slow_ms", sim.faults.slow_ms},
                             {"malformed", sim.faults.malformed_prefixes},
                             {"pending_failures", sim.faults.fail_next.size()}});
    }
    if (what == "ha" && post) {
      // time_scale multiplies the HA manager's timings (fence delay 60 s, lock 120 s, rounds 10 s)
      if (p.count("time_scale")) {
        double scale = std::stod(p.at("time_scale"));
        if (!(scale > 0 && scale <= 10)) throw ApiError(400, "time_scale must be in (0, 10]");
        sim.ha.time_scale = scale;
      }
      HaTimings t = ha_timings(sim);
      return reply(res, json{{"time_scale", sim.ha.time_scale},
                             {"crm_round", t.crm_round},
                             {"fence_delay", t.fence_delay},
                             {"lock_timeout", t.lock_timeout}});
    }
    if (what == "hold-tasks" && post) {
      sim.hold_tasks = param("on") != "0";
      return reply(res, json{{"hold", sim.hold_tasks.load()}});
    }
    if (what == "reset" && post) {
      sim.reset();
      return reply(res, nullptr);
    }
    throw ApiError(404, "unknown control request " + req.method + " " + req.path);
  } catch (const ApiError& e) {
    render_error(res, e);
  } catch (const std::exception& e) {
    render_error(res, ApiError(400, e.what()));
  }
}

}  // namespace pvesim
