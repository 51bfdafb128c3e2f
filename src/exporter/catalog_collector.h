// Backup freshness and DR drill results from the pvesafe catalog (SQLite, table `events`,
// schema in docs/format.md). The database is opened read-only and never created: a missing or
// unreadable catalog is a failed source ("catalog"), not an empty one.
//
// Per guest (labels guest, node, type):
//   pvesafe_backup_last_success_timestamp_seconds, pvesafe_backup_last_size_bytes,
//   pvesafe_backup_last_stored_bytes, pvesafe_backup_last_duration_seconds,
//   pvesafe_backup_last_dedup_ratio,
//   pvesafe_backup_last_requests, pvesafe_backup_last_requests_per_gib
//                                                 from the newest successful backup
//   pvesafe_backup_last_attempt_timestamp_seconds, pvesafe_backup_last_attempt_success
//                                                 from the newest backup attempt
// Per guest for drills (kind=drill; details_json may hold rto_seconds, sla_seconds / rto_sla_seconds
// and stages as {"name": seconds} or [{"name":..,"seconds":..}]):
//   pvesafe_drill_last_timestamp_seconds, pvesafe_drill_last_success, pvesafe_drill_last_rto_seconds,
//   pvesafe_drill_rto_sla_seconds, pvesafe_drill_last_stage_duration_seconds{stage}
#pragma once

#include <string>

#include "exporter/metric_set.h"

namespace pvesafe::exporter {

// Throws pvesafe::Error (kIo) when the catalog cannot be opened or read.
void collect_catalog(const std::string& path, MetricSet& out);

// ISO 8601 UTC ("2026-11-26T01:00:00Z", fractional seconds allowed) -> seconds since the epoch;
// returns -1 when the text is not such a time.
double parse_iso8601_utc(const std::string& text);

}  // namespace pvesafe::exporter
