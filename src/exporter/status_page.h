// A plain HTML status page (no scripts, no external assets) rendered from one scrape:
// cluster health (quorum, HA, Ceph), nodes, backups per guest with their age, the last DR
// drills, and the health of the exporter's data sources.
#pragma once

#include <string>

#include "exporter/metric_set.h"

namespace pvesafe::exporter {

// `now` is seconds since the epoch (ages are computed against it).
std::string render_status_page(const std::string& title, const MetricSet& m, double now);

// "3d 4h", "12m", "45s"
std::string format_age(double seconds);

}  // namespace pvesafe::exporter
