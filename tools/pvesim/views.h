// JSON views of the state that several API areas share (resource entries, usage figures).
#pragma once

#include <unordered_map>

#include "state.h"

namespace pvesim {

struct Usage {
  double cpu = 0;
  uint64_t mem = 0, disk = 0, netin = 0, netout = 0, diskread = 0, diskwrite = 0;
  int64_t uptime = 0;
};

Usage guest_usage(const Sim& sim, const Guest& g);
// Per-node and per-storage sums over all guests, computed in one pass (for cluster-wide lists).
struct UsageIndex {
  std::map<std::string, uint64_t> node_mem;        // node -> memory of running guests
  std::map<std::string, uint64_t> storage_images;  // "storage|node" ("storage|" if shared) -> bytes
  std::unordered_map<std::string, const Node*> nodes;
  std::unordered_map<std::string, const HaResource*> ha;  // by sid
};
UsageIndex build_usage_index(Sim& sim);
Usage node_usage(const Sim& sim, const Node& n, const UsageIndex* idx = nullptr);
// Effective guest status: "unknown" while its node is offline.
std::string guest_status(Sim& sim, const Guest& g, const UsageIndex* idx = nullptr);
std::string ha_state(Sim& sim, const Guest& g,
                     const UsageIndex* idx = nullptr);  // "" when not HA managed
json guest_resource(Sim& sim, const Guest& g, const UsageIndex* idx = nullptr);
// The same entry serialized straight into out (the /cluster/resources fast path).
void append_guest_resource(std::string& out, Sim& sim, const Guest& g, const UsageIndex* idx);
json node_resource(Sim& sim, const Node& n, const UsageIndex* idx = nullptr);
json storage_resource(Sim& sim, const Storage& s, const Node& n, const UsageIndex* idx = nullptr);
// Bytes used on a storage of a node: backup files on disk plus allocated guest disks.
uint64_t storage_used(Sim& sim, const Storage& s, const std::string& node,
                      const UsageIndex* idx = nullptr);
// The guest config as PVE returns it from GET .../config (with digest).
json guest_config_json(const Guest& g);
std::string config_digest(const Guest& g);
std::string config_text(const Guest& g);

}  // namespace pvesim
