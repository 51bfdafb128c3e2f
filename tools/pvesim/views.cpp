#include "views.h"

#include <openssl/sha.h>

#include <filesystem>
#include <set>

#include "ha_manager.h"

namespace pvesim {

namespace {

double wave(uint64_t seed, int64_t t) {  // a deterministic, slowly varying load in [0, 1)
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(t / 10);
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return static_cast<double>(x % 10000) / 10000.0;
}

const std::set<std::string> kIntKeys = {"cores",      "sockets",      "vcpus",    "balloon",
                                        "onboot",     "numa",         "kvm",      "acpi",
                                        "protection", "template",     "cpuunits", "tablet",
                                        "swap",       "unprivileged", "reboot",   "localtime"};

}  // namespace

Usage guest_usage(const Sim& sim, const Guest& g) {
  Usage u;
  if (g.status != "running") return u;
  int64_t now = sim.now();
  u.uptime = std::max<int64_t>(1, now - g.started_at);
  u.cpu = 0.02 + 0.3 * wave(static_cast<uint64_t>(g.vmid), now) * g.cpus / 4.0;
  u.mem =
      static_cast<uint64_t>(static_cast<double>(g.maxmem) * (0.3 + 0.5 * wave(g.vmid + 7u, now)));
  u.disk = g.type == "lxc" ? g.maxdisk / 3 : 0;
  u.netin = static_cast<uint64_t>(u.uptime) * 1300 * (g.vmid % 7 + 1);
  u.netout = static_cast<uint64_t>(u.uptime) * 900 * (g.vmid % 5 + 1);
  u.diskread = static_cast<uint64_t>(u.uptime) * 4096 * (g.vmid % 3 + 1);
  u.diskwrite = static_cast<uint64_t>(u.uptime) * 8192 * (g.vmid % 4 + 1);
  return u;
}

UsageIndex build_usage_index(Sim& sim) {
  UsageIndex idx;
  for (const auto& n : sim.c.nodes) idx.nodes[n.name] = &n;
  for (const auto& r : sim.c.ha_resources) idx.ha[r.sid] = &r;
  for (const auto& [id, g] : sim.c.guests) {
    if (g.status == "running") idx.node_mem[g.node] += g.maxmem / 2;
    for (const auto& [k, v] : g.config) {
      auto colon = v.find(":vm-");
      if (colon == std::string::npos) continue;
      std::string st = v.substr(0, colon);
      Storage* s = sim.storage(st);
      if (!s) continue;
      idx.storage_images[st + "|" + (s->shared ? std::string() : g.node)] += g.maxdisk / 2;
    }
  }
  return idx;
}

Usage node_usage(const Sim& sim, const Node& n, const UsageIndex* idx) {
  Usage u;
  int64_t now = sim.now();
  u.uptime = now - n.boot_time;
  u.cpu = 0.01 + 0.2 * wave(static_cast<uint64_t>(n.nodeid) + 1000, now);
  uint64_t used = 2ull << 30;
  if (idx) {
    auto it = idx->node_mem.find(n.name);
    if (it != idx->node_mem.end()) used += it->second;
  } else {
    for (const auto& [id, g] : sim.c.guests)
      if (g.node == n.name && g.status == "running") used += g.maxmem / 2;
  }
  u.mem = std::min(used, n.maxmem);
  u.disk = n.maxdisk / 10 + static_cast<uint64_t>(n.nodeid) * (64ull << 20);
  return u;
}

namespace {

const Node* find_node(Sim& sim, const std::string& name, const UsageIndex* idx) {
  if (!idx) return sim.node(name);
  auto it = idx->nodes.find(name);
  return it == idx->nodes.end() ? nullptr : it->second;
}

}  // namespace

std::string guest_status(Sim& sim, const Guest& g, const UsageIndex* idx) {
  const Node* n = find_node(sim, g.node, idx);
  if (!n || !n->online) return "unknown";
  return g.status;
}

std::string ha_state(Sim& sim, const Guest& g, const UsageIndex* idx) {
  const HaResource* r = nullptr;
  if (idx) {
    auto it = idx->ha.find(g.sid());
    r = it == idx->ha.end() ? nullptr : it->second;
  } else {
    r = sim.ha_resource(g.sid());
  }
  if (!r) return "";
  // Fencing and recovery as the HA manager runs them (ha_manager.h); before the fence delay a
  // service on a lost node keeps the state the CRM last gave it.
  std::string crm = ha_crm_state(sim, g.sid());
  if (!crm.empty()) return crm;
  const Node* n = find_node(sim, g.node, idx);
  if (n && !n->online) {
    if (r->state == "started") return "started";
    if (r->state == "stopped" || r->state == "disabled") return "stopped";
    return r->state;
  }
  if (r->state == "started") return g.status == "running" ? "started" : "starting";
  if (r->state == "stopped") return g.status == "running" ? "stopping" : "stopped";
  return r->state;
}

json guest_resource(Sim& sim, const Guest& g, const UsageIndex* idx) {
  std::string st = guest_status(sim, g, idx);
  Usage u = st == "running" ? guest_usage(sim, g) : Usage{};
  json j{{"id", g.type + "/" + std::to_string(g.vmid)},
         {"type", g.type},
         {"vmid", g.vmid},
         {"name", g.name},
         {"node", g.node},
         {"status", st},
         {"template", g.is_template ? 1 : 0},
         {"maxcpu", g.cpus},
         {"maxmem", g.maxmem},
         {"maxdisk", g.maxdisk},
         {"cpu", u.cpu},
         {"mem", u.mem},
         {"disk", u.disk},
         {"uptime", u.uptime},
         {"netin", u.netin},
         {"netout", u.netout},
         {"diskread", u.diskread},
         {"diskwrite", u.diskwrite}};
  if (!g.tags.empty()) j["tags"] = g.tags;
  if (!g.lock.empty()) j["lock"] = g.lock;
  std::string ha = ha_state(sim, g, idx);
  if (!ha.empty()) j["hastate"] = ha;
  return j;
}

void append_guest_resource(std::string& out, Sim& sim, const Guest& g, const UsageIndex* idx) {
  std::string st = guest_status(sim, g, idx);
  Usage u = st == "running" ? guest_usage(sim, g) : Usage{};
  char buf[640];
  int n = std::snprintf(
      buf, sizeof buf,
      "{\"id\":\"%s/%d\",\"type\":\"%s\",\"vmid\":%d,\"name\":%s,\"node\":%s,\"status\":\"%s\","
      "\"template\":%d,\"maxcpu\":%d,\"maxmem\":%llu,\"maxdisk\":%llu,\"cpu\":%.6g,\"mem\":%llu,"
      "\"disk\":%llu,\"uptime\":%lld,\"netin\":%llu,\"netout\":%llu,\"diskread\":%llu,"
      "\"diskwrite\":%llu",
      g.type.c_str(), g.vmid, g.type.c_str(), g.vmid, json(g.name).dump().c_str(),
      json(g.node).dump().c_str(), st.c_str(), g.is_template ? 1 : 0, g.cpus,
      static_cast<unsigned long long>(g.maxmem), static_cast<unsigned long long>(g.maxdisk), u.cpu,
      static_cast<unsigned long long>(u.mem), static_cast<unsigned long long>(u.disk),
      static_cast<long long>(u.uptime), static_cast<unsigned long long>(u.netin),
      static_cast<unsigned long long>(u.netout), static_cast<unsigned long long>(u.diskread),
      static_cast<unsigned long long>(u.diskwrite));
  if (n < 0 || static_cast<size_t>(n) >= sizeof buf) {
    out += guest_resource(sim, g, idx).dump();
    return;
  }
  out.append(buf, static_cast<size_t>(n));
  if (!g.tags.empty()) out += ",\"tags\":" + json(g.tags).dump();
  if (!g.lock.empty()) out += ",\"lock\":" + json(g.lock).dump();
  std::string ha = ha_state(sim, g, idx);
  if (!ha.empty()) out += ",\"hastate\":\"" + ha + "\"";
  out += '}';
}

json node_resource(Sim& sim, const Node& n, const UsageIndex* idx) {
  json j{{"id", "node/" + n.name},
         {"type", "node"},
         {"node", n.name},
         {"level", ""},
         {"status", n.online ? "online" : "offline"}};
  if (n.online) {
    Usage u = node_usage(sim, n, idx);
    j["cgroup-mode"] = 2;
    j["maxcpu"] = n.cpus;
    j["cpu"] = u.cpu;
    j["maxmem"] = n.maxmem;
    j["mem"] = u.mem;
    j["maxdisk"] = n.maxdisk;
    j["disk"] = u.disk;
    j["uptime"] = u.uptime;
  }
  return j;
}

uint64_t storage_used(Sim& sim, const Storage& s, const std::string& node, const UsageIndex* idx) {
  uint64_t used = 0;
  if (s.file_based()) {
    std::error_code ec;
    std::filesystem::path dump = std::filesystem::path(sim.storage_path(s, node)) / "dump";
    for (std::filesystem::directory_iterator it(dump, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec)) used += it->file_size(ec);
  }
  if (idx) {
    auto it = idx->storage_images.find(s.id + "|" + (s.shared ? std::string() : node));
    if (it != idx->storage_images.end()) used += it->second;
  } else if (s.content.find("images") != std::string::npos ||
             s.content.find("rootdir") != std::string::npos) {
    for (const auto& [id, g] : sim.c.guests) {
      if (!s.shared && g.node != node) continue;
      for (const auto& [k, v] : g.config)
        if (starts_with(v, s.id + ":vm-")) used += g.maxdisk / 2;
    }
  }
  return used;
}

json storage_resource(Sim& sim, const Storage& s, const Node& n, const UsageIndex* idx) {
  json j{{"id", "storage/" + n.name + "/" + s.id},
         {"type", "storage"},
         {"storage", s.id},
         {"node", n.name},
         {"plugintype", s.type},
         {"content", s.content},
         {"shared", s.shared ? 1 : 0},
         {"status", n.online ? "available" : "unknown"}};
  if (n.online) {
    j["maxdisk"] = s.total;
    j["disk"] = storage_used(sim, s, n.name, idx);
  }
  return j;
}

std::string config_text(const Guest& g) {
  std::string out;
  for (const auto& [k, v] : g.config) out += k + ": " + v + "\n";
  return out;
}

std::string config_digest(const Guest& g) {
  std::string text = config_text(g);
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), md);
  std::string hex;
  char h[3];
  for (auto c : md) {
    std::snprintf(h, sizeof h, "%02x", c);
    hex += h;
  }
  return hex;
}

json guest_config_json(const Guest& g) {
  json j = json::object();
  for (const auto& [k, v] : g.config) {
    if (kIntKeys.count(k)) {
      try {
        j[k] = std::stoll(v);
        continue;
      } catch (...) {
      }
    }
    j[k] = v;
  }
  if (!g.lock.empty()) j["lock"] = g.lock;
  j["digest"] = config_digest(g);
  return j;
}

}  // namespace pvesim
