// pvesafe report: the catalog (audit log) as a table, --json or --csv; with --backups, the
// backup freshness of every guest of the cluster from what the repository holds (the snapshots
// of every node), joined with the cluster's guest list (exporter/backup_freshness.h).
#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/pve_options.h"
#include "cli/repo_context.h"
#include "core/utc_time.h"
#include "exporter/backup_freshness.h"
#include "pve/client.h"
#include "repo/catalog.h"

namespace pvesafe::cli {

namespace {
struct ReportFlags {
  repo::CatalogQuery q;
  bool csv = false;
  bool backups = false;
  bool check = false;
  std::string max_age = "26h";
  RepoFlags repo;
  PveFlags pve;
};

std::string age_text(double seconds) {
  if (seconds < 0) return "-";
  if (seconds < 120) return fmt::format("{:.0f}s", seconds);
  if (seconds < 7200) return fmt::format("{:.0f}m", seconds / 60);
  if (seconds < 172800) return fmt::format("{:.1f}h", seconds / 3600);
  return fmt::format("{:.1f}d", seconds / 86400);
}

// The cluster's guests and nodes from the API; without a PVE host, the guests the repository
// knows of (then a guest never backed up cannot be seen).
exporter::ClusterView cluster_view(ReportFlags& f, const std::vector<repo::SnapshotInfo>& snaps) {
  if (!f.pve.host.empty() || std::getenv("PVESAFE_PVE_HOST")) {
    pve::Client c(pve_client_options(f.pve));
    nlohmann::json not_backed_up;
    try {
      not_backed_up = c.get("/cluster/backup-info/not-backed-up");
    } catch (const Error&) {
    }
    return exporter::parse_cluster_view(c.get("/cluster/resources", {{"type", "vm"}}),
                                        c.get("/nodes"), not_backed_up);
  }
  exporter::ClusterView v;
  std::map<std::string, std::string> seen;  // vmid -> type
  for (const auto& s : snaps)
    if (!s.guest_id.empty()) seen[s.guest_id] = s.guest_type;
  for (const auto& [id, type] : seen) v.guests.push_back({id, type, "", "", false});
  return v;
}

void report_backups(const GlobalOptions& g, ReportFlags& f) {
  const double max_age = static_cast<double>(parse_duration(f.max_age).count());
  repo::Repository r = open_repository(g, f.repo);
  auto snaps = r.list_snapshots();
  exporter::ClusterView view = cluster_view(f, snaps);
  auto rows = exporter::join_backups(snaps, view);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto status = [&](const exporter::GuestBackup& b) {
    if (b.snapshots == 0) return "never";
    return now - b.last_time > max_age ? "stale" : "ok";
  };
  auto when = [](double t) {
    return format_utc(std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::duration<double>(t))));
  };
  int bad = 0;
  for (const auto& b : rows) bad += std::string(status(b)) != "ok";
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& b : rows) {
      nlohmann::json j{{"guest", b.guest.vmid},
                       {"type", b.guest.type},
                       {"node", b.guest.node},
                       {"name", b.guest.name},
                       {"snapshots", b.snapshots},
                       {"status", status(b)},
                       {"last_node", b.last_node},
                       {"last_snapshot", b.last_snapshot},
                       {"last_size_bytes", b.last_size_bytes}};
      j["last_time_utc"] =
          b.snapshots ? nlohmann::json(when(b.last_time)) : nlohmann::json(nullptr);
      j["age_seconds"] = b.snapshots ? nlohmann::json(now - b.last_time) : nlohmann::json(nullptr);
      j["in_backup_job"] =
          view.not_backed_up_known ? nlohmann::json(b.in_backup_job) : nlohmann::json(nullptr);
      out.push_back(j);
    }
    std::cout << nlohmann::json{{"repository", r.location()},
                                {"max_age_seconds", max_age},
                                {"guests", out},
                                {"stale_or_never", bad}}
                     .dump(2)
              << "\n";
  } else {
    std::vector<std::vector<std::string>> table;
    for (const auto& b : rows) {
      table.push_back({b.guest.vmid, b.guest.type, b.guest.node, b.guest.name,
                       std::to_string(b.snapshots), b.snapshots ? when(b.last_time) : "-",
                       b.snapshots ? age_text(now - b.last_time) : "-", b.last_node,
                       view.not_backed_up_known ? (b.in_backup_job ? "yes" : "NO") : "?",
                       status(b)});
    }
    print_table({"guest", "type", "node", "name", "snapshots", "newest", "age", "taken_on",
                 "in_job", "status"},
                table);
    std::cout << fmt::format("{} guest(s), {} stale or never backed up (older than {})\n",
                             rows.size(), bad, f.max_age);
  }
  if (f.check && bad > 0) set_exit_status(exit_code(Errc::kCheckFailed));
}

// A drill's mode (restore: full restore then boot; instant: boot from the repository), from its
// details, as the exporter's mode label reads it; "" for other kinds.
std::string drill_mode(const repo::CatalogEvent& e) {
  if (e.kind != "drill") return "";
  auto d = nlohmann::json::parse(e.details_json, nullptr, false);
  if (d.is_object() && d.contains("mode") && d["mode"].is_string())
    return d["mode"].get<std::string>();
  return "restore";
}

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) {
    if (c == '"') o += '"';
    o += c;
  }
  return o + "\"";
}
}  // namespace

void register_report(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("report", "Show the catalog of backups, restores, verifies, prunes, gc runs and drills");
  auto f = std::make_shared<ReportFlags>();
  cmd->add_option("--kind", f->q.kind,
                  "Only this kind (backup, restore, verify, prune, gc, drill, site-restore, "
                  "site-drill)");
  cmd->add_option("--guest", f->q.guest_id, "Only this guest id");
  cmd->add_option("--node", f->q.node, "Only this node");
  cmd->add_option("--since", f->q.since, "Only events at or after this UTC time (2026-11-01 or ISO 8601)");
  cmd->add_option("--limit", f->q.limit, "At most N events (newest first)");
  cmd->add_flag("--csv", f->csv, "CSV on stdout");
  auto* grp = "Backup freshness (--backups)";
  cmd->add_flag(
         "--backups", f->backups,
         "Instead of the catalog: every guest of the cluster (from --pve-host) with its newest "
         "snapshot in the repository (--repo), whichever node took it, and the guests never "
         "backed up")
      ->group(grp);
  cmd->add_option("--max-age", f->max_age, "With --backups: older than this is stale (e.g. 26h)")
      ->capture_default_str()
      ->group(grp);
  cmd->add_flag("--check", f->check,
                "With --backups: exit 11 when a guest is stale or never backed up")
      ->group(grp);
  add_passphrase_flags(cmd, f->repo);
  add_pve_flags(cmd, f->pve);
  cmd->callback([&g, f] {
    if (f->backups) return report_backups(g, *f);
    auto cat = repo::Catalog::open(catalog_path(g));
    auto events = cat.query(f->q);
    if (g.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& e : events) {
        nlohmann::json r{{"id", e.id}, {"time_utc", e.time_utc}, {"kind", e.kind}, {"repository", e.repository},
                         {"snapshot_id", e.snapshot_id}, {"node", e.node}, {"guest_id", e.guest_id},
                         {"guest_type", e.guest_type}, {"file_name", e.file_name}, {"size_bytes", e.size_bytes},
                         {"size_kb", e.size_bytes / 1000.0}, {"stored_bytes", e.stored_bytes},
                         {"stored_kb", e.stored_bytes / 1000.0}, {"duration_seconds", e.duration_seconds},
                         {"throughput_bytes_per_second", e.throughput_bytes_per_second},
                         {"dedup_ratio", e.dedup_ratio}, {"result", e.result}, {"error", e.error}};
        if (e.kind == "drill") r["mode"] = drill_mode(e);
        if (!e.details_json.empty()) {
          auto d = nlohmann::json::parse(e.details_json, nullptr, false);
          r["details"] = d.is_discarded() ? nlohmann::json(e.details_json) : d;
        }
        j.push_back(r);
      }
      std::cout << j.dump(2) << "\n";
      return;
    }
    if (f->csv) {
      std::cout << "time_utc,kind,repository,snapshot_id,node,guest_id,guest_type,file_name,size_bytes,size_kb,"
                   "stored_bytes,stored_kb,duration_seconds,throughput_bytes_per_second,dedup_ratio,result,error\n";
      for (const auto& e : events) {
        std::cout << e.time_utc << "," << e.kind << "," << csv_cell(e.repository) << "," << e.snapshot_id << ","
                  << csv_cell(e.node) << "," << csv_cell(e.guest_id) << "," << e.guest_type << ","
                  << csv_cell(e.file_name) << "," << e.size_bytes << "," << fixed(e.size_bytes / 1000.0, 1) << ","
                  << e.stored_bytes << "," << fixed(e.stored_bytes / 1000.0, 1) << "," << fixed(e.duration_seconds, 3)
                  << "," << fixed(e.throughput_bytes_per_second, 0) << "," << fixed(e.dedup_ratio, 2) << ","
                  << e.result << "," << csv_cell(e.error) << "\n";
      }
      return;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : events) {
      const std::string mode = drill_mode(e);
      rows.push_back({e.time_utc, mode.empty() ? e.kind : e.kind + " (" + mode + ")", e.node,
                      e.guest_id, e.file_name, std::to_string(e.size_bytes),
                      fixed(e.size_bytes / 1000.0, 1), std::to_string(e.stored_bytes),
                      fixed(e.duration_seconds), fixed(e.throughput_bytes_per_second / 1e6, 1),
                      fixed(e.dedup_ratio, 1), e.result, short_id(e.snapshot_id), e.error});
    }
    print_table({"time", "kind", "node", "guest", "file", "bytes", "KB", "stored_bytes", "seconds", "MB/s",
                 "dedup", "result", "snapshot", "error"},
                rows);
  });
}

}  // namespace pvesafe::cli
