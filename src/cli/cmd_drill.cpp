// pvesafe drill: the DR fire drill. For a guest (or every guest tagged "critical"): find its
// latest snapshot, restore it as a scratch guest (id from /cluster/nextid, new MACs, network
// links down) on --node, start it, check it comes up (status running, then a guest agent ping
// when the agent is configured), remove it, and time every stage. The verdict compares the RTO
// with --sla; the result goes to the catalog (kind=drill) and to a JSON report. A failed drill
// removes its scratch guest. Stage definitions and the prediction formula: pve/drill.h.
// --instant drills instant recovery instead: the snapshot mounted with FUSE and the scratch guest
// created by Proxmox VE's live import from it (jobs/instant_drill.h, cli/drill_instant.h).
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/command.h"
#include "cli/drill_instant.h"
#include "cli/pve_options.h"
#include "cli/repo_context.h"
#include "cli/site_cmd.h"
#include "core/error.h"
#include "jobs/drill.h"
#include "pve/drill.h"
#include "pve/guest.h"
#include "repo/lock.h"
#include "store/read_timing_store.h"

namespace pvesafe::cli {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct DrillFlags {
  PveFlags pve;
  SshFlags ssh;
  RepoFlags repo;
  std::string guest;
  bool all_critical = false;
  std::string critical_tag = "critical";
  std::string node;
  std::string sla = "15m";
  std::string link;
  std::string storage;
  std::string dump_storage = "local";
  std::string report;
  double health_timeout_seconds = 300;
  double task_timeout_seconds = 6 * 3600;
  bool instant = false;
  std::string run_dir;
  uint64_t bwlimit_kib = 0;
};

std::string default_instant_dir() {
  if (::geteuid() == 0) return "/run/pvesafe/instant";
  const char* x = std::getenv("XDG_RUNTIME_DIR");
  return x && *x ? std::string(x) + "/pvesafe/instant"
                 : "/tmp/pvesafe-instant-" + std::to_string(::geteuid());
}

void print_table(const jobs::DrillResult& r) {
  std::cout << fmt::format(
      "drill of guest {} ({}) from snapshot {} ({}, {}) on {} as scratch guest {}\n", r.guest_id,
      r.guest_type.empty() ? "?" : r.guest_type, r.snapshot_id.substr(0, 8), r.snapshot_time,
      human_bytes(r.size_bytes), r.node, r.scratch_id.empty() ? "-" : r.scratch_id);
  std::cout << fmt::format("  {:<16} {:>10}\n", "STAGE", "SECONDS");
  for (const auto& [name, secs] : r.stages.list()) {
    bool done = std::find(r.completed.begin(), r.completed.end(), name) != r.completed.end();
    std::string detail;
    if (name == "fetch" && done) {
      detail = fmt::format("{} read from the repository", human_bytes(r.fetched_bytes));
    } else if (name == "health" && done) {
      detail = r.health_detail;
    } else if (name == "cleanup") {
      detail = r.cleanup_ok ? (done ? "scratch guest removed" : "") : "FAILED: see the log";
    }
    std::cout << fmt::format("  {:<16} {:>10.3f}  {}\n", name, done ? secs : 0.0,
                             done ? detail : "not reached");
  }
  std::cout << fmt::format("  {:<16} {:>10.3f}  SLA {} -> {}\n", "RTO", r.stages.rto(),
                           pve::format_seconds(r.sla_seconds), r.passed ? "PASS" : "FAIL");
  if (r.prediction) {
    const auto& p = *r.prediction;
    std::cout << fmt::format(
        "  predicted RTO for the guest's {} disk{}: {} (fetch {} + decrypt/verify {} + provision "
        "{} + fixed stages {}; stage rates of this drill scaled by disk/snapshot size)\n",
        human_bytes(p.disk_bytes),
        p.link_bytes_per_second > 0
            ? fmt::format(" at {:.0f} Mbit/s", p.link_bytes_per_second * 8 / 1e6)
            : " at the measured fetch rate",
        pve::format_seconds(p.rto), pve::format_seconds(p.fetch),
        pve::format_seconds(p.decrypt_verify), pve::format_seconds(p.provision),
        pve::format_seconds(r.stages.lookup + r.stages.boot + r.stages.health));
  }
  if (r.error) std::cout << "  error: " << r.error->what() << "\n";
}

// Writes the drills' JSON report (mode restore|instant) and prints it: the JSON with --json, else
// the tables and the report's path.
void publish_report(const GlobalOptions& global, const DrillFlags& f, const repo::Repository& repo,
                    const char* mode, nlohmann::json drills,
                    const std::function<void()>& print_tables) {
  nlohmann::json doc{{"time_utc", utc_stamp()},
                     {"repository", repo.location()},
                     {"mode", mode},
                     {"drills", std::move(drills)}};
  const std::string path = write_drill_report(
      global, f.report,
      fmt::format("{}{}", f.instant ? "instant-" : "", f.all_critical ? "critical" : f.guest), doc);
  if (global.json) {
    doc["report"] = path;
    std::cout << doc.dump(2) << "\n";
  } else {
    print_tables();
    std::cout << "report: " << path << "\n";
  }
}

}  // namespace

void register_drill(CLI::App& app, GlobalOptions& global) {
  auto f = std::make_shared<DrillFlags>();
  auto* cmd = app.add_subcommand(
      "drill",
      "DR fire drill: restore the latest snapshot as a scratch guest, boot it, check it, remove "
      "it, and compare the measured RTO with the SLA");
  cmd->add_option("--guest", f->guest, "Guest (vmid) to drill");
  cmd->add_flag("--all-critical", f->all_critical, "Drill every guest tagged --critical-tag");
  cmd->add_option("--critical-tag", f->critical_tag, "PVE tag of critical guests")
      ->capture_default_str();
  cmd->add_option("--node", f->node,
                  "Node to restore the scratch guest on (--site: all of them; default there: "
                  "each guest's own node when online, else the least loaded)");
  cmd->add_option("--sla", f->sla, "Recovery time objective, e.g. 15m, 900s, 1h")
      ->capture_default_str();
  cmd->add_option("--link", f->link,
                  "Link speed for the predicted RTO of the full disk, e.g. 1Gbit, 10Gbit, 200MB/s "
                  "(default: the measured fetch rate)");
  cmd->add_option("--storage", f->storage, "Storage for the scratch guest's disks");
  cmd->add_option("--dump-storage", f->dump_storage, "Storage the archive is staged in")
      ->capture_default_str();
  cmd->add_option("--report", f->report,
                  "Write the JSON report here (default: drills/ beside the catalog)");
  cmd->add_option("--health-timeout", f->health_timeout_seconds,
                  "Seconds to wait for status running and the guest agent")
      ->capture_default_str();
  cmd->add_option("--task-timeout", f->task_timeout_seconds, "Seconds to wait for the restore task")
      ->capture_default_str();
  cmd->add_flag(
      "--instant", f->instant,
      "Drill instant recovery: mount the snapshot (FUSE) on this node and let Proxmox VE's "
      "live import run the scratch guest from it at once, copying its disks behind it "
      "(run on the node as root, PVE login as root@pam; see docs/drill.md)");
  cmd->add_option(
      "--run-dir", f->run_dir,
      "With --instant: where the snapshot is mounted (default /run/pvesafe/instant as root)");
  cmd->add_option("--bwlimit", f->bwlimit_kib,
                  "With --instant: KiB/s of the background copy (PVE's bwlimit)");
  cmd->footer(R"(
RTO is the time from the start until the scratch guest answers its health check (guest agent
ping, or status running without an agent). Classic mode (default): the snapshot is streamed to
the node and restored (qmrestore), then started. --instant: nothing is restored first; the
snapshot is mounted read-only here (each disk a raw file read through the repository) and the
guest is created with every disk as import-from=<that file> and live-restore=1, so it starts at
once and Proxmox VE copies its disks into their volumes behind it: the time of that background
copy is reported beside the RTO, with the bytes fetched before healthy and in all.
Output: a table per guest (stages, RTO vs SLA), --json for the report; the report is also
written to --report (default drills/ beside the catalog) and the catalog (kind drill, with
mode restore|instant) feeds the exporter's pvesafe_drill_* metrics (label mode).
Exit codes: 0 every drill passed, 11 RTO over SLA or health check failed, 2 usage, 3/4 config
and passphrase, 5 guest/snapshot/node not found, 6 integrity, 7 repository or PVE unreachable,
10 a PVE task failed, 12 unsupported (e.g. --instant on a container) (docs/exit-codes.md).
--site: a chosen set of guests (--guests, --tag, --pool, --source-node; default every guest with
a snapshot) restored --jobs at once as scratch copies, HA guests first as in a real site restore,
each started and health-checked; the site RTO is from the start until the last one is healthy,
then every copy is removed. The per-guest stages, their sums, the site RTO against --sla and its
prediction for the real disks (--predict-size 2T, --link 1Gbit) are printed and recorded (catalog
kind site-drill: pvesafe_site_drill_* metrics). Works from directory and S3 repositories alike.)");
  auto sf = std::make_shared<SiteFlags>();
  add_site_drill_flags(cmd, *sf);
  add_passphrase_flags(cmd, f->repo);
  add_pve_flags(cmd, f->pve);
  add_ssh_flags(cmd, f->ssh);
  cmd->callback([f, sf, &global] {
    if (sf->requested) {
      if (!f->guest.empty() || f->all_critical || f->instant) {
        throw Error(Errc::kUsage, "--site drills a set of guests: use --guests, --tag, --pool",
                    "not --guest, --all-critical or --instant");
      }
      double sla = parse_duration_seconds(f->sla);
      SiteDrillSettings s;
      s.node = f->node;
      s.storage = f->storage;
      s.sla_seconds = sla;
      s.link_bytes_per_second = f->link.empty() ? 0 : parse_link_bytes_per_second(f->link);
      s.report = f->report;
      sf->critical_tag = f->critical_tag;
      sf->health_timeout_seconds = f->health_timeout_seconds;
      auto timed_owner = std::make_unique<store::ReadTimingStore>(open_store_from(global));
      store::ReadTimingStore* timed = timed_owner.get();
      auto t_open = Clock::now();
      repo::Repository repo = open_repository_over(std::move(timed_owner), f->repo);
      auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kShared, "drill");
      s.open_seconds = since(t_open);
      SiteRunContext c{&f->pve, &f->ssh, f->dump_storage, {}, {}, f->task_timeout_seconds};
      run_site_drill(*sf, c, s, repo, timed, global);
      return;
    }
    if (f->node.empty()) throw Error(Errc::kUsage, "--node is required (the node to drill on)");
    if (f->guest.empty() == !f->all_critical) {
      throw Error(Errc::kUsage, "give either --guest ID or --all-critical");
    }
    if (!f->guest.empty()) pve::check_vmid(f->guest);
    double sla = parse_duration_seconds(f->sla);
    double link = f->link.empty() ? 0 : parse_link_bytes_per_second(f->link);

    std::vector<std::string> guests;
    if (f->all_critical) {
      pve::Client client(pve_client_options(f->pve));
      for (const auto& g : pve::guests_with_tag(pve::list_guests(client), f->critical_tag)) {
        guests.push_back(g.vmid);
      }
      if (guests.empty()) {
        throw Error(Errc::kNotFound, fmt::format("no guest carries the tag '{}'", f->critical_tag),
                    "tag critical guests in PVE (Options > Tags) or use --guest");
      }
    } else {
      guests.push_back(f->guest);
    }
    auto timed_owner = std::make_unique<store::ReadTimingStore>(open_store_from(global));
    store::ReadTimingStore* timed = timed_owner.get();
    auto t_open = Clock::now();
    repo::Repository repo = open_repository_over(std::move(timed_owner), f->repo);
    // Shared: backups may run meanwhile, prune/gc may not delete what the drill reads.
    auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kShared, "drill");
    if (f->instant) {
      pve::Client client(pve_client_options(f->pve));
      double open_seconds = since(t_open);
      std::string run_dir = f->run_dir.empty() ? default_instant_dir() : f->run_dir;
      std::vector<std::pair<std::string, jobs::InstantDrillResult>> ir;
      for (const auto& id : guests) {
        jobs::InstantDrillOptions io;
        io.guest_id = id;
        io.node = f->node;
        io.storage = f->storage;
        io.run_dir = run_dir;
        io.bwlimit_kib = f->bwlimit_kib;
        io.health_timeout_seconds = f->health_timeout_seconds;
        io.task_timeout_seconds = f->task_timeout_seconds;
        if (!global.json && !global.quiet && ::isatty(2)) {
          io.on_stage = [id](const std::string& st) {
            std::fprintf(stderr, "\rinstant drill of guest %s: %-12s", id.c_str(), st.c_str());
          };
        }
        auto r = jobs::run_instant_drill(client, repo, io);
        if (io.on_stage) std::fprintf(stderr, "\r%-60s\r", "");
        r.lookup += open_seconds;
        open_seconds = 0;
        record_instant_drill(global, repo, r, id, f->node, sla);
        ir.emplace_back(id, std::move(r));
      }
      nlohmann::json rep = nlohmann::json::array();
      for (const auto& [id, r] : ir) rep.push_back(instant_drill_json(r, id, f->node, sla));
      publish_report(global, *f, repo, "instant", std::move(rep), [&] {
        for (const auto& [id, r] : ir) print_instant_drill(r, id, f->node, sla);
      });
      for (const auto& [id, r] : ir) {
        if (!r.error.empty())
          throw Error(r.code, fmt::format("instant drill of guest {} failed: {}", id, r.error));
      }
      for (const auto& [id, r] : ir) {
        if (!instant_drill_passed(r, sla)) {
          throw Error(Errc::kCheckFailed,
                      fmt::format("instant drill of guest {}: RTO {} exceeds the SLA {}", id,
                                  pve::format_seconds(r.rto()), pve::format_seconds(sla)));
        }
      }
      return;
    }
    jobs::DrillOptions o;
    o.api = pve_client_options(f->pve);
    o.ssh = ssh_targets(f->ssh);
    o.guests = guests;
    o.node = f->node;
    o.sla_seconds = sla;
    o.link_bytes_per_second = link;
    o.storage = f->storage;
    o.dump_storage = f->dump_storage;
    o.health_timeout = std::chrono::seconds(static_cast<int64_t>(f->health_timeout_seconds));
    o.task_timeout = std::chrono::seconds(static_cast<int64_t>(f->task_timeout_seconds));
    o.open_seconds = since(t_open);
    std::vector<jobs::DrillResult> results = jobs::drill_guests(repo, timed, o, event_log(global));
    nlohmann::json rep = nlohmann::json::array();
    for (const auto& r : results) {
      rep.push_back(jobs::drill_report(r));
      rep.back()["mode"] = "restore";
    }
    publish_report(global, *f, repo, "restore", std::move(rep), [&] {
      for (const auto& r : results) print_table(r);
    });
    // Exit: 0 only when every drill passed within its SLA.
    for (const auto& r : results) {
      if (r.error) {
        throw Error(r.error->code(),
                    fmt::format("drill of guest {} failed: {}", r.guest_id, r.error->what()));
      }
    }
    for (const auto& r : results) {
      if (!r.passed) {
        throw Error(Errc::kCheckFailed,
                    fmt::format("drill of guest {}: RTO {} exceeds the SLA {}", r.guest_id,
                                pve::format_seconds(r.stages.rto()), pve::format_seconds(sla)));
      }
    }
  });
}

}  // namespace pvesafe::cli
