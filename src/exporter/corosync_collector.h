// Corosync runtime state as metrics (node mode). Labels: `node` is the node a series is about;
// `observer` is the node whose corosync reported it (this exporter's node), so a link seen down
// by two peers is two series about the same node.
//   pvesafe_corosync_quorate{observer}, pvesafe_corosync_expected_votes, _total_votes,
//   _quorum_votes, _members                                          this node's view
//   pvesafe_corosync_node_member{node,nodeid,observer}              1 if in the membership
//   pvesafe_corosync_peer_reachable{node,nodeid,observer}           1 if reachable on any link
//   pvesafe_corosync_link_connected{node,nodeid,link,observer}      1 if the knet link is up
//   pvesafe_corosync_link_latency_seconds, pvesafe_corosync_link_down_total (knet statistics)
#pragma once

#include "cluster/corosync_runtime.h"
#include "exporter/metric_set.h"

namespace pvesafe::exporter {

void collect_corosync(const cluster::CorosyncRuntime& rt, MetricSet& out);
// Name of the local node in the corosync node list ("" if unknown).
std::string corosync_local_name(const cluster::CorosyncRuntime& rt);

}  // namespace pvesafe::exporter
