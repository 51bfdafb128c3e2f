// The exporter: runs the collectors of one scrape target within a time budget and returns
// Prometheus text. Two modes share it:
//   node mode     corosync runtime state of this node (+ the local PVE API for this node's
//                 figures, + the catalog); one exporter per node.
//   central mode  whole clusters through their PVE APIs, one named target per cluster
//                 (/metrics?target=NAME, the multi-target "probe" pattern); the catalog and the
//                 exporter's own metrics on /metrics without a target.
// A scrape never takes longer than its budget: sources that have not answered by then are
// reported down (pvesafe_source_up 0) and contribute no values.
//
// collect_shared() answers from a short cache (ExporterOptions::cache_ttl): scrapes of one target
// that arrive while its collection runs wait for it, and those up to cache_ttl after it started
// get the same samples, so several Prometheus servers (or a burst of requests) cost the PVE API
// one collection. Keep cache_ttl below the scrape interval, so one Prometheus always gets fresh
// figures. Expired entries are dropped by a background thread, so the samples of a large
// cluster do not stay in memory between scrapes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cluster/audit.h"
#include "cluster/corosync_runtime.h"
#include "exporter/audit_job.h"
#include "exporter/fetch.h"
#include "exporter/metric_set.h"
#include "exporter/pve_collector.h"
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
  // collect_shared(): how long after its start a collection is reused; 0 = every scrape collects.
  std::chrono::milliseconds cache_ttl{0};
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
  // collect() through the cache (see above); the budget of the collection is the one of the
  // request that started it.
  std::shared_ptr<const MetricSet> collect_shared(const std::string& target,
                                                  std::chrono::milliseconds budget);
  // Answers collect_shared() gave without collecting (waiting for a running collection counts).
  uint64_t cache_hits() const { return cache_hits_.load(); }
  bool has_target(const std::string& target) const;
  std::vector<std::string> target_names() const;
  const ExporterOptions& options() const { return opts_; }

 private:
  struct CacheEntry {
    std::shared_future<std::shared_ptr<const MetricSet>> result;
    std::chrono::steady_clock::time_point expires{std::chrono::steady_clock::time_point::max()};
    uint64_t generation = 0;  // which collection filled it
  };
  SourceTracker& tracker(const std::string& target);
  void evict_expired();
  ExporterOptions opts_;
  std::unique_ptr<AuditJob> audit_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<SourceTracker>> trackers_;
  double scrapes_ = 0;
  std::mutex cache_mu_;
  std::condition_variable cache_cv_;
  std::map<std::string, CacheEntry> cache_;
  std::atomic<uint64_t> cache_hits_{0};
  uint64_t cache_generation_ = 0;
  bool stopping_ = false;
  std::thread evictor_;
};

}  // namespace pvesafe::exporter
