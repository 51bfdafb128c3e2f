#include "exporter/exporter.h"

#include <malloc.h>

#include "core/error.h"
#include "exporter/catalog_collector.h"
#include "exporter/corosync_collector.h"

#ifndef PVESAFE_VERSION
#define PVESAFE_VERSION "0.1.0"
#endif

namespace pvesafe::exporter {

using Clock = std::chrono::steady_clock;

Exporter::Exporter(ExporterOptions opts) : opts_(std::move(opts)) {
  if (!opts_.node_mode && opts_.audit_interval.count() > 0 && !opts_.targets.empty()) {
    audit_ = std::make_unique<AuditJob>(opts_.targets, opts_.audit, opts_.audit_interval, opts_.log);
  }
  if (opts_.cache_ttl.count() > 0) evictor_ = std::thread([this] { evict_expired(); });
}

Exporter::~Exporter() {
  {
    std::lock_guard lk(cache_mu_);
    stopping_ = true;
  }
  cache_cv_.notify_all();
  if (evictor_.joinable()) evictor_.join();
}

std::shared_ptr<const MetricSet> Exporter::collect_shared(const std::string& target,
                                                          std::chrono::milliseconds budget) {
  if (opts_.cache_ttl.count() <= 0)
    return std::make_shared<const MetricSet>(collect(target, budget));
  std::promise<std::shared_ptr<const MetricSet>> promise;
  std::shared_future<std::shared_ptr<const MetricSet>> result;
  uint64_t generation = 0;
  {
    std::lock_guard lk(cache_mu_);
    auto it = cache_.find(target);
    if (it != cache_.end() && Clock::now() < it->second.expires) {
      ++cache_hits_;
      result = it->second.result;  // fresh, or still being collected
    } else {
      result = promise.get_future().share();
      generation = ++cache_generation_;
      cache_[target] = CacheEntry{result, Clock::time_point::max(), generation};
    }
  }
  if (generation == 0) return result.get();  // the collecting request's error is rethrown here
  auto mine = [&](auto fn) {
    std::lock_guard lk(cache_mu_);
    auto it = cache_.find(target);
    if (it != cache_.end() && it->second.generation == generation) fn(it);
  };
  const auto started = Clock::now();
  try {
    auto m = std::make_shared<const MetricSet>(collect(target, budget));
    promise.set_value(m);
    // Reused until cache_ttl after the collection started: a Prometheus scraping every
    // interval > cache_ttl always gets a fresh collection.
    mine([&](auto it) { it->second.expires = started + opts_.cache_ttl; });
    cache_cv_.notify_all();
    return m;
  } catch (...) {
    promise.set_exception(std::current_exception());
    mine([&](auto it) { cache_.erase(it); });  // a failure is not kept
    throw;
  }
}

void Exporter::evict_expired() {
  std::unique_lock lk(cache_mu_);
  while (!stopping_) {
    auto now = Clock::now();
    auto next = Clock::time_point::max();
    std::vector<std::shared_future<std::shared_ptr<const MetricSet>>> dropped;
    for (auto it = cache_.begin(); it != cache_.end();) {
      if (it->second.expires <= now) {
        dropped.push_back(std::move(it->second.result));
        it = cache_.erase(it);
      } else {
        next = std::min(next, it->second.expires);
        ++it;
      }
    }
    if (!dropped.empty()) {
      lk.unlock();
      dropped.clear();  // the samples go unless a response still streams them
      malloc_trim(0);
      lk.lock();
      continue;
    }
    if (next == Clock::time_point::max()) {
      cache_cv_.wait(lk);
    } else {
      cache_cv_.wait_until(lk, next);
    }
  }
}

bool Exporter::has_target(const std::string& target) const {
  return target.empty() || opts_.targets.count(target) != 0;
}

std::vector<std::string> Exporter::target_names() const {
  std::vector<std::string> v;
  for (const auto& [k, _] : opts_.targets) v.push_back(k);
  return v;
}

SourceTracker& Exporter::tracker(const std::string& target) {
  std::lock_guard lk(mu_);
  auto& t = trackers_[target];
  if (!t) t = std::make_unique<SourceTracker>(target, opts_.log);
  return *t;
}

MetricSet Exporter::collect(const std::string& target, std::chrono::milliseconds budget) {
  if (!has_target(target)) {
    throw pvesafe::Error(Errc::kNotFound, "unknown scrape target '" + target + "'",
                         "use one of the names given with --target");
  }
  auto start = Clock::now();
  if (budget > opts_.max_scrape_time) budget = opts_.max_scrape_time;
  if (budget < std::chrono::milliseconds(200)) budget = std::chrono::milliseconds(200);
  auto deadline = start + budget;
  MetricSet out;
  ScrapeReport report;

  if (!target.empty()) {
    PveCollectOptions po = opts_.pve;
    collect_pve(opts_.targets.at(target), po, deadline, out, report);
    if (audit_) out.merge(audit_->metrics(target));
  } else {
    if (opts_.node_mode && opts_.corosync) {
      cluster::CorosyncRuntime rt;
      std::string err;
      double secs = 0;
      if (run_with_deadline<cluster::CorosyncRuntime>(opts_.corosync_reader, deadline, rt, err,
                                                      secs)) {
        collect_corosync(rt, out);
        report.ok("corosync", secs);
      } else {
        report.fail("corosync", err, secs);
      }
    }
    if (opts_.node_mode && opts_.local_api) {
      PveCollectOptions po = opts_.pve;
      po.only_node = opts_.node_name;
      po.ceph = false;
      // This node's view: its own status and versions; the cluster-wide figures come from the
      // central exporter (or any single node's API) so they are not exported once per node.
      po.node_details = !po.only_node.empty();
      MetricSet api;
      ScrapeReport api_report;
      auto get = opts_.local_api;
      std::vector<std::string> paths = {"/cluster/status"};
      auto r = fetch_all(get, paths, deadline, 1);
      if (r[0].ok) {
        MetricSet part;
        try {
          collect_cluster_status(r[0].data, part);
          out.merge(std::move(part));
          report.ok("cluster_status", r[0].seconds);
        } catch (const std::exception& e) {
          report.fail("cluster_status", std::string("/cluster/status: ") + e.what(), r[0].seconds);
        }
      } else {
        report.fail("cluster_status", "/cluster/status: " + r[0].error, r[0].seconds);
      }
      if (!po.only_node.empty()) {
        std::vector<std::string> p2 = {"/nodes/" + po.only_node + "/status",
                                       "/nodes/" + po.only_node + "/apt/versions"};
        auto r2 = fetch_all(get, p2, deadline, 2);
        auto one = [&](const FetchOutcome& o, const char* source, auto&& fn) {
          if (!o.ok) {
            report.fail(source, o.path + ": " + o.error, o.seconds);
            return;
          }
          MetricSet part;
          try {
            fn(po.only_node, o.data, part);
            out.merge(std::move(part));
            report.ok(source, o.seconds);
          } catch (const std::exception& e) {
            report.fail(source, o.path + ": unexpected answer: " + e.what(), o.seconds);
          }
        };
        one(r2[0], "node_status", collect_node_status);
        one(r2[1], "node_versions", collect_node_versions);
      }
    }
    if (!opts_.catalog_path.empty()) {
      MetricSet cat;
      std::string err;
      double secs = 0;
      std::string path = opts_.catalog_path;
      bool ok = run_with_deadline<MetricSet>(
          [path] {
            MetricSet m;
            collect_catalog(path, m);
            return m;
          },
          deadline, cat, err, secs);
      if (ok) {
        out.merge(std::move(cat));
        report.ok("catalog", secs);
      } else {
        report.fail("catalog", err, secs);
      }
    }
  }

  tracker(target).finish(report, out);
  double scrapes;
  {
    std::lock_guard lk(mu_);
    scrapes = ++scrapes_;
  }
  out.add("pvesafe_exporter_build_info", MetricType::kInfo, "pvesafe exporter version and mode",
          {{"version", PVESAFE_VERSION}, {"mode", opts_.node_mode ? "node" : "central"}}, 1);
  out.add("pvesafe_exporter_scrapes_total", MetricType::kCounter,
          "Scrapes served since the exporter started", {}, scrapes);
  out.gauge("pvesafe_exporter_scrape_budget_seconds", "Time budget of this scrape", {},
            std::chrono::duration<double>(budget).count());
  out.gauge("pvesafe_exporter_scrape_duration_seconds", "Time this scrape took", {},
            std::chrono::duration<double>(Clock::now() - start).count());
  return out;
}

}  // namespace pvesafe::exporter
