#include "cluster/audit_metrics.h"

namespace pvesafe::cluster {

std::vector<AuditMetric> audit_metrics(const AuditReport& report) {
  std::vector<AuditMetric> out;
  const Severity kinds[] = {Severity::kInfo, Severity::kWarning, Severity::kCritical};
  const std::string findings_help = "Audit findings by check and severity.";
  for (const auto& run : report.checks) {
    // Findings of a check are recorded under sub-ids such as corosync.links: count them by the
    // part before the first dot so every check has one series per severity.
    for (Severity sev : kinds) {
      double n = 0;
      for (const auto& f : report.findings) {
        std::string top = f.check.substr(0, f.check.find('.'));
        if (top == run.check && f.severity == sev) ++n;
      }
      out.push_back({"pvesafe_audit_findings",
                     findings_help,
                     {{"check", run.check}, {"severity", std::string(severity_name(sev))}},
                     n});
    }
    out.push_back({"pvesafe_audit_check_severity",
                   "Worst severity of an audit check (0 ok, 1 info, 2 warning, 3 critical).",
                   {{"check", run.check}},
                   static_cast<double>(run.worst)});
  }
  out.push_back({"pvesafe_audit_worst_severity",
                 "Worst severity of the whole audit (0 ok, 1 info, 2 warning, 3 critical).",
                 {},
                 static_cast<double>(report.worst())});
  std::map<std::pair<std::string, Severity>, double> per_node;
  for (const auto& f : report.findings)
    if (!f.node.empty()) per_node[{f.node, f.severity}] += 1;
  for (const auto& [key, n] : per_node) {
    out.push_back({"pvesafe_audit_node_findings",
                   "Audit findings about one node, by severity.",
                   {{"node", key.first}, {"severity", std::string(severity_name(key.second))}},
                   n});
  }
  return out;
}

}  // namespace pvesafe::cluster
