// Health of the exporter's data sources (PVE API endpoints, corosync, the catalog).
//
// Every scrape records one outcome per source in a ScrapeReport. SourceTracker, which lives as
// long as the exporter (one per scrape target), turns the report into
//   pvesafe_source_up{source}                  1 when the source answered in this scrape, else 0
//   pvesafe_source_errors_total{source}        failed reads since the exporter started
//   pvesafe_source_duration_seconds{source}    time the source took in this scrape
// and writes one log line when a source starts failing (or fails differently) and one when it
// recovers, so a dead API does not flood the log at every scrape. Values from a failed source are
// never exposed: collectors emit nothing for it, so dashboards show a gap, not stale numbers.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "exporter/metric_set.h"

namespace pvesafe::exporter {

struct SourceResult {
  std::string source;
  bool ok = false;
  std::string error;
  double seconds = 0;
};

class ScrapeReport {
 public:
  void ok(const std::string& source, double seconds);
  void fail(const std::string& source, const std::string& error, double seconds);
  const std::vector<SourceResult>& results() const { return results_; }
  bool all_ok() const;

 private:
  std::vector<SourceResult> results_;
};

using LogFn = std::function<void(const std::string& line)>;

class SourceTracker {
 public:
  explicit SourceTracker(std::string target = {}, LogFn log = {})
      : target_(std::move(target)), log_(std::move(log)) {}
  // Thread-safe: scrapes of the same target may overlap.
  void finish(const ScrapeReport& report, MetricSet& out);
  double errors(const std::string& source) const;

 private:
  std::string target_;
  LogFn log_;
  mutable std::mutex mu_;
  std::map<std::string, double> errors_;
  std::map<std::string, std::string> last_error_;  // empty = healthy
};

}  // namespace pvesafe::exporter
