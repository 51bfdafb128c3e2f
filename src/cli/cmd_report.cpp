// pvesafe report: the catalog (audit log) as a table, --json or --csv.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "repo/catalog.h"

namespace pvesafe::cli {

namespace {
struct ReportFlags {
  repo::CatalogQuery q;
  bool csv = false;
};

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
  cmd->add_option("--kind", f->q.kind, "Only this kind (backup, restore, verify, prune, gc, drill)");
  cmd->add_option("--guest", f->q.guest_id, "Only this guest id");
  cmd->add_option("--node", f->q.node, "Only this node");
  cmd->add_option("--since", f->q.since, "Only events at or after this UTC time (2026-11-01 or ISO 8601)");
  cmd->add_option("--limit", f->q.limit, "At most N events (newest first)");
  cmd->add_flag("--csv", f->csv, "CSV on stdout");
  cmd->callback([&g, f] {
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
      rows.push_back({e.time_utc, e.kind, e.node, e.guest_id, e.file_name, std::to_string(e.size_bytes),
                      fixed(e.size_bytes / 1000.0, 1), std::to_string(e.stored_bytes), fixed(e.duration_seconds),
                      fixed(e.throughput_bytes_per_second / 1e6, 1), fixed(e.dedup_ratio, 1), e.result,
                      short_id(e.snapshot_id), e.error});
    }
    print_table({"time", "kind", "node", "guest", "file", "bytes", "KB", "stored_bytes", "seconds", "MB/s",
                 "dedup", "result", "snapshot", "error"},
                rows);
  });
}

}  // namespace pvesafe::cli
