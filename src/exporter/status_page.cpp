#include "exporter/status_page.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>
#include <set>

namespace pvesafe::exporter {

namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string badge(bool ok, const std::string& good, const std::string& bad) {
  return ok ? "<span class=\"ok\">" + esc(good) + "</span>"
            : "<span class=\"bad\">" + esc(bad) + "</span>";
}

std::string pct(double used, double total) {
  if (total <= 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.0f%%", 100.0 * used / total);
  return b;
}

std::string iso(double t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%d %H:%M UTC", &tm);
  return b;
}

std::optional<std::pair<Labels, double>> find(const MetricSet& m, const std::string& name,
                                              const std::string& key, const std::string& value) {
  return m.find(name, key, value);
}

}  // namespace

std::string format_age(double seconds) {
  if (seconds < 0) seconds = 0;
  long s = static_cast<long>(seconds);
  char b[48];
  if (s >= 86400) std::snprintf(b, sizeof b, "%ldd %ldh", s / 86400, (s % 86400) / 3600);
  else if (s >= 3600) std::snprintf(b, sizeof b, "%ldh %ldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60) std::snprintf(b, sizeof b, "%ldm", s / 60);
  else std::snprintf(b, sizeof b, "%lds", s);
  return b;
}

std::string render_status_page(const std::string& title, const MetricSet& m, double now) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
       "<meta name=\"viewport\" content=\"width=device-width\"><title>" +
       esc(title) +
       "</title><style>"
       "body{font-family:sans-serif;margin:1.5em;color:#222;background:#fafafa}"
       "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
       "th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}"
       "th{background:#eee}.ok{color:#fff;background:#2a7d2a;padding:0 0.4em;border-radius:3px}"
       ".bad{color:#fff;background:#b22;padding:0 0.4em;border-radius:3px}"
       ".warn{color:#000;background:#fc3;padding:0 0.4em;border-radius:3px}"
       "</style></head><body>\n";
  h += "<h1>" + esc(title) + "</h1>\n<p>Generated " + esc(iso(now)) + "</p>\n";

  // Cluster health
  h += "<h2>Cluster health</h2>\n<table id=\"cluster\">";
  std::string cname;
  for (const auto& s : m.samples("pvesafe_cluster_info")) cname = label(s.first, "cluster_name");
  for (const auto& s : m.samples("pvesafe_corosync_info"))
    if (cname.empty()) cname = label(s.first, "cluster_name");
  if (!cname.empty()) h += "<tr><th>Cluster</th><td>" + esc(cname) + "</td></tr>";
  auto q = m.samples("pvesafe_cluster_quorate");
  if (q.empty()) q = m.samples("pvesafe_corosync_quorate");
  if (!q.empty())
    h += "<tr><th>Quorum</th><td id=\"quorum\">" + badge(q[0].second == 1, "quorate", "NO QUORUM") +
         "</td></tr>";
  for (const auto& s : m.samples("pvesafe_ha_crm_master_info"))
    h += "<tr><th>HA master</th><td>" + esc(label(s.first, "node")) + " (" +
         esc(label(s.first, "state")) + ")</td></tr>";
  int ha_bad = 0, ha_total = 0;
  for (const auto& s : m.samples("pvesafe_ha_resource_problem")) {
    ++ha_total;
    if (s.second == 1) ++ha_bad;
  }
  if (ha_total)
    h += "<tr><th>HA resources</th><td>" +
         badge(ha_bad == 0, std::to_string(ha_total) + " healthy",
               std::to_string(ha_bad) + " of " + std::to_string(ha_total) + " in error/fence") +
         "</td></tr>";
  for (const auto& s : m.samples("pvesafe_ceph_health_status"))
    if (s.second == 1)
      h += "<tr><th>Ceph</th><td>" +
           badge(label(s.first, "status") == "HEALTH_OK", "HEALTH_OK", label(s.first, "status")) +
           "</td></tr>";
  h += "</table>\n";

  // Nodes
  std::set<std::string> nodes;
  for (const char* f : {"pvesafe_node_online", "pvesafe_node_up", "pvesafe_corosync_node_member"})
    for (const auto& s : m.samples(f)) nodes.insert(label(s.first, "node"));
  h += "<h2>Nodes</h2>\n<table id=\"nodes\"><tr><th>Node</th><th>State</th><th>CPU</th>"
       "<th>Memory</th><th>Root disk</th><th>Uptime</th><th>Cluster links</th></tr>\n";
  for (const auto& n : nodes) {
    auto on = find(m, "pvesafe_node_online", "node", n);
    if (!on) on = find(m, "pvesafe_node_up", "node", n);
    if (!on) on = find(m, "pvesafe_corosync_node_member", "node", n);
    bool online = on && on->second == 1;
    std::string cpu = "-", mem = "-", disk = "-", up = "-";
    if (auto c = find(m, "pvesafe_node_cpu_ratio", "node", n)) cpu = pct(c->second, 1);
    auto mu = find(m, "pvesafe_node_memory_used_bytes", "node", n);
    auto mt = find(m, "pvesafe_node_memory_total_bytes", "node", n);
    if (mu && mt) mem = pct(mu->second, mt->second);
    auto du = find(m, "pvesafe_node_rootfs_used_bytes", "node", n);
    auto dt = find(m, "pvesafe_node_rootfs_total_bytes", "node", n);
    if (du && dt) disk = pct(du->second, dt->second);
    if (auto u = find(m, "pvesafe_node_uptime_seconds", "node", n)) up = format_age(u->second);
    int links = 0, links_up = 0;
    for (const auto& s : m.samples("pvesafe_corosync_link_connected"))
      if (label(s.first, "node") == n) {
        ++links;
        if (s.second == 1) ++links_up;
      }
    std::string l = links ? std::to_string(links_up) + "/" + std::to_string(links) + " up" : "-";
    h += "<tr class=\"node\"><td>" + esc(n) + "</td><td>" + badge(online, "online", "OFFLINE") +
         "</td><td>" + cpu + "</td><td>" + mem + "</td><td>" + disk + "</td><td>" + up +
         "</td><td>" + (links && links_up < links ? "<span class=\"warn\">" + l + "</span>" : l) +
         "</td></tr>\n";
  }
  h += "</table>\n";

  // Backups
  h += "<h2>Backups</h2>\n<table id=\"backups\"><tr><th>Guest</th><th>Node</th>"
       "<th>Last success</th><th>Age</th><th>Size</th><th>Last attempt</th></tr>\n";
  std::map<std::string, std::string> rows;
  for (const auto& s : m.samples("pvesafe_backup_last_attempt_timestamp_seconds")) {
    std::string g = label(s.first, "guest");
    const auto ok = find(m, "pvesafe_backup_last_attempt_success", "guest", g);
    const auto last = find(m, "pvesafe_backup_last_success_timestamp_seconds", "guest", g);
    const auto size = find(m, "pvesafe_backup_last_size_bytes", "guest", g);
    char sz[32] = "-";
    if (size) std::snprintf(sz, sizeof sz, "%.1f MiB", size->second / 1048576.0);
    rows[g] = "<tr class=\"backup\"><td>" + esc(g) + "</td><td>" + esc(label(s.first, "node")) +
              "</td><td>" + (last ? esc(iso(last->second)) : "never") + "</td><td>" +
              (last ? format_age(now - last->second) : "-") + "</td><td>" + sz + "</td><td>" +
              badge(ok && ok->second == 1, "ok", "FAILED") + "</td></tr>\n";
  }
  for (const auto& [g, r] : rows) h += r;
  if (rows.empty()) h += "<tr><td colspan=\"6\">no backups in the catalog</td></tr>\n";
  h += "</table>\n";

  // Drills
  h += "<h2>DR drills</h2>\n<table id=\"drills\"><tr><th>Guest</th><th>When</th><th>Result</th>"
       "<th>RTO</th><th>SLA</th></tr>\n";
  int drills = 0;
  for (const auto& s : m.samples("pvesafe_drill_last_timestamp_seconds")) {
    ++drills;
    std::string g = label(s.first, "guest");
    const auto ok = find(m, "pvesafe_drill_last_success", "guest", g);
    const auto rto = find(m, "pvesafe_drill_last_rto_seconds", "guest", g);
    const auto sla = find(m, "pvesafe_drill_rto_sla_seconds", "guest", g);
    char r[32] = "-", sl[32] = "-";
    if (rto) std::snprintf(r, sizeof r, "%.0f s", rto->second);
    if (sla) std::snprintf(sl, sizeof sl, "%.0f s", sla->second);
    h += "<tr class=\"drill\"><td>" + esc(g) + "</td><td>" + esc(iso(s.second)) + " (" +
         format_age(now - s.second) + " ago)</td><td>" +
         badge(ok && ok->second == 1, "passed", "FAILED") + "</td><td>" + r + "</td><td>" + sl +
         "</td></tr>\n";
  }
  if (!drills) h += "<tr><td colspan=\"5\">no drills in the catalog</td></tr>\n";
  h += "</table>\n";

  // Sources
  h += "<h2>Data sources</h2>\n<table id=\"sources\"><tr><th>Source</th><th>State</th>"
       "<th>Errors</th></tr>\n";
  for (const auto& s : m.samples("pvesafe_source_up")) {
    std::string src = label(s.first, "source");
    const auto e = find(m, "pvesafe_source_errors_total", "source", src);
    h += "<tr class=\"source\"><td>" + esc(src) + "</td><td>" + badge(s.second == 1, "up", "DOWN") +
         "</td><td>" + (e ? format_value(e->second) : "0") + "</td></tr>\n";
  }
  h += "</table>\n</body></html>\n";
  return h;
}

}  // namespace pvesafe::exporter
