// The cluster as /cluster/status describes it: its name, whether it has quorum, and its nodes.
// A standalone node (no cluster) has no "cluster" entry: its name is then the node's and it
// counts as quorate, as PVE treats it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pve/client.h"
#include "pve/guest.h"

namespace pvesafe::pve {

struct ClusterStatus {
  std::string name;
  bool quorate = false;
  std::vector<NodeInfo> nodes;
  int online_nodes() const;
};

ClusterStatus parse_cluster_status(const nlohmann::json& data);
ClusterStatus cluster_status(Client& client);
// kRemote "cluster NAME has no quorum (1 of 3 nodes online)" unless quorate.
ClusterStatus require_quorum(Client& client);

}  // namespace pvesafe::pve
