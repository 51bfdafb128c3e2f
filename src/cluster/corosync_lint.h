// Lint for corosync.conf: the settings that cause split-brain, lost quorum or failed failovers
// on a Proxmox VE cluster.
//
// lint_corosync() checks one file:
//   corosync.links          a single link (no redundant cluster network)
//   corosync.data-network   a cluster link address inside a guest/data network (given CIDRs)
//   corosync.votes          even vote count without a QDevice (a 50/50 split loses quorum on
//                           both sides)
//   corosync.two-node       two_node/wait_for_all misuse (two_node with != 2 nodes, with a
//                           QDevice, or with wait_for_all explicitly off)
//   corosync.token          token/consensus timings out of the range PVE clusters run with
//   corosync.nodes          duplicate node ids, names or addresses; missing nodeid; nodes with
//                           different link sets
//   corosync.quorum         provider not votequorum
//   corosync.crypto         authentication/encryption of cluster traffic switched off
// lint_config_versions() compares several copies (one per node, or /etc/pve vs /etc/corosync):
//   corosync.config-version  differing config_version (or cluster_name) across the copies
#pragma once

#include <string>
#include <vector>

#include "cluster/audit_finding.h"
#include "cluster/corosync_conf.h"

namespace pvesafe::cluster {

struct CorosyncLintOptions {
  std::vector<std::string> data_networks;  // CIDRs that carry guest traffic, e.g. 10.0.0.0/24
  bool ha_enabled = true;                  // the cluster runs HA guests (fencing matters)
};

std::vector<Finding> lint_corosync(const CorosyncConf& conf, const CorosyncLintOptions& options);
std::vector<Finding> lint_config_versions(const std::vector<CorosyncConf>& copies);

// Is `address` (IPv4 or IPv6 literal) inside `cidr`? False for host names or bad input.
bool address_in_network(const std::string& address, const std::string& cidr);

}  // namespace pvesafe::cluster
