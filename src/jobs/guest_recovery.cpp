#include "jobs/guest_recovery.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <thread>

#include "core/json_number.h"
#include "jobs/guest_restore.h"
#include "pve/provision.h"
#include "pve/ssh.h"
#include "repo/restore.h"

namespace pvesafe::jobs {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
}  // namespace

uint64_t snapshot_disk_bytes(const repo::SnapshotInfo& info) {
  uint64_t d = 0;
  for (const auto& disk : info.disks) d += disk.size_bytes;
  return d ? d : info.size_bytes;
}

RecoveryResult recover_guest(RecoveryContext& ctx, const std::string& snapshot_id,
                             const RecoveryTarget& t) {
  RecoveryResult r;
  r.vmid = t.vmid;
  r.node = t.node;
  r.snapshot_id = snapshot_id;
  r.began = Clock::now();
  auto report = [&](const std::string& stage, uint64_t done = 0, uint64_t total = 0) {
    if (ctx.progress) ctx.progress({t.vmid, stage, done, total});
  };
  auto stage_start = Clock::now();
  try {
    // lookup
    report("lookup");
    repo::Manifest m = ctx.repo.load_manifest(snapshot_id);
    r.snapshot_time = m.info.time_utc;
    r.file_name = m.info.file_name;
    r.size_bytes = m.info.size_bytes;
    r.source_vmid = m.info.guest_id;
    r.disk_bytes = snapshot_disk_bytes(m.info);
    pve::ArchiveKind kind = pve::archive_kind(m.info.file_name);
    r.type = m.info.guest_type.empty() ? kind.type : m.info.guest_type;
    pve::SshSession ssh(ctx.ssh.for_node(t.node, ctx.nodes));
    pve::RestoreTarget rt;
    rt.node = t.node;
    rt.vmid = t.vmid;
    rt.type = r.type;
    rt.storage = t.storage;
    rt.dump_storage = t.dump_storage;
    rt.dump_dir_template = ctx.ssh.dump_dir_template;
    rt.force = t.force;
    rt.unique = t.scratch;
    rt.timeout = t.task_timeout;
    pve::GuestRestore gr(ctx.client, ssh, rt, kind.extension);
    gr.preflight();
    r.stages.lookup = since(stage_start);
    r.completed.push_back("lookup");

    // fetch + decrypt/verify
    report("transfer", 0, r.size_bytes);
    stage_start = Clock::now();
    repo::RestoreOptions ro;
    ro.threads = t.threads;
    ro.progress = [&](const repo::Progress& p) {
      report("transfer", p.bytes_done, p.bytes_total.value_or(r.size_bytes));
    };
    repo::RestoreResult rr = repo::restore(ctx.repo, snapshot_id, gr.upload(), ro);
    auto stage_end = Clock::now();
    double wall = std::chrono::duration<double>(stage_end - stage_start).count();
    double busy = ctx.timing ? ctx.timing->busy_seconds(stage_start, stage_end) : wall;
    r.stages.fetch = std::min(wall, busy);
    r.stages.decrypt_verify = wall - r.stages.fetch;
    r.fetched_bytes = rr.fetched_bytes;
    r.completed.push_back("fetch");
    r.completed.push_back("decrypt/verify");

    // provision
    report("provision");
    stage_start = Clock::now();
    gr.create();
    move_guest_disks(ctx.client, t.node, r.type, t.vmid, t.move_disks, t.task_timeout);
    if (t.scratch) gr.isolate_network();
    bool want_start = t.start;
    if (t.ha && !t.scratch) {
      pve::HaResource h = *t.ha;
      h.vmid = t.vmid;
      h.type = r.type == "lxc" ? "ct" : "vm";
      pve::add_ha_resource(ctx.client, h);
      r.ha_registered = true;
      want_start = h.wants_running();
    }
    r.stages.provision = since(stage_start);
    r.completed.push_back("provision");

    if (want_start) {
      // boot
      report("boot");
      stage_start = Clock::now();
      gr.start();
      r.started = true;
      auto deadline = Clock::now() + t.health_timeout;
      nlohmann::json st;
      while (true) {
        st = gr.current_status();
        if (st.is_object() && st.value("status", std::string()) == "running") break;
        if (Clock::now() > deadline) {
          throw Error(
              Errc::kCheckFailed,
              fmt::format("guest {} did not reach status running within {}", t.vmid,
                          pve::format_seconds(static_cast<double>(t.health_timeout.count()))));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
      r.stages.boot = since(stage_start);
      r.completed.push_back("boot");

      // health
      report("health");
      stage_start = Clock::now();
      bool agent = st.contains("agent") && json_integer<int>(st["agent"]) == 1;
      if (r.type == "qemu" && agent) {
        int tries = 0;
        while (!gr.agent_ping()) {
          ++tries;
          if (Clock::now() > deadline) {
            throw Error(
                Errc::kCheckFailed,
                fmt::format("guest agent of guest {} did not answer within {}", t.vmid,
                            pve::format_seconds(static_cast<double>(t.health_timeout.count()))),
                "check that qemu-guest-agent is installed and enabled in the guest");
          }
          std::this_thread::sleep_for(std::chrono::seconds(1));
        }
        r.health_detail = fmt::format("guest agent answered ({} retries)", tries);
      } else {
        r.health_detail = r.type == "qemu" ? "status running (no guest agent configured)"
                                           : "status running (container)";
      }
      r.stages.health = since(stage_start);
      r.completed.push_back("health");
    } else {
      r.health_detail = r.ha_registered ? fmt::format("not started: HA state {}", t.ha->state)
                                        : "not started (as asked)";
    }
    r.healthy = true;
    gr.commit();  // keep the guest; the destructor still removes the staged archive
    r.finished = Clock::now();
    report("done");
  } catch (const Error& e) {
    r.error = e;
    r.finished = Clock::now();
    report("failed");
  } catch (const std::exception& e) {
    r.error = Error(Errc::kInternal, e.what());
    r.finished = Clock::now();
    report("failed");
  }
  return r;
}

}  // namespace pvesafe::jobs
