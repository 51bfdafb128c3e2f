#include "pve/drill.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace pvesafe::pve {

double union_seconds(std::vector<std::pair<double, double>> iv) {
  std::sort(iv.begin(), iv.end());
  double total = 0, cur_s = 0, cur_e = 0;
  bool open = false;
  for (auto [s, e] : iv) {
    if (e <= s) continue;
    if (!open || s > cur_e) {
      if (open) total += cur_e - cur_s;
      cur_s = s;
      cur_e = e;
      open = true;
    } else {
      cur_e = std::max(cur_e, e);
    }
  }
  if (open) total += cur_e - cur_s;
  return total;
}

std::vector<std::pair<std::string, double>> DrillStages::list() const {
  return {{"lookup", lookup},       {"fetch", fetch}, {"decrypt/verify", decrypt_verify},
          {"provision", provision}, {"boot", boot},   {"health", health},
          {"cleanup", cleanup}};
}

RtoPrediction predict_rto(const DrillStages& m, uint64_t snapshot_bytes, uint64_t fetched_bytes,
                          uint64_t disk_bytes, double link) {
  RtoPrediction p;
  p.disk_bytes = disk_bytes;
  p.link_bytes_per_second = link;
  double s = static_cast<double>(std::max<uint64_t>(snapshot_bytes, 1));
  double d = static_cast<double>(disk_bytes);
  double k = d / s;
  if (link > 0) {
    p.fetch = d * (static_cast<double>(fetched_bytes) / s) / link;
  } else {
    p.fetch = m.fetch * k;
  }
  p.decrypt_verify = m.decrypt_verify * k;
  p.provision = m.provision * k;
  p.rto = m.lookup + p.fetch + p.decrypt_verify + p.provision + m.boot + m.health;
  return p;
}

nlohmann::json to_json(const DrillStages& s) {
  return nlohmann::json{{"lookup_seconds", s.lookup},
                        {"fetch_seconds", s.fetch},
                        {"decrypt_verify_seconds", s.decrypt_verify},
                        {"provision_seconds", s.provision},
                        {"boot_seconds", s.boot},
                        {"health_seconds", s.health},
                        {"cleanup_seconds", s.cleanup}};
}

nlohmann::json to_json(const RtoPrediction& p) {
  return nlohmann::json{{"disk_bytes", p.disk_bytes},
                        {"link_bytes_per_second", p.link_bytes_per_second},
                        {"fetch_seconds", p.fetch},
                        {"decrypt_verify_seconds", p.decrypt_verify},
                        {"provision_seconds", p.provision},
                        {"rto_seconds", p.rto}};
}

std::string format_seconds(double s) {
  if (s < 60) return fmt::format("{:.2f}s", s);
  auto total = static_cast<int64_t>(std::llround(s));
  int64_t h = total / 3600, m = (total % 3600) / 60, sec = total % 60;
  if (h > 0) return fmt::format("{}h{:02}m{:02}s", h, m, sec);
  return fmt::format("{}m{:02}s", m, sec);
}

}  // namespace pvesafe::pve
