// Backup freshness of a cluster's guests from what the repository holds: the snapshots of every
// node (vzdump hook on each node, `pvesafe backup` on the commander), joined with the guests the
// cluster has now. No node's catalog is needed, a guest that migrated keeps one series (the
// labels are the guest and its type, not the node it was backed up on), and a guest that was
// never backed up is reported with zero snapshots instead of being absent.
//
// A snapshot counts for a guest when its guest id matches, its type matches (or is unknown), and
// the node it was taken on is one of the cluster's nodes (or is unknown): one repository may hold
// several clusters whose guest ids overlap.
//
// Metrics, per guest (labels guest, type):
//   pvesafe_guest_backup_snapshots                 snapshots of the guest in the repository
//   pvesafe_guest_backup_last_timestamp_seconds    time of the newest one (absent when none)
//   pvesafe_guest_backup_last_size_bytes           what a restore of the newest one writes
//   pvesafe_guest_backup_not_in_job                1 when PVE lists the guest as covered by no
//                                                  backup job (/cluster/backup-info/not-backed-up)
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "exporter/metric_set.h"
#include "repo/manifest.h"

namespace pvesafe::exporter {

struct ClusterGuest {
  std::string vmid, type, node, name;  // type qemu | lxc
  bool is_template = false;
};

struct ClusterView {
  std::vector<ClusterGuest> guests;
  std::set<std::string> nodes;
  bool not_backed_up_known = false;     // the endpoint answered
  std::set<std::string> not_backed_up;  // vmids no backup job covers
};

// From the "data" of /cluster/resources?type=vm, /nodes and (null when it failed)
// /cluster/backup-info/not-backed-up. Throws std::runtime_error on answers of the wrong shape.
ClusterView parse_cluster_view(const nlohmann::json& vm_resources, const nlohmann::json& nodes,
                               const nlohmann::json& not_backed_up);

struct GuestBackup {
  ClusterGuest guest;
  int snapshots = 0;
  double last_time = -1;  // seconds since the epoch; -1: never backed up
  std::string last_node;  // node the newest snapshot was taken on
  std::string last_snapshot;
  uint64_t last_size_bytes = 0;
  bool in_backup_job = true;  // false when PVE lists the guest as not backed up by any job
};

// One entry per cluster guest, in vmid order.
std::vector<GuestBackup> join_backups(const std::vector<repo::SnapshotInfo>& snapshots,
                                      const ClusterView& cluster);

// The metrics above, plus pvesafe_repository_snapshots (snapshots of this cluster's guests).
void backup_freshness_metrics(const std::vector<GuestBackup>& backups, const ClusterView& cluster,
                              MetricSet& out);

}  // namespace pvesafe::exporter
