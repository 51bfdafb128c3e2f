// Backup freshness of central-mode targets, read from the repository in the background.
//
// Listing a repository's snapshots reads every manifest, which is too slow for each scrape and
// changes only when a backup finishes. So a thread lists them every `interval` (and at start),
// reads each target's guests, nodes and /cluster/backup-info/not-backed-up through its API, joins
// them (backup_freshness.h) and keeps the result; each scrape of a target adds it. Nothing comes
// from any host's catalog: the snapshots of every node are in the repository.
//
// The outcome is reported as source "repository" of the target's scrape (pvesafe_source_up):
// when the listing or the target's API fails, the target gets no freshness values at all (never
// stale ones), and pvesafe_repository_last_read_timestamp_seconds says when it last succeeded.
// The scrape's source tracker logs when it starts and stops failing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "exporter/fetch.h"
#include "exporter/metric_set.h"
#include "exporter/sources.h"
#include "repo/manifest.h"

namespace pvesafe::exporter {

using SnapshotLister = std::function<std::vector<repo::SnapshotInfo>()>;

class RepositoryJob {
 public:
  struct Result {
    bool ran = false;  // false before the first round finished
    bool ok = false;
    std::string error;  // one line, when !ok
    double seconds = 0;
    MetricSet metrics;
  };

  // Starts the thread: the first round runs at once, then every `interval`.
  RepositoryJob(SnapshotLister list, std::map<std::string, ApiGet> targets,
                std::chrono::seconds interval);
  ~RepositoryJob();
  RepositoryJob(const RepositoryJob&) = delete;
  RepositoryJob& operator=(const RepositoryJob&) = delete;

  Result result(const std::string& target) const;
  // Blocks until `rounds` rounds have finished, or `timeout` passes.
  bool wait_for_rounds(int rounds, std::chrono::milliseconds timeout) const;

 private:
  void loop();

  SnapshotLister list_;
  std::map<std::string, ApiGet> targets_;
  std::chrono::seconds interval_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, Result> latest_;
  std::map<std::string, double> last_ok_;  // per target, epoch seconds
  int rounds_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace pvesafe::exporter
