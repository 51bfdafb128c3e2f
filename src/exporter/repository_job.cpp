#include "exporter/repository_job.h"

#include "exporter/backup_freshness.h"

namespace pvesafe::exporter {

namespace {
double epoch_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

RepositoryJob::RepositoryJob(SnapshotLister list, std::map<std::string, ApiGet> targets,
                             std::chrono::seconds interval)
    : list_(std::move(list)),
      targets_(std::move(targets)),
      interval_(interval),
      thread_([this] { loop(); }) {}

RepositoryJob::~RepositoryJob() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

RepositoryJob::Result RepositoryJob::result(const std::string& target) const {
  std::lock_guard lk(mu_);
  auto it = latest_.find(target);
  return it == latest_.end() ? Result() : it->second;
}

bool RepositoryJob::wait_for_rounds(int rounds, std::chrono::milliseconds timeout) const {
  std::unique_lock lk(mu_);
  return cv_.wait_for(lk, timeout, [&] { return rounds_ >= rounds; });
}

void RepositoryJob::loop() {
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<repo::SnapshotInfo> snapshots;
    std::string list_error;
    try {
      snapshots = list_();
    } catch (const std::exception& e) {
      list_error = std::string("listing the repository's snapshots: ") + e.what();
    }
    for (const auto& [name, get] : targets_) {
      {
        std::lock_guard lk(mu_);
        if (stop_) return;
      }
      Result r;
      r.ran = true;
      std::string error = list_error;
      if (error.empty()) {
        std::string path;
        try {
          path = "/cluster/resources?type=vm";
          nlohmann::json vms = get(path);
          path = "/nodes";
          nlohmann::json nodes = get(path);
          nlohmann::json not_backed_up;  // older or restricted APIs: unknown, not an error
          try {
            not_backed_up = get("/cluster/backup-info/not-backed-up");
          } catch (const std::exception&) {
          }
          ClusterView view = parse_cluster_view(vms, nodes, not_backed_up);
          backup_freshness_metrics(join_backups(snapshots, view), view, r.metrics);
        } catch (const std::exception& e) {
          error = path + ": " + e.what();
          r.metrics = MetricSet();
        }
      }
      r.ok = error.empty();
      r.error = error;
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::lock_guard lk(mu_);
      if (r.ok) last_ok_[name] = epoch_now();
      if (last_ok_.count(name))
        r.metrics.gauge("pvesafe_repository_last_read_timestamp_seconds",
                        "When the repository's snapshots were last read and joined with the "
                        "cluster's guests",
                        {}, last_ok_[name]);
      latest_[name] = std::move(r);
    }
    std::unique_lock lk(mu_);
    ++rounds_;
    cv_.notify_all();
    if (cv_.wait_for(lk, interval_, [&] { return stop_; })) return;
  }
}

}  // namespace pvesafe::exporter
