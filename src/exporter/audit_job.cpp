#include "exporter/audit_job.h"

#include "cluster/audit_metrics.h"

namespace pvesafe::exporter {

AuditJob::AuditJob(std::map<std::string, ApiGet> targets, cluster::AuditOptions options,
                   std::chrono::seconds interval, LogFn log)
    : targets_(std::move(targets)),
      options_(std::move(options)),
      interval_(interval),
      log_(std::move(log)),
      thread_([this] { loop(); }) {}

AuditJob::~AuditJob() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

MetricSet AuditJob::metrics(const std::string& target) const {
  std::lock_guard lk(mu_);
  auto it = latest_.find(target);
  return it == latest_.end() ? MetricSet() : it->second;
}

bool AuditJob::wait_for_rounds(int rounds, std::chrono::milliseconds timeout) const {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return rounds_ >= rounds; });
}

MetricSet AuditJob::audit_one(const std::string& name, const ApiGet& get) {
  const auto start = std::chrono::steady_clock::now();
  MetricSet m;
  bool ok = true;
  try {
    for (const auto& s : cluster::audit_metrics(cluster::run_audit(get, options_))) {
      LabelSet labels;
      for (const auto& [k, v] : s.labels) labels.add(k, v);
      m.gauge(s.name, s.help, labels, s.value);
    }
  } catch (const std::exception& e) {
    // The checks report unreachable endpoints as findings; anything else is a failed audit.
    ok = false;
    m = MetricSet();
    if (log_) log_("audit of " + name + " failed: " + e.what());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.gauge("pvesafe_audit_up", "1 when the latest cluster audit ran to the end, 0 when it failed", {},
          ok ? 1 : 0);
  m.gauge("pvesafe_audit_duration_seconds", "How long the latest cluster audit took", {}, secs);
  m.gauge("pvesafe_audit_last_run_timestamp_seconds", "When the latest cluster audit finished", {},
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  return m;
}

void AuditJob::loop() {
  for (;;) {
    for (const auto& [name, get] : targets_) {
      {
        std::lock_guard lk(mu_);
        if (stop_) return;
      }
      MetricSet m = audit_one(name, get);
      std::lock_guard lk(mu_);
      latest_[name] = std::move(m);
    }
    std::unique_lock lk(mu_);
    ++rounds_;
    cv_.notify_all();
    if (cv_.wait_for(lk, interval_, [&] { return stop_; })) return;
  }
}

}  // namespace pvesafe::exporter
