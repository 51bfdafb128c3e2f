// The DR fire drill of single guests: for each guest, its newest snapshot is restored as a
// scratch copy (vmid from /cluster/nextid, new MACs, network links down) on `node`, started and
// checked (jobs/guest_recovery.h), then removed; every stage is timed. The verdict compares the
// RTO with the SLA; the RTO predicted for the guest's configured disk size at `link` comes with it
// (pve/drill.h). Each drill is one "drill" row in the catalog; a failed drill removes its copy
// too, and says so when it could not.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "jobs/event_log.h"
#include "jobs/guest_recovery.h"

namespace pvesafe::jobs {

struct DrillOptions {
  pve::ClientOptions api;
  pve::SshTargets ssh;
  std::vector<std::string> guests;  // vmids
  std::string node;
  double sla_seconds = 900;
  double link_bytes_per_second = 0;  // 0: the measured fetch rate
  std::string storage;
  std::string dump_storage = "local";
  std::chrono::seconds health_timeout{300};
  std::chrono::seconds task_timeout{6 * 3600};
  double open_seconds = 0;  // time spent opening the repository, added to the first lookup
};

struct DrillResult {
  std::string guest_id, guest_type, node, scratch_id, snapshot_id, snapshot_time, file_name;
  uint64_t size_bytes = 0, fetched_bytes = 0, disk_bytes = 0;
  pve::DrillStages stages;
  std::vector<std::string> completed;
  std::string health_detail;
  bool passed = false;
  double sla_seconds = 0;
  std::optional<pve::RtoPrediction> prediction;
  std::optional<Error> error;
  bool cleanup_ok = true;
};

// The stage times and verdict as a catalog "drill" row's details_json, and as the report's
// entry for one guest.
nlohmann::json drill_details(const DrillResult& r);
nlohmann::json drill_report(const DrillResult& r);

// `repo` reads through `timing` (may be null).
std::vector<DrillResult> drill_guests(repo::Repository& repo, store::ReadTimingStore* timing,
                                      const DrillOptions& options, EventLog& log);

// Converts a recovery of a scratch copy into a drill result (verdict against sla_seconds).
DrillResult drill_result_from(const RecoveryResult& r, const std::string& guest_id,
                              double sla_seconds);
// One "drill" row; a non-empty `mode` ("site") is added to its details.
void record_drill(EventLog& log, const repo::Repository& repo, const DrillResult& r,
                  const std::string& mode = "");

}  // namespace pvesafe::jobs
