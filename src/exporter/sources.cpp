#include "exporter/sources.h"

namespace pvesafe::exporter {

void ScrapeReport::ok(const std::string& source, double seconds) {
  results_.push_back({source, true, {}, seconds});
}

void ScrapeReport::fail(const std::string& source, const std::string& error, double seconds) {
  results_.push_back({source, false, error.empty() ? "failed" : error, seconds});
}

bool ScrapeReport::all_ok() const {
  for (const auto& r : results_)
    if (!r.ok) return false;
  return true;
}

void SourceTracker::finish(const ScrapeReport& report, MetricSet& out) {
  std::lock_guard lk(mu_);
  for (const auto& r : report.results()) {
    double& errs = errors_[r.source];
    std::string& last = last_error_[r.source];
    std::string where = target_.empty() ? "" : " (target " + target_ + ")";
    if (!r.ok) {
      errs += 1;
      if (last != r.error && log_) {
        log_("source " + r.source + where + " failed: " + r.error);
      }
      last = r.error;
    } else if (!last.empty()) {
      if (log_) log_("source " + r.source + where + " recovered");
      last.clear();
    }
    out.gauge("pvesafe_source_up", "1 if the data source answered in this scrape, 0 if not",
              {{"source", r.source}}, r.ok ? 1 : 0);
    out.add("pvesafe_source_errors_total", MetricType::kCounter,
            "Failed reads of the data source since the exporter started", {{"source", r.source}},
            errs);
    out.gauge("pvesafe_source_duration_seconds", "Time the data source took in this scrape",
              {{"source", r.source}}, r.seconds);
  }
}

double SourceTracker::errors(const std::string& source) const {
  std::lock_guard lk(mu_);
  auto it = errors_.find(source);
  return it == errors_.end() ? 0 : it->second;
}

}  // namespace pvesafe::exporter
