// HA resources of a cluster (/cluster/ha/resources, ha/resources.cfg): which guests the HA
// manager keeps running, with their requested state and recovery settings. A guest backup
// carries its resource as snapshot tags ("ha.state", "ha.group", ...), so a restore onto a new
// cluster knows which guests to bring back first and how to register them again.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pve/client.h"
#include "pve/section_config.h"

namespace pvesafe::pve {

struct HaResource {
  std::string type;               // "vm" (qemu) | "ct" (lxc)
  std::string vmid;               // "100"
  std::string state = "started";  // requested: started | stopped | disabled | ignored
  std::string group;              // PVE 8 HA group
  std::string comment;
  int max_restart = 1;
  int max_relocate = 1;
  std::optional<bool> failback;  // PVE 9

  std::string sid() const { return type + ":" + vmid; }
  // The HA manager starts the guest when the request is "started" (or the older "enabled").
  bool wants_running() const { return state == "started" || state == "enabled"; }
};

// From GET /cluster/ha/resources (the "data" member).
std::vector<HaResource> parse_ha_resources(const nlohmann::json& data);
// From the text of /etc/pve/ha/resources.cfg.
std::vector<HaResource> parse_ha_resources_cfg(const std::string& text);
std::vector<HaResource> list_ha_resources(Client& client);

// Snapshot tags of a resource ("ha.state", "ha.group", "ha.max_restart", ...), and back.
std::map<std::string, std::string> ha_tags(const HaResource& r);
std::optional<HaResource> ha_from_tags(const std::map<std::string, std::string>& tags,
                                       const std::string& vmid, const std::string& guest_type);

// POST /cluster/ha/resources for `r` (under its vmid).
void add_ha_resource(Client& client, const HaResource& r);
// POST /cluster/ha/groups (PVE 8) or /cluster/ha/rules (PVE 9) from a section of
// ha/groups.cfg or ha/rules.cfg.
void add_ha_group(Client& client, const Section& group);
void add_ha_rule(Client& client, const Section& rule);

}  // namespace pvesafe::pve
