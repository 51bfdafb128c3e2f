#include "jobs/drill.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pve/provision.h"

namespace pvesafe::jobs {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
}  // namespace

nlohmann::json drill_details(const DrillResult& r) {
  nlohmann::json d = pve::to_json(r.stages);
  d["sla_seconds"] = r.sla_seconds;
  d["rto_seconds"] = r.stages.rto();
  d["passed"] = r.passed;
  d["scratch_vmid"] = r.scratch_id;
  d["stages_completed"] = r.completed;
  if (r.prediction) d["predicted_rto_seconds"] = r.prediction->rto;
  return d;
}

nlohmann::json drill_report(const DrillResult& r) {
  nlohmann::json j{{"guest_id", r.guest_id},
                   {"guest_type", r.guest_type},
                   {"node", r.node},
                   {"scratch_vmid", r.scratch_id},
                   {"snapshot_id", r.snapshot_id},
                   {"snapshot_time", r.snapshot_time},
                   {"file_name", r.file_name},
                   {"size_bytes", r.size_bytes},
                   {"fetched_bytes", r.fetched_bytes},
                   {"stages", pve::to_json(r.stages)},
                   {"stages_completed", r.completed},
                   {"health", r.health_detail},
                   {"rto_seconds", r.stages.rto()},
                   {"sla_seconds", r.sla_seconds},
                   {"passed", r.passed},
                   {"cleanup_ok", r.cleanup_ok}};
  if (r.prediction) {
    j["prediction"] = pve::to_json(*r.prediction);
    j["prediction"]["method"] =
        "lookup + fetch*k (or disk*fetched/size/link) + decrypt_verify*k + provision*k + boot + "
        "health, k = disk_bytes/size_bytes";
  }
  if (r.error) j["error"] = r.error->what();
  return j;
}

DrillResult drill_result_from(const RecoveryResult& rec, const std::string& guest_id,
                              double sla_seconds) {
  DrillResult r;
  r.guest_id = guest_id;
  r.guest_type = rec.type;
  r.node = rec.node;
  r.scratch_id = rec.vmid;
  r.snapshot_id = rec.snapshot_id;
  r.snapshot_time = rec.snapshot_time;
  r.file_name = rec.file_name;
  r.size_bytes = rec.size_bytes;
  r.fetched_bytes = rec.fetched_bytes;
  r.disk_bytes = rec.disk_bytes;
  r.stages = rec.stages;
  r.completed = rec.completed;
  r.health_detail = rec.health_detail;
  r.sla_seconds = sla_seconds;
  r.error = rec.error;
  r.passed = !rec.error && rec.healthy && r.stages.rto() <= sla_seconds;
  return r;
}

void record_drill(EventLog& log, const repo::Repository& repo, const DrillResult& r,
                  const std::string& mode) {
  repo::CatalogEvent ev;
  ev.kind = "drill";
  ev.repository = repo.location();
  ev.snapshot_id = r.snapshot_id;
  ev.node = r.node;
  ev.guest_id = r.guest_id;
  ev.guest_type = r.guest_type;
  ev.file_name = r.file_name;
  ev.size_bytes = static_cast<int64_t>(r.size_bytes);
  ev.duration_seconds = r.stages.rto();
  double transfer = r.stages.fetch + r.stages.decrypt_verify;
  ev.throughput_bytes_per_second = transfer > 0 ? static_cast<double>(r.size_bytes) / transfer : 0;
  ev.result = !r.error && r.passed ? "ok" : "error";
  ev.error = r.error ? r.error->what() : (r.passed ? "" : "RTO over SLA");
  nlohmann::json details = drill_details(r);
  if (!mode.empty()) details["mode"] = mode;
  ev.details_json = details.dump();
  log.record(ev);
}

std::vector<DrillResult> drill_guests(repo::Repository& repo, store::ReadTimingStore* timing,
                                      const DrillOptions& o, EventLog& log) {
  pve::Client client(o.api);
  auto nodes = pve::list_nodes(client);
  std::vector<DrillResult> results;
  double open_seconds = o.open_seconds;
  for (const auto& guest : o.guests) {
    auto t0 = Clock::now();
    DrillResult r;
    std::string scratch;
    try {
      repo::SnapshotFilter filter;
      filter.guest_id = guest;
      std::string snap = repo.resolve_snapshot("latest", filter);
      pve::require_online_node(client, o.node);
      uint64_t maxdisk = 0;
      if (auto g = pve::lookup_guest(client, guest)) maxdisk = g->maxdisk_bytes;
      scratch = pve::next_vmid(client);
      double pre = since(t0);
      RecoveryTarget t;
      t.node = o.node;
      t.vmid = scratch;
      t.storage = o.storage;
      t.dump_storage = o.dump_storage;
      t.scratch = true;
      t.task_timeout = o.task_timeout;
      t.health_timeout = o.health_timeout;
      RecoveryContext ctx{repo, timing, client, o.ssh, nodes, {}};
      RecoveryResult rec = recover_guest(ctx, snap, t);
      rec.stages.lookup += pre + open_seconds;
      r = drill_result_from(rec, guest, o.sla_seconds);
      if (maxdisk) r.disk_bytes = maxdisk;  // the guest's configured size, when it still runs
      if (!r.error) {
        r.prediction =
            pve::predict_rto(r.stages, r.size_bytes, r.fetched_bytes,
                             r.disk_bytes ? r.disk_bytes : r.size_bytes, o.link_bytes_per_second);
      }
    } catch (const Error& e) {
      r.guest_id = guest;
      r.node = o.node;
      r.sla_seconds = o.sla_seconds;
      r.error = e;
      r.stages.lookup = since(t0) + open_seconds;
    }
    open_seconds = 0;
    // cleanup
    auto tc = Clock::now();
    if (!scratch.empty()) {
      try {
        if (auto g = pve::lookup_guest(client, scratch)) {
          pve::destroy_guest(client, g->node, g->type, scratch);
        }
        r.completed.push_back("cleanup");
      } catch (const Error& e) {
        spdlog::error("could not remove scratch guest {}: {}", scratch, e.what());
      }
      try {
        if (pve::lookup_guest(client, scratch)) {
          r.cleanup_ok = false;
          std::string msg =
              fmt::format("scratch guest {} could not be removed: remove it by hand", scratch);
          r.error = r.error ? Error(r.error->code(), r.error->message() + " (" + msg + ")",
                                    r.error->hint())
                            : Error(Errc::kRemote, msg);
          r.passed = false;
        }
      } catch (const Error&) {
      }
    }
    r.stages.cleanup = since(tc);
    record_drill(log, repo, r);
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace pvesafe::jobs
