#include "cli/pve_guest.h"

#include <fmt/format.h>

#include <iostream>

#include "core/error.h"
#include "jobs/guest_backup.h"
#include "jobs/guest_restore.h"

namespace pvesafe::cli {

void add_guest_backup_flags(CLI::App* cmd, GuestBackupFlags& f) {
  auto* g = "Guest backup (vzdump on a node)";
  cmd->add_flag("--all", f.all, "Back up all guests of --node and/or --pool through vzdump")
      ->group(g);
  cmd->add_option("--pool", f.pool, "With --all: the pool whose guests to back up")->group(g);
  cmd->add_option("--jobs", f.jobs, "With --all: guests backed up at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 16))
      ->group(g);
  cmd->add_option("--dump-storage", f.dump_storage,
                  "Storage vzdump writes the archive to (file-based, content backup)")
      ->capture_default_str()
      ->group(g);
  cmd->add_option("--mode", f.mode, "vzdump mode")
      ->check(CLI::IsMember({"snapshot", "suspend", "stop"}))
      ->capture_default_str()
      ->group(g);
  cmd->add_option(
         "--compress", f.compress,
         "vzdump's compression: 0 (default: pvesafe sees the disks, dedups them, and compresses "
         "each chunk itself) or zstd|gzip|lzo (smaller on the node's disk and over SSH; pvesafe "
         "decompresses on the way in)")
      ->check(CLI::IsMember({"0", "zstd", "gzip", "lzo"}))
      ->capture_default_str()
      ->group(g);
  cmd->add_flag("--keep-archive", f.keep_archive, "Leave the vzdump archive on the node")->group(g);
  cmd->add_option("--task-timeout", f.task_timeout_seconds, "Seconds to wait for the vzdump task")
      ->capture_default_str()
      ->group(g);
  add_pve_flags(cmd, f.pve);
  add_ssh_flags(cmd, f.ssh);
}

bool guest_backup_requested(const GuestBackupFlags& f) { return !f.guest.empty() || f.all; }

void run_guest_backup(GuestBackupFlags& f, repo::Repository& repo, const GlobalOptions& g) {
  jobs::GuestBackupOptions o;
  o.api = pve_client_options(f.pve);
  o.ssh = ssh_targets(f.ssh);
  o.select = {f.guest, f.all, f.node, f.pool};
  o.jobs = f.jobs;
  o.dump_storage = f.dump_storage;
  o.mode = f.mode;
  o.compress = f.compress;
  o.keep_archive = f.keep_archive;
  o.task_timeout = std::chrono::seconds(static_cast<int64_t>(f.task_timeout_seconds));
  jobs::GuestBackupReport report = jobs::backup_guests(repo, o, event_log(g));
  const auto& results = report.guests;
  if (results.size() == 1 && !results[0].ok) throw *results[0].error;
  int failed = report.failed();
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& b : results) {
      nlohmann::json j{{"vmid", b.guest.vmid},
                       {"type", b.guest.type},
                       {"node", b.guest.node},
                       {"result", b.ok ? "ok" : "error"},
                       {"vzdump_seconds", b.vzdump_seconds},
                       {"transfer_seconds", b.transfer_seconds}};
      if (b.ok) {
        j["snapshot_id"] = b.result.snapshot_id;
        j["file_name"] = b.result.snapshot.file_name;
        j["size_bytes"] = b.result.size_bytes;
        j["stored_bytes"] = b.result.stored_bytes;
        j["dedup_ratio"] = b.result.dedup_ratio;
        j["kind"] = b.result.snapshot.kind;
        nlohmann::json disks = nlohmann::json::array();
        for (const auto& d : b.result.disks) {
          disks.push_back(
              {{"name", d.name}, {"size_bytes", d.size_bytes}, {"data_bytes", d.data_bytes}});
        }
        j["disks"] = disks;
        if (b.archive_kept) j["archive"] = b.archive;
      } else {
        j["error"] = b.error->what();
        j["exit_code"] = exit_code(b.error->code());
      }
      out.push_back(j);
    }
    std::cout << nlohmann::json{{"guests", out}, {"failed", failed}}.dump(2) << "\n";
  } else {
    std::cout << fmt::format("{:<6} {:<5} {:<12} {:<6} {:>10} {:>10} {:>8} {:>9}  {}\n", "VMID",
                             "TYPE", "NODE", "RESULT", "SIZE", "STORED", "VZDUMP", "TRANSFER",
                             "SNAPSHOT");
    for (const auto& b : results) {
      std::cout << fmt::format("{:<6} {:<5} {:<12} {:<6} {:>10} {:>10} {:>7.1f}s {:>8.1f}s  {}\n",
                               b.guest.vmid, b.guest.type, b.guest.node, b.ok ? "ok" : "error",
                               b.ok ? human_bytes(b.result.size_bytes) : "-",
                               b.ok ? human_bytes(b.result.stored_bytes) : "-", b.vzdump_seconds,
                               b.transfer_seconds, b.ok ? short_id(b.result.snapshot_id) : "-");
    }
    for (const auto& b : results) {
      if (!b.ok) std::cout << fmt::format("guest {}: {}\n", b.guest.vmid, b.error->what());
    }
    if (results.size() > 1) {
      std::cout << fmt::format("{} of {} guests backed up\n", results.size() - failed,
                               results.size());
    }
  }
  if (auto e = report.first_error()) set_exit_status(exit_code(e->code()));
}

// ---- restore ---------------------------------------------------------------------------------

void add_guest_restore_flags(CLI::App* cmd, GuestRestoreFlags& f) {
  auto* g = "Restore to a guest";
  cmd->add_option("--storage", f.storage, "Storage for the guest's disks (default: PVE's choice)")
      ->group(g);
  cmd->add_option("--dump-storage", f.dump_storage,
                  "Storage the archive is staged in on the node (file-based, content backup)")
      ->capture_default_str()
      ->group(g);
  cmd->add_option("--new-id", f.new_id, "Create the guest under this vmid instead of --guest")
      ->group(g);
  cmd->add_flag("--start", f.start, "Start the guest after the restore")->group(g);
  // One flag for both targets: replace what is there.
  cmd->add_flag("--force", f.force,
                "Overwrite an existing (stopped) guest with that vmid; with --to, replace an "
                "existing file or write over a block or character device (a disk)");
  cmd->add_flag("--keep-archive", f.keep_archive, "Leave the staged archive on the node")->group(g);
  cmd->add_option("--task-timeout", f.task_timeout_seconds, "Seconds to wait for the restore task")
      ->capture_default_str()
      ->group(g);
  add_pve_flags(cmd, f.pve);
  add_ssh_flags(cmd, f.ssh);
}

bool guest_restore_requested(const GuestRestoreFlags& f) { return !f.guest.empty(); }

void run_guest_restore(GuestRestoreFlags& f, repo::Repository& repo, const std::string& snapshot,
                       const GlobalOptions& g) {
  jobs::GuestRestoreOptions o;
  o.snapshot = snapshot.empty() ? "latest" : snapshot;
  o.guest = f.guest;
  o.node = f.node;
  o.new_id = f.new_id;
  o.storage = f.storage;
  o.dump_storage = f.dump_storage;
  o.start = f.start;
  o.force = f.force;
  o.keep_archive = f.keep_archive;
  o.task_timeout = std::chrono::seconds(static_cast<int64_t>(f.task_timeout_seconds));
  auto r =
      jobs::restore_guest(repo, pve_client_options(f.pve), ssh_targets(f.ssh), o, event_log(g));
  if (g.json) {
    std::cout << nlohmann::json{{"snapshot_id", r.snapshot_id},
                                {"vmid", r.vmid},
                                {"type", r.type},
                                {"node", r.node},
                                {"size_bytes", r.size_bytes},
                                {"transfer_seconds", r.transfer_seconds},
                                {"create_seconds", r.create_seconds},
                                {"started", r.started},
                                {"duration_seconds", r.duration_seconds}}
                     .dump(2)
              << "\n";
  } else {
    std::cout << fmt::format("restored snapshot {} ({}, {}) to {} {} on {} in {:.1f}s{}\n",
                             short_id(r.snapshot_id), r.file_name, human_bytes(r.size_bytes),
                             r.type, r.vmid, r.node, r.duration_seconds,
                             r.started ? ", started" : "");
  }
}

}  // namespace pvesafe::cli
