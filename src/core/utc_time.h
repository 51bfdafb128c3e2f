// ISO 8601 UTC timestamps, the one format pvesafe writes times in (manifests, locks, catalog,
// JSON output): "2026-11-26T01:00:00Z", or with microseconds "2026-11-26T01:00:00.123456Z".
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace pvesafe {

std::string format_utc(std::chrono::system_clock::time_point t);         // whole seconds
std::string format_utc_micros(std::chrono::system_clock::time_point t);  // microseconds
// Accepts "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ" and a fraction of up to 9 digits before the Z.
std::optional<std::chrono::system_clock::time_point> parse_utc(const std::string& s);

}  // namespace pvesafe
