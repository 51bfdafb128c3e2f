// pvesafe restore SNAPSHOT|latest --to FILE|- [--force]
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cluster_config_cmd.h"
#include "cli/command.h"
#include "cli/pve_guest.h"
#include "cli/repo_context.h"
#include "cli/site_cmd.h"
#include "core/error.h"
#include "repo/lock.h"
#include "repo/restore.h"
#include "store/read_timing_store.h"

namespace pvesafe::cli {

namespace {
struct RestoreFlags {
  RepoFlags repo;
  std::string snapshot;
  std::string to;
  std::string disk;
  std::string guest, node, type;
  int threads = 0;
  bool no_sparse = false;
};
}  // namespace

void register_restore(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("restore", "Restore a snapshot to a file or stdout, bit for bit");
  auto f = std::make_shared<RestoreFlags>();
  auto gf = std::make_shared<GuestRestoreFlags>();  // restore to a guest (cli/pve_guest.h)
  add_passphrase_flags(cmd, f->repo);
  cmd->add_option("snapshot", f->snapshot, "Snapshot id, unique prefix, or latest")->required();
  cmd->add_option(
      "--to", f->to,
      "Target file, device, or - for stdout (without --to: to a guest). An existing "
      "file or a device is replaced only with --force; a symbolic link is never followed");
  cmd->add_option("--disk", f->disk,
                  "Write only this disk of a VMA snapshot (e.g. drive-scsi0) as a raw image: for "
                  "qm importdisk, "
                  "a zvol or an RBD image; `pvesafe snapshots` lists the disks");
  cmd->add_option(
      "--guest", f->guest,
      "With latest: newest snapshot of this guest; without --to: restore to this guest");
  cmd->add_option("--node", f->node,
                  "With latest: newest snapshot from this node; without --to: the node to restore "
                  "the guest on");
  cmd->add_option("--type", f->type, "With latest: guest type qemu|lxc");
  cmd->add_option("--threads", f->threads,
                  "Parallel fetches (default: CPUs or the store's preference)");
  cmd->add_flag(
      "--no-sparse", f->no_sparse,
      "Write zeros in full: by default a file target gets holes where 32 KiB blocks are "
      "all zero (unused disk space), like cp --sparse; devices are always written in full");
  add_guest_restore_flags(cmd, *gf);  // also --force, for --to as well
  auto cf = std::make_shared<ClusterConfigRestoreFlags>();
  add_cluster_config_restore_flags(cmd, *cf);
  auto sf = std::make_shared<SiteFlags>();
  add_site_restore_flags(cmd, *sf);
  cmd->footer(R"(
Whole site (disaster recovery, docs/runbook.md): `pvesafe restore latest --all --pve-host NEW ...`
restores every guest's newest snapshot onto the cluster of --pve-host: first the guests HA keeps
running (critical tag first), then the rest, --jobs at once. Each old storage must exist on the
new cluster or be mapped (--storage-map local-lvm=ssd-pool); a vmid the new cluster has already
is handled by --on-conflict. Each guest is started and health-checked (HA guests are registered
with HA as they were); --dry-run shows the plan. A live table on a terminal, a summary at the end
(--json for scripts), one catalog row per guest and one for the site.
Exit codes: 0 every guest healthy, 2 usage (also a vmid conflict under --on-conflict fail),
5 a storage or node of the plan does not exist, or a guest has no snapshot (the others were
restored), 10 a guest's restore task failed (the others were restored), 11 a guest was not healthy
in time (docs/exit-codes.md).)");
  cmd->callback([&g, f, gf, cf, sf] {
    if (sf->requested) {
      if (cf->requested || !f->to.empty() || !f->disk.empty() || !f->guest.empty() ||
          !f->node.empty() || !gf->new_id.empty() || !gf->storage.empty() || gf->start ||
          gf->force || gf->keep_archive) {
        throw Error(Errc::kUsage,
                    "--all restores every guest: it does not take --to, --disk, --guest, --node, "
                    "--new-id, --storage, --start, --force, --keep-archive or --cluster-config",
                    "narrow it with --guests, --pool, --tag, --source-node; map nodes with "
                    "--node-map, storages with --storage-map; --on-conflict replace overwrites");
      }
      if (f->snapshot != "latest") {
        throw Error(Errc::kUsage, "--all restores each guest's newest snapshot: give latest",
                    "pvesafe restore latest --all ...");
      }
      auto timed_owner = std::make_unique<store::ReadTimingStore>(open_store_from(g));
      store::ReadTimingStore* timed = timed_owner.get();
      repo::Repository repo = open_repository_over(std::move(timed_owner), f->repo);
      repo.require_data_access("restore");
      auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kShared, "restore");
      SiteRunContext c{&gf->pve,        &gf->ssh,    gf->dump_storage,
                       cf->storage_map, cf->cluster, gf->task_timeout_seconds};
      run_site_restore(*sf, c, repo, timed, g);
      return;
    }
    if (sf->dry_run) throw Error(Errc::kUsage, "--dry-run is for --all");
    if (cf->requested) {
      if (!f->disk.empty() || !f->guest.empty()) {
        throw Error(Errc::kUsage,
                    "--cluster-config restores the cluster's files, not a disk or guest",
                    "pvesafe restore latest --cluster-config --to DIR | --diff | --apply");
      }
      auto repo = open_repository(g, f->repo);
      run_cluster_config_restore(*cf, gf->pve, gf->ssh, repo, f->snapshot, f->to, gf->force, g);
      return;
    }
    if (cf->diff || cf->apply) {
      throw Error(Errc::kUsage, "--diff and --apply are for --cluster-config",
                  "pvesafe restore latest --cluster-config --diff");
    }
    if (!f->disk.empty() && f->to.empty()) {
      throw Error(Errc::kUsage, "--disk needs --to FILE|DEVICE|-",
                  "e.g. pvesafe restore latest --guest 100 --disk drive-scsi0 --to disk.raw");
    }
    if (f->to.empty()) {
      if (f->guest.empty()) {
        throw Error(
            Errc::kUsage, "give --to FILE|- or --guest ID --node NODE",
            "pvesafe restore SNAPSHOT --to FILE, or --guest 100 --node pve-02 [--new-id N]");
      }
      gf->guest = f->guest;
      gf->node = f->node;
      auto repo = open_repository(g, f->repo);
      run_guest_restore(*gf, repo, f->snapshot, g);
      return;
    }
    repo::CatalogEvent ev;
    ev.kind = "restore";
    ev.repository = g.repo;
    // The target is checked (and refused: a link, an existing file or device without --force)
    // before the repository is opened and a passphrase asked for.
    std::unique_ptr<repo::ByteSink> sink;
    repo::FileSink* file_sink = nullptr;
    if (f->to == "-") {
      sink = std::make_unique<repo::FdSink>(1, "stdout");
    } else {
      auto fs = std::make_unique<repo::FileSink>(
          f->to, repo::FileSinkOptions{.sparse = !f->no_sparse, .force = gf->force});
      file_sink = fs.get();
      sink = std::move(fs);
    }
    try {
      auto repo = open_repository(g, f->repo);
      repo.require_data_access("restore");
      ev.repository = repo.location();
      repo::RestoreOptions opt;
      opt.threads = f->threads;
      opt.filter.guest_id = f->guest;
      opt.filter.node = f->node;
      opt.filter.guest_type = f->type;
      std::string id = repo.resolve_snapshot(f->snapshot, opt.filter);
      ev.snapshot_id = id;
      if (f->to != "-") opt.progress = make_progress(g, "restore");
      const auto before = repo.store().requests();
      auto r = f->disk.empty() ? repo::restore(repo, id, *sink, opt)
                               : repo::restore_disk(repo, id, f->disk, *sink, opt);
      const auto req = repo.store().requests() - before;
      end_progress(g);
      ev.node = r.snapshot.node;
      ev.guest_id = r.snapshot.guest_id;
      ev.guest_type = r.snapshot.guest_type;
      ev.file_name = r.snapshot.file_name;
      ev.size_bytes = static_cast<int64_t>(r.size_bytes);
      ev.duration_seconds = r.duration_seconds;
      ev.throughput_bytes_per_second =
          r.duration_seconds > 0 ? r.size_bytes / r.duration_seconds : 0;
      nlohmann::json reqj = requests_json(req, r.size_bytes);
      ev.details_json =
          nlohmann::json{{"disk", f->disk}, {"requests", reqj}, {"fetched_bytes", r.fetched_bytes}}
              .dump();
      record_event(g, ev);
      if (f->to == "-") {
        if (!g.quiet) {
          std::cerr << "restored snapshot " << r.snapshot_id << " (" << r.size_bytes
                    << " bytes) to stdout\n";
        }
        return;
      }
      if (g.json) {
        nlohmann::json j{{"snapshot_id", r.snapshot_id},
                         {"file_name", r.file_name},
                         {"to", f->to},
                         {"size_bytes", r.size_bytes},
                         {"chunks", r.chunks},
                         {"fetched_bytes", r.fetched_bytes},
                         {"requests", reqj},
                         {"duration_seconds", r.duration_seconds},
                         {"throughput_bytes_per_second", ev.throughput_bytes_per_second}};
        if (!f->disk.empty()) j["disk"] = f->disk;
        std::cout << j.dump(2) << "\n";
      } else {
        std::cout << "restored snapshot " << r.snapshot_id << " ("
                  << (f->disk.empty() ? "" : "disk ") << r.file_name << ", " << r.size_bytes
                  << " bytes) to " << f->to << " in " << fixed(r.duration_seconds) << " s, "
                  << req.total() << " requests\n";
      }
    } catch (const Error& e) {
      end_progress(g);
      // A device keeps what reached it: say how much, so nobody mistakes it for a restore.
      const auto written = file_sink ? file_sink->device_bytes_written() : std::nullopt;
      if (!written) {
        record_failure(g, ev, e);
        throw;
      }
      const std::string note =
          *written == 0 ? " (nothing was written to " + f->to + ")"
                        : " (" + std::to_string(*written) + " bytes were written to " + f->to +
                              " before the failure: it holds an incomplete image)";
      Error on_device(e.code(), e.message() + note, e.hint());
      record_failure(g, ev, on_device);
      throw on_device;
    }
  });
}

}  // namespace pvesafe::cli
