#include "exporter/catalog_collector.h"

#include <sqlite3.h>

#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace pvesafe::exporter {

double parse_iso8601_utc(const std::string& text) {
  std::tm tm{};
  int frac_pos = 0;
  int y, mo, d, h, mi, s;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &frac_pos) !=
      6)
    return -1;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  double t = static_cast<double>(timegm(&tm));
  const char* rest = text.c_str() + frac_pos;
  if (*rest == '.') {
    double frac = std::atof(std::string("0").append(rest).c_str());
    t += frac;
    ++rest;
    while (*rest >= '0' && *rest <= '9') ++rest;
  }
  if (*rest == '+' || *rest == '-') {
    int oh = 0, om = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &oh, &om) >= 1) {
      double off = oh * 3600.0 + om * 60.0;
      t += (*rest == '+') ? -off : off;
    }
  }
  return t;
}

namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StmtCloser {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

[[noreturn]] void db_fail(const std::string& path, sqlite3* db, const char* what) {
  throw pvesafe::Error(
      Errc::kIo, "catalog " + path + ": " + what + ": " + (db ? sqlite3_errmsg(db) : "cannot open"),
      "check that the catalog exists and is readable by the exporter's user");
}

std::string col_text(sqlite3_stmt* st, int i) {
  const unsigned char* t = sqlite3_column_text(st, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}

template <typename Fn>
void each_row(sqlite3* db, const std::string& path, const char* sql, Fn&& fn) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) db_fail(path, db, "query");
  std::unique_ptr<sqlite3_stmt, StmtCloser> st(raw);
  for (;;) {
    int rc = sqlite3_step(st.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) db_fail(path, db, "read");
    fn(st.get());
  }
}

// Newest row per guest of a kind (optionally only successful ones). Rows are ordered by time
// text, which sorts correctly for ISO 8601 UTC.
std::string newest_per_guest_sql(const char* kind, bool only_ok) {
  return std::string(
             "SELECT guest_id, node, guest_type, time_utc, size_bytes, stored_bytes, "
             "duration_seconds, dedup_ratio, result, details_json FROM (SELECT *, ROW_NUMBER() "
             "OVER (PARTITION BY guest_id ORDER BY time_utc DESC, id DESC) AS rn FROM events "
             "WHERE kind = '") +
         kind + "'" + (only_ok ? " AND result = 'ok'" : "") + ") WHERE rn = 1 ORDER BY guest_id";
}

// Newest drill per guest and mode (restore, instant: details_json's "mode"; rows written before
// modes existed are restore drills). Column 10 is the mode.
std::string newest_drill_sql() {
  const std::string mode =
      "COALESCE(CASE WHEN json_valid(details_json) THEN json_extract(details_json, '$.mode') END, "
      "'restore')";
  return "SELECT guest_id, node, guest_type, time_utc, size_bytes, stored_bytes, duration_seconds, "
         "dedup_ratio, "
         "result, details_json, mode FROM (SELECT *, " +
         mode + " AS mode, ROW_NUMBER() OVER (PARTITION BY guest_id, " + mode +
         " ORDER BY time_utc DESC, id DESC) AS rn FROM events WHERE kind = 'drill') WHERE rn = 1 "
         "ORDER BY guest_id, mode";
}

}  // namespace

void collect_catalog(const std::string& path, MetricSet& out) {
  sqlite3* raw = nullptr;
  std::string uri = "file:" + path + "?mode=ro";
  int rc = sqlite3_open_v2(uri.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  std::unique_ptr<sqlite3, DbCloser> db(raw);
  if (rc != SQLITE_OK) db_fail(path, raw, "open");
  sqlite3_busy_timeout(db.get(), 1000);

  each_row(db.get(), path, newest_per_guest_sql("backup", true).c_str(), [&](sqlite3_stmt* st) {
    Labels l{{"guest", col_text(st, 0)}, {"node", col_text(st, 1)}, {"type", col_text(st, 2)}};
    double t = parse_iso8601_utc(col_text(st, 3));
    if (t >= 0)
      out.gauge("pvesafe_backup_last_success_timestamp_seconds",
                "Time of the newest successful backup of the guest", l, t);
    out.gauge("pvesafe_backup_last_size_bytes", "Size of the newest successful backup", l,
              sqlite3_column_double(st, 4));
    out.gauge("pvesafe_backup_last_stored_bytes",
              "New bytes stored by the newest successful backup (after dedup, compression)", l,
              sqlite3_column_double(st, 5));
    out.gauge("pvesafe_backup_last_duration_seconds", "Duration of the newest successful backup", l,
              sqlite3_column_double(st, 6));
    out.gauge("pvesafe_backup_last_dedup_ratio",
              "Deduplication ratio of the newest successful backup", l,
              sqlite3_column_double(st, 7));
    // What the store billed: requests of the newest backup (details_json "requests", written
    // by every backup path since format 2; older rows have none).
    nlohmann::json details = nlohmann::json::parse(col_text(st, 9), nullptr, false);
    if (details.is_object() && details.contains("requests") && details["requests"].is_object()) {
      const auto& rq = details["requests"];
      if (rq.contains("total") && rq["total"].is_number()) {
        out.gauge("pvesafe_backup_last_requests",
                  "Store requests (PUT, GET, HEAD, LIST, DELETE) of the newest successful backup",
                  l, rq["total"].get<double>());
      }
      if (rq.contains("per_gib") && rq["per_gib"].is_number()) {
        out.gauge("pvesafe_backup_last_requests_per_gib",
                  "Store requests per GiB backed up by the newest successful backup", l,
                  rq["per_gib"].get<double>());
      }
    }
  });
  each_row(db.get(), path, newest_per_guest_sql("backup", false).c_str(), [&](sqlite3_stmt* st) {
    Labels l{{"guest", col_text(st, 0)}, {"node", col_text(st, 1)}, {"type", col_text(st, 2)}};
    double t = parse_iso8601_utc(col_text(st, 3));
    if (t >= 0)
      out.gauge("pvesafe_backup_last_attempt_timestamp_seconds",
                "Time of the newest backup attempt of the guest", l, t);
    out.gauge("pvesafe_backup_last_attempt_success",
              "1 if the newest backup attempt of the guest succeeded", l,
              col_text(st, 8) == "ok" ? 1 : 0);
  });
  each_row(db.get(), path, newest_drill_sql().c_str(), [&](sqlite3_stmt* st) {
    Labels l{{"guest", col_text(st, 0)},
             {"node", col_text(st, 1)},
             {"type", col_text(st, 2)},
             {"mode", col_text(st, 10)}};
    double t = parse_iso8601_utc(col_text(st, 3));
    if (t >= 0)
      out.gauge("pvesafe_drill_last_timestamp_seconds", "Time of the newest DR drill of the guest",
                l, t);
    out.gauge("pvesafe_drill_last_success",
              "1 if the newest DR drill passed (restored, checked, within SLA)", l,
              col_text(st, 8) == "ok" ? 1 : 0);
    double rto = sqlite3_column_double(st, 6);
    nlohmann::json details = nlohmann::json::parse(col_text(st, 9), nullptr, false);
    if (details.is_object()) {
      auto num = [&](const char* k, double& v) {
        auto it = details.find(k);
        if (it != details.end() && it->is_number()) {
          v = it->get<double>();
          return true;
        }
        return false;
      };
      num("rto_seconds", rto);
      double copy;
      if (num("background_copy_seconds", copy))
        out.gauge("pvesafe_drill_last_background_copy_seconds",
                  "Instant-recovery drills: time until the guest's disks were copied behind it "
                  "(beside the RTO)",
                  l, copy);
      double sla;
      if (num("rto_sla_seconds", sla) || num("sla_seconds", sla))
        out.gauge("pvesafe_drill_rto_sla_seconds", "Recovery time objective the drill is held to",
                  l, sla);
      if (auto s = details.find("stages"); s != details.end()) {
        auto stage = [&](const std::string& name, const nlohmann::json& v) {
          if (!v.is_number()) return;
          Labels sl = l;
          sl.emplace_back("stage", name);
          out.gauge("pvesafe_drill_last_stage_duration_seconds",
                    "Duration of one stage of the newest DR drill", sl, v.get<double>());
        };
        if (s->is_object()) {
          for (const auto& [k, v] : s->items()) stage(k, v);
        } else if (s->is_array()) {
          for (const auto& e : *s) {
            if (!e.is_object() || !e.contains("name")) continue;
            const auto& v = e.contains("seconds")            ? e["seconds"]
                            : e.contains("duration_seconds") ? e["duration_seconds"]
                                                             : nlohmann::json();
            if (e["name"].is_string()) stage(e["name"].get<std::string>(), v);
          }
        }
      }
    }
    out.gauge("pvesafe_drill_last_rto_seconds",
              "Recovery time measured by the newest DR drill (fault to guest verified)", l, rto);
  });
  // The newest site drill per target cluster (kind site-drill, node = the cluster's name).
  each_row(db.get(), path,
           "SELECT node, time_utc, duration_seconds, result, details_json FROM (SELECT *, "
           "ROW_NUMBER() OVER (PARTITION BY node ORDER BY time_utc DESC, id DESC) AS rn FROM "
           "events WHERE kind = 'site-drill') WHERE rn = 1 ORDER BY node",
           [&](sqlite3_stmt* st) {
             Labels l{{"cluster", col_text(st, 0)}};
             double t = parse_iso8601_utc(col_text(st, 1));
             if (t >= 0)
               out.gauge("pvesafe_site_drill_last_timestamp_seconds",
                         "Time of the newest site drill onto the cluster", l, t);
             out.gauge("pvesafe_site_drill_last_success",
                       "1 if the newest site drill passed (every guest healthy and removed, site "
                       "RTO within SLA)",
                       l, col_text(st, 3) == "ok" ? 1 : 0);
             out.gauge("pvesafe_site_drill_last_rto_seconds",
                       "Site RTO of the newest site drill: start until the last guest is healthy",
                       l, sqlite3_column_double(st, 2));
             nlohmann::json d = nlohmann::json::parse(col_text(st, 4), nullptr, false);
             if (!d.is_object()) return;
             auto gauge = [&](const char* key, const char* name, const char* help) {
               auto it = d.find(key);
               if (it != d.end() && it->is_number()) out.gauge(name, help, l, it->get<double>());
             };
             gauge("sla_seconds", "pvesafe_site_drill_rto_sla_seconds",
                   "Recovery time objective the site is held to");
             gauge("predicted_rto_seconds", "pvesafe_site_drill_predicted_rto_seconds",
                   "Site RTO predicted for the real guests' disk sizes and link speed");
             gauge("jobs", "pvesafe_site_drill_jobs", "Guests the site drill restored at once");
             auto g = d.find("restored");
             if (g != d.end() && g->is_number())
               out.gauge("pvesafe_site_drill_guests", "Guests healthy in the newest site drill",
                         l, g->get<double>());
           });
}

}  // namespace pvesafe::exporter
