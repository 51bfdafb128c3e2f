// Cluster, node, guest, storage, HA, Ceph and package metrics from the PVE API.
//
// Calls, in two concurrent rounds bounded by the scrape deadline:
//   1. /cluster/status, /cluster/resources, /cluster/ha/status/current, /cluster/ceph/status
//   2. per online node: /nodes/{node}/status and /nodes/{node}/apt/versions
// Each endpoint is a source (pvesafe_source_up{source="cluster_status"} ...; per-node calls are
// the sources "node_status" and "node_versions" and fail as a whole when any node fails).
// A Ceph endpoint answering "not found" means Ceph is not configured: no Ceph metrics, and
// pvesafe_ceph_configured 0, not a failure.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "exporter/fetch.h"
#include "exporter/metric_set.h"
#include "exporter/sources.h"

namespace pvesafe::exporter {

struct PveCollectOptions {
  int parallel = 8;             // concurrent API calls
  bool node_details = true;     // round 2 (node status, package versions)
  bool ceph = true;             // query /cluster/ceph/status
  std::string only_node;        // node mode: round 2 for this node only
};

void collect_pve(const ApiGet& get, const PveCollectOptions& opts,
                 std::chrono::steady_clock::time_point deadline, MetricSet& out,
                 ScrapeReport& report);

// The pieces, one per endpoint, usable on recorded answers (the "data" member).
void collect_cluster_status(const nlohmann::json& data, MetricSet& out);
void collect_cluster_resources(const nlohmann::json& data, MetricSet& out);
void collect_ha_status(const nlohmann::json& data, MetricSet& out);
void collect_ceph_status(const nlohmann::json& data, MetricSet& out);
void collect_node_status(const std::string& node, const nlohmann::json& data, MetricSet& out);
void collect_node_versions(const std::string& node, const nlohmann::json& data, MetricSet& out);

// "pve-node-a1 (idle, watchdog standby, Thu Sep 10 ...)" -> "idle"; "old timestamp - dead?" ->
// "dead"; "maintenance mode" -> "maintenance".
std::string parse_ha_daemon_state(const std::string& status);

}  // namespace pvesafe::exporter
