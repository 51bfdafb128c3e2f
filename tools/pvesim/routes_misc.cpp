// Small read-only endpoints that inventory and audit tools (e.g. Ansible's proxmox_*_info
// modules) ask for: access users/groups/domains, pools, node time/subscription/network,
// replication, cluster options.
#include "router.h"

namespace pvesim {

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
  r.add("GET", "/cluster/options", [](Ctx& c) {
    c.require("/", "Sys.Audit");
    return json{{"keyboard", "en-us"}, {"console", "xtermjs"}, {"migration", {{"type", "secure"}}}};
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
  r.add("GET", "/nodes/{node}/network", [](Ctx& c) {
    Node& n = c.node();
    c.require("/nodes/" + n.name, "Sys.Audit");
    return json::array({{{"iface", "eno1"},
                         {"type", "eth"},
                         {"active", 1},
                         {"autostart", 1},
                         {"method", "manual"},
                         {"families", json::array({"inet"})}},
                        {{"iface", "vmbr0"},
                         {"type", "bridge"},
                         {"active", 1},
                         {"autostart", 1},
                         {"method", "static"},
                         {"address", n.ip},
                         {"netmask", "24"},
                         {"cidr", n.ip + "/24"},
                         {"gateway", "10.10.0.1"},
                         {"bridge_ports", "eno1"},
                         {"bridge_stp", "off"},
                         {"bridge_fd", "0"},
                         {"families", json::array({"inet"})}}});
  });
}

}  // namespace pvesim
