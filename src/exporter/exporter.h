// The exporter: runs the collectors of one scrape target within a time budget and returns
// Prometheus text. Two modes share it:
//   node mode     corosync runtime state of this node (+ the local PVE API for this node's
//                 figures, + the catalog); one exporter per node.
//   central mode  whole clusters through their PVE APIs, one named target per cluster
//                 (/metrics?target=NAME, the multi-target "probe" pattern); the catalog and the
//                 exporter's own metrics on /metrics without a target.
// A scrape never takes longer than its budget: sources that have not answered by then are
// reported down (pvesafe_source_up 0) and contribute no values.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cluster/audit.h"
#include "cluster/corosync_runtime.h"
#include "exporter/audit_job.h"
#include "exporter/fetch.h"
#include "exporter/metric_set.h"
#include "exporter/pve_collector.h"
#include "exporter/repository_job.h"
#include "exporter/sources.h"

namespace pvesafe::exporter {

struct ExporterOptions {
  bool node_mode = false;
  std::string node_name;  // node mode: this node (default: corosync's local name)
  bool corosync = false;  // node mode: read corosync
  std::function<cluster::CorosyncRuntime()> corosync_reader = cluster::read_corosync_runtime;
  ApiGet local_api;                 // node mode: this node's PVE API (optional)
  std::map<std::string, ApiGet> targets;  // central mode: cluster name -> its API
  std::string catalog_path;         // "" = no catalog metrics
  PveCollectOptions pve;
  std::chrono::milliseconds max_scrape_time{9000};
  // Central mode: run the cluster audit of every target this often in the background and add
  // its latest results to the target's scrape (audit_job.h); 0 = never.
  std::chrono::seconds audit_interval{0};
  cluster::AuditOptions audit;
  // Central mode: backup freshness of every target's guests from the repository's snapshots,
  // read in the background this often (repository_job.h); no lister = off.
  SnapshotLister list_snapshots;
  std::chrono::seconds repository_interval{300};
  LogFn log;
};

class Exporter {
 public:
  explicit Exporter(ExporterOptions opts);
  ~Exporter();

  // Collects the target ("" = the default target: node mode's node, or central mode's catalog
  // and self metrics). Throws pvesafe::Error(kNotFound) for an unknown target.
  MetricSet collect(const std::string& target, std::chrono::milliseconds budget);
  std::string scrape(const std::string& target, std::chrono::milliseconds budget) {
    return collect(target, budget).text();
  }
  bool has_target(const std::string& target) const;
  std::vector<std::string> target_names() const;
  const ExporterOptions& options() const { return opts_; }

 private:
  SourceTracker& tracker(const std::string& target);
  ExporterOptions opts_;
  std::unique_ptr<AuditJob> audit_;
  std::unique_ptr<RepositoryJob> repository_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<SourceTracker>> trackers_;
  double scrapes_ = 0;
};

}  // namespace pvesafe::exporter
