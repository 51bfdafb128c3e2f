// Small read-only endpoints that inventory and audit tools (e.g. Ansible's proxmox_*_info
// modules) ask for: access users/groups/domains, pools, node time/subscription, replication,
// cluster options; and a node's network, hosts and DNS as PVE reads them from its /etc files.
#include <openssl/sha.h>

#include <algorithm>
#include <set>

#include "pmxcfs.h"
#include "router.h"

namespace pvesim {

namespace {

std::string sha1_hex(const std::string& s) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : d) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

std::string trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t"));
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

// /etc/network/interfaces as GET /nodes/{node}/network lists it: one entry per "iface" stanza
// (loopback left out), its type from its name and options, autostart from "auto" lines.
json parse_interfaces(const std::string& text) {
  std::vector<json> out;
  std::set<std::string> autos;
  json* cur = nullptr;
  std::string comments;
  for (auto raw : split(text, '\n')) {
    std::string line = trim(raw);
    if (line.empty()) {
      cur = nullptr;
      continue;
    }
    if (line[0] == '#') {
      if (cur) (*cur)["comments"] = (*cur).value("comments", std::string()) + line.substr(1) + "\n";
      continue;
    }
    auto f = split(line, ' ');
    if (f[0] == "auto" || f[0] == "allow-hotplug") {
      for (size_t i = 1; i < f.size(); ++i) autos.insert(f[i]);
      cur = nullptr;
      continue;
    }
    if (f[0] == "iface" && f.size() >= 4) {
      cur = nullptr;
      if (f[3] == "loopback") continue;
      const std::string& name = f[1];
      std::string type = name.rfind("vmbr", 0) == 0                                ? "bridge"
                         : name.rfind("bond", 0) == 0                              ? "bond"
                         : name.find('.') != std::string::npos                     ? "vlan"
                         : (name.rfind("en", 0) == 0 || name.rfind("eth", 0) == 0) ? "eth"
                                                                                   : "unknown";
      out.push_back({{"iface", name},
                     {"type", type},
                     {"method", f[3]},
                     {"families", json::array({f[2] == "inet6" ? "inet6" : "inet"})},
                     {"active", 1},
                     {"priority", static_cast<int>(out.size()) + 1}});
      cur = &out.back();
      continue;
    }
    if (!cur || f.size() < 2) continue;
    std::string key = f[0], value = trim(line.substr(f[0].size()));
    std::replace(key.begin(), key.end(), '-', '_');
    if (key == "address") {
      (*cur)["cidr"] = value;
      auto slash = value.find('/');
      (*cur)["address"] = value.substr(0, slash);
      if (slash != std::string::npos) (*cur)["netmask"] = value.substr(slash + 1);
    } else {
      (*cur)[key] = value;
    }
  }
  json arr = json::array();
  for (auto& j : out) {
    if (autos.count(j["iface"].get<std::string>())) j["autostart"] = 1;
    arr.push_back(j);
  }
  return arr;
}

}  // namespace

void register_misc_routes(Router& r) {
  r.add("GET", "/access/users", [](Ctx& c) {
    json out = json::array();
    if (!c.can("Sys.Audit")) return out;
    for (auto& [name, u] : c.sim.c.users) {
      json tokens_j = json::array();
      for (auto& [id, t] : c.sim.tokens)
        if (t.user == name)
          tokens_j.push_back(
              {{"tokenid", id.substr(id.find('!') + 1)}, {"privsep", 1}, {"expire", 0}});
      out.push_back({{"userid", name},
                     {"enable", 1},
                     {"expire", 0},
                     {"realm-type", name.substr(name.find('@') + 1)},
                     {"tokens", tokens_j}});
    }
    return out;
  });
  r.add("GET", "/access/groups", [](Ctx&) { return json::array(); });
  r.add("GET", "/access/domains", [](Ctx&) {
    return json::array(
        {{{"realm", "pam"}, {"type", "pam"}, {"comment", "Linux PAM standard authentication"}},
         {{"realm", "pve"}, {"type", "pve"}, {"comment", "Proxmox VE authentication server"}}});
  });
  r.add("GET", "/pools", [](Ctx&) { return json::array(); });
  // datacenter.cfg: PVE returns the property-string options (ha, migration) parsed into objects.
  r.add("GET", "/cluster/options", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    json out{{"keyboard", "en-us"}, {"console", "xtermjs"}, {"migration", {{"type", "secure"}}}};
    for (const auto& [k, v] : c.sim.c.dc_options) {
      if (k != "ha" && k != "migration") {
        out[k] = v;
        continue;
      }
      json obj = json::object();
      for (const auto& kv : split(v, ',')) {
        auto eq = kv.find('=');
        if (eq != std::string::npos) obj[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      out[k] = obj;
    }
    return out;
  });
  r.add("PUT", "/cluster/options", [](Ctx& c) {
    c.require("/", "Sys.Modify");
    static const std::set<std::string> known{"ha",          "keyboard",   "console", "migration",
                                             "max_workers", "email_from", "language"};
    for (const auto& [k, v] : c.params) {
      if (k == "delete") {
        for (const auto& d : split(v, ',')) c.sim.c.dc_options.erase(d);
      } else if (known.count(k)) {
        if (k == "ha" && v.rfind("shutdown_policy=", 0) != 0)
          fail("ha: expected shutdown_policy=<freeze|failover|conditional|migrate>");
        c.sim.c.dc_options[k] = v;
      } else {
        fail("property '" + k + "' is not defined in the datacenter.cfg schema");
      }
    }
    return json(nullptr);
  });
  r.add("GET", "/cluster/replication", [](Ctx&) { return json::array(); });
  r.add("GET", "/nodes/{node}/replication", [](Ctx& c) {
    c.node();
    return json::array();
  });
  r.add("GET", "/nodes/{node}/time", [](Ctx& c) {
    c.node();
    int64_t t = c.sim.now();
    return json{{"timezone", "UTC"}, {"time", t}, {"localtime", t}};
  });
  r.add("GET", "/nodes/{node}/subscription", [](Ctx& c) {
    c.node();
    return json{{"status", "notfound"},
                {"message", "There is no subscription key"},
                {"url", "https://www.proxmox.com/en/proxmox-virtual-environment/pricing"}};
  });
  // The node's network as PVE reads it from /etc/network/interfaces (pmxcfs.h writes the file).
  r.add("GET", "/nodes/{node}/network", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Audit");
    return parse_interfaces(node_file(c.sim, n.name, "/etc/network/interfaces"));
  });
  r.add("GET", "/nodes/{node}/hosts", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Audit");
    std::string text = node_file(c.sim, n.name, "/etc/hosts");
    return json{{"data", text}, {"digest", sha1_hex(text)}};
  });
  r.add("GET", "/nodes/{node}/dns", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Audit");
    json out = json::object();
    int k = 0;
    for (auto& line : split(node_file(c.sim, n.name, "/etc/resolv.conf"), '\n')) {
      auto f = split(line, ' ');
      if (f.size() >= 2 && f[0] == "search") out["search"] = f[1];
      if (f.size() >= 2 && f[0] == "nameserver" && k < 3) out["dns" + std::to_string(++k)] = f[1];
    }
    return out;
  });
}

}  // namespace pvesim
