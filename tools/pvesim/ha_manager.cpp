#include "ha_manager.h"

#include <chrono>
#include <climits>
#include <ctime>
#include <set>

#include "guest_ops.h"
#include "tasks.h"

namespace pvesim {

namespace {

constexpr size_t kMaxLogLines = 5000;

void log_line(Sim& sim, const std::string& node, const std::string& service,
              const std::string& text) {
  sim.ha.log.push_back({sim.now(), node, service, text});
  while (sim.ha.log.size() > kMaxLogLines) sim.ha.log.pop_front();
}

void crm_log(Sim& sim, const std::string& text) {
  log_line(sim, sim.first_online_node(), "pve-ha-crm", text);
}

Guest* sid_guest(Sim& sim, const std::string& sid) {
  auto colon = sid.find(':');
  if (colon == std::string::npos) return nullptr;
  try {
    return sim.guest(std::stoi(sid.substr(colon + 1)));
  } catch (const std::exception&) {
    return nullptr;
  }
}

void set_node_state(Sim& sim, const std::string& node, const std::string& state) {
  auto& ns = sim.ha.nodes[node];
  if (ns.state == state) return;
  crm_log(sim, "node '" + node + "': state changed from '" + ns.state + "' => '" + state + "'");
  ns.state = state;
}

void set_service_state(Sim& sim, const std::string& sid, const std::string& from,
                       const std::string& to, const std::string& node = "") {
  crm_log(sim, "service '" + sid + "': state changed from '" + from + "' to '" + to + "'" +
                   (node.empty() ? "" : "  (node = " + node + ")"));
}

// The state the CRM reports for a service it is not fencing or recovering.
std::string settled_state(const HaResource& r) {
  if (r.state == "started") return "started";
  if (r.state == "disabled" || r.state == "stopped") return "stopped";
  return r.state;
}

// Node priorities of the node-affinity rule (PVE 9) or HA group (PVE 8) of a resource.
struct Affinity {
  bool any = false;
  bool strict = false;
  std::map<std::string, int> priority;
};

void parse_nodes(const std::string& spec, Affinity& a) {
  for (const auto& item : split(spec, ',')) {
    if (item.empty()) continue;
    auto colon = item.find(':');
    int prio = 0;
    if (colon != std::string::npos) {
      try {
        prio = std::stoi(item.substr(colon + 1));
      } catch (const std::exception&) {
      }
    }
    a.priority[item.substr(0, colon)] = prio;
  }
}

Affinity affinity_of(Sim& sim, const HaResource& r) {
  Affinity a;
  if (sim.pve_major() >= 9) {
    for (const auto& rule : sim.c.ha_rules) {
      if (rule.type != "node-affinity" || rule.disable) continue;
      if (("," + rule.resources + ",").find("," + r.sid + ",") == std::string::npos) continue;
      a.any = true;
      a.strict = a.strict || rule.strict;
      parse_nodes(rule.nodes, a);
    }
  } else if (!r.group.empty()) {
    for (const auto& g : sim.c.ha_groups) {
      if (g.group != r.group) continue;
      a.any = true;
      a.strict = g.restricted != 0;
      parse_nodes(g.nodes, a);
    }
  }
  return a;
}

// Manager.pm select_service_node with 'best-score': the highest-priority online nodes of the
// rule, else (no rule, or a non-strict one without an online member) every online node; then the
// fewest HA services, then the name. "" when there is none.
std::string select_node(Sim& sim, const HaResource& r, const std::map<std::string, int>& usage) {
  Affinity a = affinity_of(sim, r);
  std::set<std::string> candidates;
  if (a.any) {
    int best = INT_MIN;
    for (const auto& [node, prio] : a.priority) {
      if (!usage.count(node)) continue;
      if (prio > best) {
        best = prio;
        candidates.clear();
      }
      if (prio == best) candidates.insert(node);
    }
  }
  if (candidates.empty()) {
    if (a.any && a.strict) return "";
    for (const auto& [node, _] : usage) candidates.insert(node);
  }
  std::string pick;
  for (const auto& node : candidates)
    if (pick.empty() || usage.at(node) < usage.at(pick)) pick = node;
  return pick;
}

// HA services per online node (the "basic" scheduler's usage).
std::map<std::string, int> online_usage(Sim& sim) {
  std::map<std::string, int> usage;
  for (const auto& n : sim.c.nodes)
    if (n.online && sim.ha.nodes[n.name].state == "online") usage[n.name] = 0;
  for (const auto& r : sim.c.ha_resources) {
    auto it = sim.ha.services.find(r.sid);
    if (it != sim.ha.services.end() && it->second.state != "started") continue;
    if (Guest* g = sid_guest(sim, r.sid); g && usage.count(g->node)) ++usage[g->node];
  }
  return usage;
}

// The start the LRM of the guest's node runs for a recovered service.
void lrm_start(Sim& sim, Guest& g) {
  log_line(sim, g.node, "pve-ha-lrm", "starting service " + g.sid());
  TaskSpec spec;
  spec.node = g.node;
  spec.type = task_prefix(g.type) + "start";
  spec.id = std::to_string(g.vmid);
  spec.user = "root@pam";
  int vmid = g.vmid;
  std::string sid = g.sid(), node = g.node;
  double secs = sim.c.task_seconds;
  spec.body = [vmid, sid, node, secs](TaskRun& run) {
    run.sleep(secs);
    auto lk = run.lock();
    Guest* cur = run.sim().guest(vmid);
    if (!cur || cur->node != node)
      throw std::runtime_error("guest " + std::to_string(vmid) + " moved");
    cur->status = "running";
    cur->started_at = run.sim().now();
    log_line(run.sim(), node, "pve-ha-lrm", "service status " + sid + " started");
  };
  start_task(sim, std::move(spec));
}

}  // namespace

HaTimings ha_timings(const Sim& sim) {
  HaTimings t;
  double s = sim.ha.time_scale > 0 ? sim.ha.time_scale : 1;
  t.crm_round *= s;
  t.fence_delay *= s;
  t.lock_timeout *= s;
  return t;
}

double ha_clock() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void ha_round(Sim& sim, double now) {
  const HaTimings t = ha_timings(sim);
  HaRuntime& rt = sim.ha;
  for (const auto& n : sim.c.nodes) {
    auto& ns = rt.nodes[n.name];
    if (ns.last_online < 0) ns.last_online = ns.lock_renewed = now;
  }
  if (!sim.quorate()) return;  // no partition with quorum: no CRM master acts

  // Node states (NodeStatus::update). A node being fenced stays "fence" until the CRM holds its
  // lock, even if it shows up again (it is rebooting: its LRM does not renew the lock).
  for (const auto& n : sim.c.nodes) {
    auto& ns = rt.nodes[n.name];
    if (n.online) {
      ns.last_online = now;
      if (ns.state != "fence") {
        ns.lock_renewed = now;
        set_node_state(sim, n.name, "online");
      }
    } else if (ns.state == "online") {
      set_node_state(sim, n.name, "unknown");
    }
  }

  // Services on a node that has been offline for the fence delay (next_state_started/stopped).
  for (const auto& r : sim.c.ha_resources) {
    if (r.state == "ignored" || rt.services.count(r.sid)) continue;
    Guest* g = sid_guest(sim, r.sid);
    if (!g) continue;
    const auto& ns = rt.nodes[g->node];
    if (ns.state == "online" || now - ns.last_online < t.fence_delay) continue;
    set_service_state(sim, r.sid, settled_state(r), "fence");
    rt.services[r.sid] = {"fence", 0};
  }

  // Fencing: a node with services to fence is fenced once its agent lock can be had.
  std::set<std::string> to_fence, fenced;
  for (const auto& [sid, ss] : rt.services)
    if (ss.state == "fence")
      if (Guest* g = sid_guest(sim, sid)) to_fence.insert(g->node);
  for (const auto& [node, ns] : rt.nodes)
    if (ns.state == "fence") to_fence.insert(node);
  for (const auto& node : to_fence) {
    auto& ns = rt.nodes[node];
    set_node_state(sim, node, "fence");
    if (now - ns.lock_renewed < t.lock_timeout) continue;
    crm_log(sim, "fencing: acknowledged - got agent lock for node '" + node + "'");
    set_node_state(sim, node, "unknown");
    fenced.insert(node);
  }
  for (auto& [sid, ss] : rt.services) {
    Guest* g = sid_guest(sim, sid);
    if (ss.state == "fence" && g && fenced.count(g->node)) {
      set_service_state(sim, sid, "fence", "recovery");
      ss.state = "recovery";
    }
  }

  // Recovery (next_state_recovery), in the same round as the fencing.
  auto usage = online_usage(sim);
  for (auto it = rt.services.begin(); it != rt.services.end();) {
    const std::string sid = it->first;
    HaServiceStatus& ss = it->second;
    HaResource* r = sim.ha_resource(sid);
    Guest* g = sid_guest(sim, sid);
    if (!r || !g) {  // removed meanwhile
      it = rt.services.erase(it);
      continue;
    }
    if (ss.state != "recovery") {
      ++it;
      continue;
    }
    std::string target = select_node(sim, *r, usage);
    if (target.empty()) {
      if (ss.start_at == 0)  // logged once, the CRM retries every round
        crm_log(sim, "recovering service '" + sid + "' from fenced node '" + g->node +
                         "' failed, no recovery node found");
      ss.start_at = -1;
      ++it;
      continue;
    }
    if (target == g->node)  // a strict rule whose only node came back
      crm_log(sim, "recover service '" + sid + "' to previous failed and fenced node '" + target +
                       "' again");
    else
      crm_log(sim, "recover service '" + sid + "' from fenced node '" + g->node + "' to node '" +
                       target + "'");
    g->node = target;
    g->status = "stopped";
    g->lock.clear();
    ++usage[target];
    if (r->state == "started") {
      set_service_state(sim, sid, "recovery", "started", target);
      ss.state = "started";
      ss.start_at = now + t.crm_round;  // the new node's LRM starts it in its next round
      ++it;
    } else {
      set_service_state(sim, sid, "recovery", "request_stop", target);
      set_service_state(sim, sid, "request_stop", "stopped");
      it = rt.services.erase(it);
    }
  }

  // The LRMs start what was recovered to their node.
  for (auto it = rt.services.begin(); it != rt.services.end();) {
    Guest* g = sid_guest(sim, it->first);
    if (it->second.state == "started" && g && now >= it->second.start_at) {
      Node* n = sim.node(g->node);
      if (n && n->online && g->status != "running") lrm_start(sim, *g);
      it = rt.services.erase(it);
    } else {
      ++it;
    }
  }
}

json ha_recover_now(Sim& sim, const std::string& node) {
  json moved = json::array();
  HaRuntime& rt = sim.ha;
  std::vector<HaResource*> on_node;
  for (auto& r : sim.c.ha_resources) {
    if (r.state == "ignored" || r.state == "disabled") continue;
    if (Guest* g = sid_guest(sim, r.sid); g && g->node == node) on_node.push_back(&r);
  }
  if (on_node.empty()) return moved;
  for (HaResource* r : on_node) {
    if (!rt.services.count(r->sid)) set_service_state(sim, r->sid, settled_state(*r), "fence");
    rt.services[r->sid] = {"recovery", 0};
  }
  set_node_state(sim, node, "fence");
  crm_log(sim, "fencing: acknowledged - got agent lock for node '" + node + "'");
  set_node_state(sim, node, "unknown");
  auto usage = online_usage(sim);
  for (HaResource* r : on_node) {
    set_service_state(sim, r->sid, "fence", "recovery");
    Guest* g = sid_guest(sim, r->sid);
    std::string target = select_node(sim, *r, usage);
    if (target.empty()) continue;  // stays in recovery; the CRM rounds retry
    crm_log(sim, "recover service '" + r->sid + "' from fenced node '" + node + "' to node '" +
                     target + "'");
    ++usage[target];
    g->node = target;
    g->lock.clear();
    g->status = r->state == "started" ? "running" : "stopped";
    if (g->status == "running") g->started_at = sim.now();
    set_service_state(sim, r->sid, "recovery", r->state == "started" ? "started" : "stopped",
                      target);
    rt.services.erase(r->sid);
    moved.push_back({{"sid", r->sid}, {"node", target}});
  }
  return moved;
}

std::string ha_crm_state(const Sim& sim, const std::string& sid) {
  auto it = sim.ha.services.find(sid);
  if (it == sim.ha.services.end()) return "";
  return it->second.state == "started" ? "" : it->second.state;
}

std::string ha_node_state(const Sim& sim, const std::string& node) {
  auto it = sim.ha.nodes.find(node);
  return it == sim.ha.nodes.end() ? "online" : it->second.state;
}

json ha_syslog(const Sim& sim, const std::string& node, const std::string& service) {
  json out = json::array();
  int n = 0;
  for (const auto& l : sim.ha.log) {
    if (l.node != node || (!service.empty() && l.service != service)) continue;
    std::time_t tt = static_cast<std::time_t>(l.time);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char ts[32];
    std::strftime(ts, sizeof ts, "%b %d %H:%M:%S", &tm);
    // journalctl's short format, as /nodes/{node}/syslog returns it
    int pid = l.service == "pve-ha-crm" ? 1410 : 1423;
    out.push_back({{"n", ++n},
                   {"t", std::string(ts) + " " + l.node + " " + l.service + "[" +
                             std::to_string(pid) + "]: " + l.text}});
  }
  return out;
}

HaManagerThread::HaManagerThread(Sim& sim) : sim_(sim) {
  thread_ = std::thread([this] {
    double next = ha_clock();
    while (!stop_) {
      double now = ha_clock();
      if (now >= next) {
        double round;
        {
          std::lock_guard<std::mutex> lk(sim_.mu);
          ha_round(sim_, now);
          round = ha_timings(sim_).crm_round;
        }
        next = now + round;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(
          static_cast<int>(std::max(1.0, std::min(50.0, (next - ha_clock()) * 1000)))));
    }
  });
}

HaManagerThread::~HaManagerThread() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace pvesim
