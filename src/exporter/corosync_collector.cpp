#include "exporter/corosync_collector.h"

#include <string>

namespace pvesafe::exporter {

std::string corosync_local_name(const cluster::CorosyncRuntime& rt) {
  for (const auto& n : rt.nodes)
    if (n.local) return n.name;
  return {};
}

void collect_corosync(const cluster::CorosyncRuntime& rt, MetricSet& out) {
  std::string self = corosync_local_name(rt);
  if (self.empty()) self = "nodeid-" + std::to_string(rt.local_nodeid);
  Labels me{{"observer", self}};
  out.add("pvesafe_corosync_info", MetricType::kInfo, "Corosync cluster name and local node",
          {{"observer", self}, {"cluster_name", rt.cluster_name},
           {"nodeid", std::to_string(rt.local_nodeid)}},
          1);
  out.gauge("pvesafe_corosync_quorate", "1 if this node's corosync partition has quorum", me,
            rt.quorate ? 1 : 0);
  out.gauge("pvesafe_corosync_expected_votes", "Votes expected in the cluster", me,
            rt.expected_votes);
  out.gauge("pvesafe_corosync_total_votes", "Votes present in this node's partition", me,
            rt.total_votes);
  out.gauge("pvesafe_corosync_quorum_votes", "Votes needed for quorum", me, rt.quorum);
  out.gauge("pvesafe_corosync_members", "Nodes in this node's corosync membership", me,
            rt.members);
  for (const auto& n : rt.nodes) {
    Labels l{{"node", n.name}, {"nodeid", std::to_string(n.nodeid)}, {"observer", self}};
    out.gauge("pvesafe_corosync_node_member", "1 if the node is in the observer's membership", l,
              n.member ? 1 : 0);
    if (n.local) continue;
    out.gauge("pvesafe_corosync_peer_reachable",
              "1 if the observer reaches the node over at least one knet link", l,
              n.reachable ? 1 : 0);
    for (const auto& link : n.links) {
      Labels ll{{"node", n.name},
                {"nodeid", std::to_string(n.nodeid)},
                {"link", std::to_string(link.link)},
                {"observer", self}};
      out.gauge("pvesafe_corosync_link_connected",
                "1 if the knet link from the observer to the node is connected", ll,
                link.connected ? 1 : 0);
      if (link.latency_seconds >= 0)
        out.gauge("pvesafe_corosync_link_latency_seconds", "Average knet round trip on the link",
                  ll, link.latency_seconds);
      if (link.down_count >= 0)
        out.add("pvesafe_corosync_link_down_total", MetricType::kCounter,
                "Times the knet link went down since corosync started", ll, link.down_count);
    }
  }
}

}  // namespace pvesafe::exporter
