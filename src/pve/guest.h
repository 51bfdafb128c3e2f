// Guests and nodes of a cluster, read from /cluster/resources and /cluster/status.
// The parse_* functions take the "data" member of those replies, so they are tested with the
// recorded samples; the Client overloads fetch it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pve/client.h"

namespace pvesafe::pve {

struct GuestInfo {
  std::string vmid;  // "100"
  std::string type;  // qemu | lxc
  std::string node;
  std::string name;
  std::string status;  // running | stopped | ...
  std::string pool;
  std::vector<std::string> tags;  // PVE tags ("a;b" or "a,b" in the API)
  uint64_t maxdisk_bytes = 0;
  uint64_t maxmem_bytes = 0;
  bool is_template = false;
};

struct NodeInfo {
  std::string name;
  std::string ip;  // cluster address (from /cluster/status), may be empty
  bool online = false;
};

std::vector<GuestInfo> parse_guests(const nlohmann::json& cluster_resources);
std::vector<NodeInfo> parse_nodes(const nlohmann::json& cluster_status_or_resources);

// Throws kNotFound "guest 999 not found in the cluster" when absent.
GuestInfo find_guest(const std::vector<GuestInfo>& guests, const std::string& vmid);
std::optional<GuestInfo> lookup_guest(Client& client, const std::string& vmid);
GuestInfo find_guest(Client& client, const std::string& vmid);
std::vector<GuestInfo> list_guests(Client& client);

// Nodes with online state; /cluster/status gives the cluster addresses.
std::vector<NodeInfo> list_nodes(Client& client);
// Throws kNotFound for an unknown node, kTransient for an offline one.
NodeInfo require_online_node(Client& client, const std::string& node);

// Guests selected by --all --node N and/or --pool P (templates skipped), sorted by vmid.
std::vector<GuestInfo> select_guests(const std::vector<GuestInfo>& guests, const std::string& node,
                                     const std::string& pool);

// Guests carrying `tag` (templates skipped), sorted by vmid.
std::vector<GuestInfo> guests_with_tag(const std::vector<GuestInfo>& guests, const std::string& tag);

// GET /cluster/nextid.
std::string next_vmid(Client& client);

// Validates a vmid (100 - 999999999); kUsage otherwise.
std::string check_vmid(const std::string& vmid);

}  // namespace pvesafe::pve
