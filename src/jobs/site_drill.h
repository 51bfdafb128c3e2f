// The site fire drill: a chosen set of guests restored at once, as scratch copies (fresh vmids,
// new MACs, network links down, no HA), onto a target cluster, from whatever repository holds
// them (a directory or S3); every guest started and health-checked, every stage timed, then every
// copy removed. The site RTO is the time from the start (plan included) until the last guest is
// healthy; the verdict compares it with the SLA.
//
// Prediction for the real site (predict_site_rto): the drill's guests are small, the real ones
// are not. Each guest's disk size D_i (its snapshot's configured disk size, or a share of
// `predict_total_bytes` in proportion to it) scales what grows with data, k_i = D_i / S_i (S_i the
// archive restored):
//   transfer' = sum(D_i * F_i / S_i) / link            (F_i bytes fetched; the link is shared)
//               or sum(fetch_i * k_i) / jobs           (no link given: the measured rate)
//   work'     = sum(decrypt_verify'_i + provision'_i + lookup_i + boot_i + health_i) / jobs
//   RTO'      = plan + transfer' + work'
// where provision' and decrypt_verify' come from a least-squares line a + b*S through the
// drilled guests' (S_i, stage_i) evaluated at D_i, when the guests' sizes spread (the largest at
// least 1.5x the smallest, 3 or more guests, positive slope): a task's fixed cost is then not
// scaled with the data. Otherwise they are the measured times scaled by k_i.
// The sum is an upper bound: a guest's transfer overlaps other guests' work in the real run.
// Catalog: one "drill" row per guest (details mode "site") and one "site-drill" row, which the
// exporter turns into pvesafe_site_drill_* metrics.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "jobs/site_restore.h"

namespace pvesafe::jobs {

struct SiteDrillOptions {
  SiteRestoreOptions site;  // scratch is forced on
  double sla_seconds = 900;
  double link_bytes_per_second = 0;  // 0: the measured fetch rate
  uint64_t predict_total_bytes = 0;  // 0: the guests' own disk sizes
  double open_seconds = 0;           // opening the repository, counted in the RTO
};

struct SitePrediction {
  uint64_t disk_bytes = 0;
  double link_bytes_per_second = 0;
  int jobs = 1;
  double transfer = 0, work = 0, rto = 0;
  bool fitted = false;  // provision or decrypt/verify from a fitted line (see above)
};

SitePrediction predict_site_rto(const SiteRestoreResult& measured, uint64_t total_disk_bytes,
                                double link_bytes_per_second);

struct SiteStageTotals {
  pve::DrillStages sum;  // each stage summed over the guests
  int guests = 0;
};
SiteStageTotals stage_totals(const SiteRestoreResult& r);

struct SiteDrillResult {
  SiteRestoreResult run;
  double open_seconds = 0;
  double rto_seconds = 0;  // open + run.rto_seconds
  double cleanup_seconds = 0;
  std::vector<std::string> not_removed;  // scratch vmids left behind
  double sla_seconds = 0;
  bool passed = false;
  SitePrediction prediction;
  // The same prediction at 1 Gbit/s and 10 Gbit/s, for the report beside the SLA.
  std::vector<SitePrediction> standard_links;
};

// Throws what plan_site_restore throws; guest failures are in the result (passed false).
SiteDrillResult drill_site(repo::Repository& repo, store::ReadTimingStore* timing,
                           const SiteDrillOptions& options, EventLog& log);

nlohmann::json to_json(const SiteDrillResult& r);
nlohmann::json to_json(const SitePrediction& p);

}  // namespace pvesafe::jobs
