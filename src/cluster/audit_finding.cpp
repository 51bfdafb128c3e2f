#include "cluster/audit_finding.h"

#include "core/error.h"

namespace pvesafe::cluster {

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::kOk: return "ok";
    case Severity::kInfo: return "info";
    case Severity::kWarning: return "warning";
    case Severity::kCritical: return "critical";
  }
  return "unknown";
}

Severity parse_severity(std::string_view name) {
  if (name == "ok") return Severity::kOk;
  if (name == "info") return Severity::kInfo;
  if (name == "warning") return Severity::kWarning;
  if (name == "critical") return Severity::kCritical;
  throw Error(Errc::kUsage, "unknown severity '" + std::string(name) + "'",
              "use ok, info, warning or critical");
}

nlohmann::json to_json(const Finding& f) {
  nlohmann::json j{{"severity", severity_name(f.severity)},
                   {"check", f.check},
                   {"subject", f.subject},
                   {"message", f.message},
                   {"remedy", f.remedy}};
  if (!f.node.empty()) j["node"] = f.node;
  return j;
}

}  // namespace pvesafe::cluster
