#include "jobs/site_drill.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "jobs/drill.h"
#include "pve/guest.h"
#include "pve/provision.h"

namespace pvesafe::jobs {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
}  // namespace

SiteStageTotals stage_totals(const SiteRestoreResult& r) {
  SiteStageTotals t;
  for (const auto& g : r.guests) {
    if (g.status != "ok" && g.status != "failed") continue;
    const auto& s = g.recovery.stages;
    t.sum.lookup += s.lookup;
    t.sum.fetch += s.fetch;
    t.sum.decrypt_verify += s.decrypt_verify;
    t.sum.provision += s.provision;
    t.sum.boot += s.boot;
    t.sum.health += s.health;
    t.sum.cleanup += s.cleanup;
    ++t.guests;
  }
  return t;
}

// Least-squares line y = a + b*x through the guests' (archive size, stage seconds), when the
// sizes spread enough (largest at least 1.5x the smallest, 3 guests or more) and the slope is
// positive; a is clamped at 0. Else nullopt: the stage is then scaled in proportion.
std::optional<std::pair<double, double>> fit_line(const std::vector<std::pair<double, double>>& p) {
  if (p.size() < 3) return std::nullopt;
  double lo = p[0].first, hi = p[0].first, sx = 0, sy = 0;
  for (const auto& [x, y] : p) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    sx += x;
    sy += y;
  }
  if (lo <= 0 || hi < 1.5 * lo) return std::nullopt;
  double n = static_cast<double>(p.size()), mx = sx / n, my = sy / n, sxx = 0, sxy = 0;
  for (const auto& [x, y] : p) {
    sxx += (x - mx) * (x - mx);
    sxy += (x - mx) * (y - my);
  }
  if (sxx <= 0) return std::nullopt;
  double b = sxy / sxx;
  if (b <= 0) return std::nullopt;
  return std::make_pair(std::max(0.0, my - b * mx), b);
}

SitePrediction predict_site_rto(const SiteRestoreResult& m, uint64_t total, double link) {
  SitePrediction p;
  p.jobs = std::max(1, m.jobs);
  p.link_bytes_per_second = link;
  uint64_t own = 0;
  for (const auto& g : m.guests) {
    if (g.status == "ok") own += g.plan.disk_bytes ? g.plan.disk_bytes : g.recovery.size_bytes;
  }
  std::vector<std::pair<double, double>> prov, dec;
  for (const auto& g : m.guests) {
    if (g.status != "ok") continue;
    double s = static_cast<double>(g.recovery.size_bytes);
    prov.emplace_back(s, g.recovery.stages.provision);
    dec.emplace_back(s, g.recovery.stages.decrypt_verify);
  }
  auto prov_line = fit_line(prov), dec_line = fit_line(dec);
  p.fitted = prov_line.has_value() || dec_line.has_value();
  // A stage at disk size d: on the fitted line, else the measured time scaled by d/s.
  auto at = [](const std::optional<std::pair<double, double>>& line, double measured, double s,
               double d) { return line ? line->first + line->second * d : measured * d / s; };
  double transfer_bytes = 0, fetch_scaled = 0, work = 0;
  for (const auto& g : m.guests) {
    if (g.status != "ok") continue;
    const auto& r = g.recovery;
    double s = static_cast<double>(std::max<uint64_t>(r.size_bytes, 1));
    double d = static_cast<double>(g.plan.disk_bytes ? g.plan.disk_bytes : r.size_bytes);
    if (total && own) d = static_cast<double>(total) * d / static_cast<double>(own);
    double k = d / s;
    transfer_bytes += d * static_cast<double>(r.fetched_bytes) / s;
    fetch_scaled += r.stages.fetch * k;
    work += at(dec_line, r.stages.decrypt_verify, s, d) + at(prov_line, r.stages.provision, s, d) +
            r.stages.lookup + r.stages.boot + r.stages.health;
    p.disk_bytes += static_cast<uint64_t>(d);
  }
  p.transfer = link > 0 ? transfer_bytes / link : fetch_scaled / p.jobs;
  p.work = work / p.jobs;
  p.rto = m.plan_seconds + p.transfer + p.work;
  return p;
}

SiteDrillResult drill_site(repo::Repository& repo, store::ReadTimingStore* timing,
                           const SiteDrillOptions& o, EventLog& log) {
  SiteRestoreOptions so = o.site;
  so.scratch = true;
  so.use_cluster_config = false;
  so.start = true;
  auto started = Clock::now();
  SitePlan plan = plan_site_restore(repo, so);
  if (so.planned) so.planned(plan);
  SiteDrillResult r;
  r.sla_seconds = o.sla_seconds;
  r.open_seconds = o.open_seconds;
  r.run = run_site_plan(repo, timing, so, std::move(plan), started, nullptr);
  r.rto_seconds = r.open_seconds + r.run.rto_seconds;

  // Every copy stays until the last one is healthy; now they go.
  auto tc = Clock::now();
  pve::Client client(so.api);
  for (auto& g : r.run.guests) {
    if (g.status != "ok" && g.status != "failed") continue;
    const std::string& vmid = g.plan.target.vmid;
    auto t0 = Clock::now();
    try {
      if (auto info = pve::lookup_guest(client, vmid)) {
        pve::destroy_guest(client, info->node, info->type, vmid);
      }
      if (pve::lookup_guest(client, vmid)) {
        r.not_removed.push_back(vmid);
      } else {
        g.recovery.completed.push_back("cleanup");
      }
    } catch (const Error& e) {
      spdlog::error("could not remove scratch guest {}: {}", vmid, e.what());
      r.not_removed.push_back(vmid);
    }
    g.recovery.stages.cleanup = since(t0);
  }
  r.cleanup_seconds = since(tc);
  r.prediction = predict_site_rto(r.run, o.predict_total_bytes, o.link_bytes_per_second);
  for (double gbit : {1.0, 10.0}) {
    r.standard_links.push_back(predict_site_rto(r.run, o.predict_total_bytes, gbit * 1e9 / 8));
  }
  r.passed = r.run.count("failed") == 0 && r.run.count("missing") == 0 && r.not_removed.empty() &&
             r.rto_seconds <= o.sla_seconds;

  for (const auto& g : r.run.guests) {
    if (g.status != "ok" && g.status != "failed") continue;
    DrillResult d = drill_result_from(g.recovery, g.plan.source_vmid, o.sla_seconds);
    d.cleanup_ok = std::find(r.not_removed.begin(), r.not_removed.end(), g.plan.target.vmid) ==
                   r.not_removed.end();
    record_drill(log, repo, d, "site");
  }
  repo::CatalogEvent ev;
  ev.kind = "site-drill";
  ev.repository = repo.location();
  ev.node = r.run.plan.target_cluster;
  ev.duration_seconds = r.rto_seconds;
  uint64_t bytes = 0;
  for (const auto& g : r.run.guests) bytes += g.recovery.size_bytes;
  ev.size_bytes = static_cast<int64_t>(bytes);
  ev.result = r.passed ? "ok" : "error";
  if (!r.passed) {
    ev.error = r.run.count("failed") || r.run.count("missing")
                   ? fmt::format("{} guests failed, {} missing", r.run.count("failed"),
                                 r.run.count("missing"))
               : !r.not_removed.empty() ? "scratch guests left behind"
                                        : "site RTO over SLA";
  }
  nlohmann::json det = to_json(r);
  det.erase("guests");
  ev.details_json = det.dump();
  log.record(ev);
  return r;
}

nlohmann::json to_json(const SitePrediction& p) {
  return {
      {"disk_bytes", p.disk_bytes},
      {"link_bytes_per_second", p.link_bytes_per_second},
      {"jobs", p.jobs},
      {"transfer_seconds", p.transfer},
      {"work_seconds", p.work},
      {"rto_seconds", p.rto},
      {"fitted", p.fitted},
      {"method",
       "plan + transfer' + work', transfer' = sum(disk*fetched/size)/link (or "
       "sum(fetch*k)/jobs), work' = sum(decrypt_verify' + provision' + lookup+boot+health)/jobs; "
       "decrypt_verify' and provision' on the least-squares line a+b*size through the "
       "guests when their sizes spread (fitted), else the measured time * k, k = disk/size"}};
}

nlohmann::json to_json(const SiteDrillResult& r) {
  nlohmann::json j = to_json(r.run);
  auto totals = stage_totals(r.run);
  j["mode"] = "site";
  j["open_seconds"] = r.open_seconds;
  j["rto_seconds"] = r.rto_seconds;
  j["run_rto_seconds"] = r.run.rto_seconds;
  j["sla_seconds"] = r.sla_seconds;
  j["passed"] = r.passed;
  j["cleanup_seconds"] = r.cleanup_seconds;
  j["not_removed"] = r.not_removed;
  j["stage_totals"] = pve::to_json(totals.sum);
  j["prediction"] = to_json(r.prediction);
  j["predictions_by_link"] = nlohmann::json::array();
  for (const auto& p : r.standard_links) j["predictions_by_link"].push_back(to_json(p));
  j["predicted_rto_seconds"] = r.prediction.rto;
  return j;
}

}  // namespace pvesafe::jobs
