// One result of an audit check: what is wrong, where, how bad, and what to do about it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvesafe::cluster {

// Ordered: a report's worst severity decides the exit code of `pvesafe audit`.
enum class Severity { kOk = 0, kInfo = 1, kWarning = 2, kCritical = 3 };

std::string_view severity_name(Severity s);  // "ok", "info", "warning", "critical"
Severity parse_severity(std::string_view name);  // throws kUsage on an unknown name

struct Finding {
  Severity severity = Severity::kInfo;
  std::string check;    // check id, e.g. "versions", "services", "corosync", "ha"
  std::string subject;  // what it is about: "node pve-02", "vm:100", "/etc/pve/corosync.conf"
  std::string node;     // node name when the finding is about one node ("" otherwise)
  std::string message;  // what is wrong, one line
  std::string remedy;   // what to do, one line
};

nlohmann::json to_json(const Finding& f);

}  // namespace pvesafe::cluster
