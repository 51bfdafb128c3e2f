// Audit results as metric samples, for the exporter to render as pvesafe_audit_* series.
//
//   pvesafe_audit_findings{check,severity}        gauge: number of findings (0 series included
//                                                 for every check that ran and each severity)
//   pvesafe_audit_check_severity{check}           gauge: worst severity of the check
//                                                 (0 ok, 1 info, 2 warning, 3 critical)
//   pvesafe_audit_worst_severity                  gauge: worst severity of the whole audit
//   pvesafe_audit_node_findings{node,severity}    gauge: findings per node (nodes that have any)
//
// The exporter owns HELP/TYPE rendering and the scrape schedule; this file only computes values.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cluster/audit.h"

namespace pvesafe::cluster {

struct AuditMetric {
  std::string name;  // full metric name, e.g. "pvesafe_audit_findings"
  std::string help;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<AuditMetric> audit_metrics(const AuditReport& report);

}  // namespace pvesafe::cluster
