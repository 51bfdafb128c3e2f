#include "cli/drill_instant.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>

#include "cli/repo_context.h"
#include "pve/drill.h"
#include "repo/catalog.h"

namespace pvesafe::cli {

namespace {

nlohmann::json stages_json(const jobs::InstantDrillResult& r) {
  return {{"lookup", r.lookup}, {"export", r.export_seconds}, {"provision", r.provision},
          {"boot", r.boot},     {"health", r.health},         {"cleanup", r.cleanup}};
}

bool done(const jobs::InstantDrillResult& r, const std::string& s) {
  return std::find(r.completed.begin(), r.completed.end(), s) != r.completed.end();
}

}  // namespace

bool instant_drill_passed(const jobs::InstantDrillResult& r, double sla) {
  return r.error.empty() && r.rto() <= sla;
}

nlohmann::json instant_drill_json(const jobs::InstantDrillResult& r, const std::string& guest_id,
                                  const std::string& node, double sla) {
  nlohmann::json j{{"mode", "instant"},
                   {"guest_id", guest_id},
                   {"guest_type", r.guest_type},
                   {"node", node},
                   {"scratch_vmid", r.scratch_vmid},
                   {"snapshot_id", r.snapshot_id},
                   {"snapshot_time", r.snapshot_time},
                   {"file_name", r.file_name},
                   {"size_bytes", r.size_bytes},
                   {"disk_bytes", r.disk_bytes},
                   {"fetched_bytes_at_healthy", r.fetched_at_healthy},
                   {"fetched_bytes", r.fetched_total},
                   {"stages", stages_json(r)},
                   {"stages_completed", r.completed},
                   {"health", r.health_detail},
                   {"rto_seconds", r.rto()},
                   {"background_copy_seconds", r.background_copy},
                   {"background_copy_ok", r.copy_ok},
                   {"import_task", r.upid},
                   {"sla_seconds", sla},
                   {"passed", instant_drill_passed(r, sla)},
                   {"cleanup_ok", r.cleanup_ok}};
  if (!r.notes.empty()) j["notes"] = r.notes;
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

void print_instant_drill(const jobs::InstantDrillResult& r, const std::string& guest_id,
                         const std::string& node, double sla) {
  std::cout << fmt::format(
      "instant drill of guest {} (qemu) from snapshot {} ({}, {}) on {} as scratch guest {}\n",
      guest_id, r.snapshot_id.substr(0, 8), r.snapshot_time, human_bytes(r.size_bytes), node,
      r.scratch_vmid.empty() ? "-" : r.scratch_vmid);
  std::cout << fmt::format("  {:<16} {:>10}\n", "STAGE", "SECONDS");
  const std::pair<const char*, double> rows[] = {{"lookup", r.lookup},
                                                 {"export", r.export_seconds},
                                                 {"provision", r.provision},
                                                 {"boot", r.boot},
                                                 {"health", r.health}};
  for (const auto& [name, secs] : rows) {
    bool ok = done(r, name);
    std::string detail;
    if (std::string(name) == "export" && ok) detail = "snapshot mounted (FUSE) on " + r.mountpoint;
    if (std::string(name) == "provision" && ok) detail = "live import started: " + r.upid;
    if (std::string(name) == "health" && ok) {
      detail = fmt::format("{}; {} fetched from the repository by then", r.health_detail,
                           human_bytes(r.fetched_at_healthy));
    }
    std::cout << fmt::format("  {:<16} {:>10.3f}  {}\n", name, ok ? secs : 0.0,
                             ok ? detail : "not reached");
  }
  std::cout << fmt::format("  {:<16} {:>10.3f}  SLA {} -> {}\n", "RTO", r.rto(),
                           pve::format_seconds(sla),
                           instant_drill_passed(r, sla) ? "PASS" : "FAIL");
  if (done(r, "copy")) {
    std::cout << fmt::format(
        "  {:<16} {:>10.3f}  beside the RTO: the disks copied into their volumes behind the "
        "running guest, {} fetched in all\n",
        "background copy", r.background_copy, human_bytes(r.fetched_total));
  } else if (done(r, "health")) {
    std::cout << fmt::format("  {:<16} {:>10}  FAILED\n", "background copy", "-");
  }
  std::cout << fmt::format(
      "  {:<16} {:>10.3f}  {}\n", "cleanup", r.cleanup,
      r.cleanup_ok ? "scratch guest removed, snapshot unmounted" : "FAILED: see the error");
  for (const auto& n : r.notes) std::cout << "  note: " << n << "\n";
  if (!r.error.empty()) std::cout << "  error: " << r.error << "\n";
}

void record_instant_drill(const GlobalOptions& g, const repo::Repository& repo,
                          const jobs::InstantDrillResult& r, const std::string& guest_id,
                          const std::string& node, double sla) {
  try {
    auto catalog = repo::Catalog::open(catalog_path(g));
    repo::CatalogEvent ev;
    ev.kind = "drill";
    ev.repository = repo.location();
    ev.snapshot_id = r.snapshot_id;
    ev.node = node;
    ev.guest_id = guest_id;
    ev.guest_type = r.guest_type;
    ev.file_name = r.file_name;
    ev.size_bytes = static_cast<int64_t>(r.size_bytes);
    ev.duration_seconds = r.rto();
    ev.throughput_bytes_per_second =
        r.background_copy > 0 ? static_cast<double>(r.disk_bytes) / r.background_copy : 0;
    const bool passed = instant_drill_passed(r, sla);
    ev.result = passed ? "ok" : "error";
    ev.error = r.error.empty() && !passed ? "RTO over SLA" : r.error;
    nlohmann::json d{{"mode", "instant"},
                     {"stages", stages_json(r)},
                     {"sla_seconds", sla},
                     {"rto_seconds", r.rto()},
                     {"background_copy_seconds", r.background_copy},
                     {"background_copy_ok", r.copy_ok},
                     {"fetched_bytes_at_healthy", r.fetched_at_healthy},
                     {"fetched_bytes", r.fetched_total},
                     {"passed", passed},
                     {"scratch_vmid", r.scratch_vmid},
                     {"stages_completed", r.completed}};
    ev.details_json = d.dump();
    catalog.record(ev);
  } catch (const Error& e) {
    spdlog::warn("could not record the drill in the catalog: {}", e.what());
  }
}

}  // namespace pvesafe::cli
