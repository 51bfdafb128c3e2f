// The cluster audit (`pvesafe audit`: quorum, version skew, services, HA placement, storage,
// certificates, corosync configuration) for central-mode targets, run in the background.
//
// An audit is a few API calls per node; its findings change over hours, not seconds. So it runs
// every `interval` on its own thread, and each scrape of a target adds the latest results:
//   pvesafe_audit_findings{check,severity}, pvesafe_audit_check_severity{check},
//   pvesafe_audit_worst_severity, pvesafe_audit_node_findings{node,severity}
//     (see cluster/audit_metrics.h), and
//   pvesafe_audit_last_run_timestamp_seconds   when the latest audit finished
//   pvesafe_audit_duration_seconds             how long it took
//   pvesafe_audit_up                           1 when it ran to the end, 0 when it failed
// Before the first audit of a target has finished, its scrape has none of these.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/audit.h"
#include "exporter/fetch.h"
#include "exporter/metric_set.h"
#include "exporter/sources.h"

namespace pvesafe::exporter {

class AuditJob {
 public:
  // Starts the thread: the first audit runs at once, then every `interval`.
  AuditJob(std::map<std::string, ApiGet> targets, cluster::AuditOptions options,
           std::chrono::seconds interval, LogFn log = {});
  ~AuditJob();  // stops the thread (an audit in progress finishes its current call first)
  AuditJob(const AuditJob&) = delete;
  AuditJob& operator=(const AuditJob&) = delete;

  // The latest results for `target` (empty before its first audit finished).
  MetricSet metrics(const std::string& target) const;
  // Blocks until every target has been audited at least `rounds` times, or `timeout` passes.
  bool wait_for_rounds(int rounds, std::chrono::milliseconds timeout) const;

 private:
  void loop();
  MetricSet audit_one(const std::string& name, const ApiGet& get);

  std::map<std::string, ApiGet> targets_;
  cluster::AuditOptions options_;
  std::chrono::seconds interval_;
  LogFn log_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, MetricSet> latest_;
  int rounds_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace pvesafe::exporter
