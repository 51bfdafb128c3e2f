#include "repo/retention.h"

#include <algorithm>
#include <ctime>
#include <functional>
#include <map>
#include <set>

namespace pvesafe::repo {

namespace {
std::string period(const SnapshotInfo& s, const char* fmt) {
  std::time_t tt = std::chrono::system_clock::to_time_t(s.time);
  std::tm tm{};
  localtime_r(&tt, &tm);  // as Proxmox Backup Server: a "day" is the operator's day
  char buf[32];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}
}  // namespace

std::string retention_group(const SnapshotInfo& s) {
  if (!s.guest_id.empty()) return (s.guest_type.empty() ? "guest" : s.guest_type) + "/" + s.guest_id;
  return "host/" + s.hostname + "/" + s.file_name;
}

std::vector<RetentionDecision> apply_retention(std::vector<SnapshotInfo> group, const KeepPolicy& p) {
  std::sort(group.begin(), group.end(), [](const SnapshotInfo& a, const SnapshotInfo& b) {
    return a.time != b.time ? a.time > b.time : a.id > b.id;
  });
  std::vector<RetentionDecision> d;
  for (auto& s : group) d.push_back(RetentionDecision{std::move(s), false, ""});
  if (!p.any()) {
    for (auto& x : d) {
      x.keep = true;
      x.reason = "no policy";
    }
    return d;
  }
  std::vector<bool> marked(d.size(), false);  // decided (keep or remove) by some rule

  auto mark = [&](int keep, const char* name, const std::function<std::string(const SnapshotInfo&)>& sel) {
    if (keep <= 0) return;
    std::set<std::string> already, included;
    for (size_t i = 0; i < d.size(); ++i) {
      if (marked[i] && d[i].keep) already.insert(sel(d[i].snapshot));
    }
    for (size_t i = 0; i < d.size(); ++i) {
      if (marked[i]) continue;
      std::string id = sel(d[i].snapshot);
      if (already.count(id)) continue;
      if (!included.count(id)) {
        if (static_cast<int>(included.size()) >= keep) break;
        included.insert(id);
        marked[i] = true;
        d[i].keep = true;
        d[i].reason = name;
      } else {
        marked[i] = true;  // same period as a newer kept one: remove
      }
    }
  };
  if (p.last > 0) {
    int kept = 0;
    for (size_t i = 0; i < d.size() && kept < p.last; ++i, ++kept) {
      marked[i] = true;
      d[i].keep = true;
      d[i].reason = "last";
    }
  }
  mark(p.hourly, "hourly", [](const SnapshotInfo& s) { return period(s, "%Y-%m-%dT%H"); });
  mark(p.daily, "daily", [](const SnapshotInfo& s) { return period(s, "%Y-%m-%d"); });
  mark(p.weekly, "weekly", [](const SnapshotInfo& s) { return period(s, "%G-W%V"); });
  mark(p.monthly, "monthly", [](const SnapshotInfo& s) { return period(s, "%Y-%m"); });
  mark(p.yearly, "yearly", [](const SnapshotInfo& s) { return period(s, "%Y"); });
  return d;
}

std::vector<RetentionDecision> apply_retention_grouped(const std::vector<SnapshotInfo>& all,
                                                       const KeepPolicy& policy) {
  std::map<std::string, std::vector<SnapshotInfo>> groups;
  for (const auto& s : all) groups[retention_group(s)].push_back(s);
  std::vector<RetentionDecision> out;
  for (auto& [g, list] : groups) {
    auto d = apply_retention(std::move(list), policy);
    out.insert(out.end(), std::make_move_iterator(d.begin()), std::make_move_iterator(d.end()));
  }
  return out;
}

}  // namespace pvesafe::repo
