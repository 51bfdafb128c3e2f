// pvesafe backup FILE | --stdin --stdin-name NAME: one stream into one snapshot.
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cluster_config_cmd.h"
#include "cli/command.h"
#include "cli/pve_guest.h"
#include "cli/repo_context.h"
#include "core/error.h"
#include "repo/backup.h"
#include "repo/lock.h"

namespace pvesafe::cli {

nlohmann::json backup_json(const repo::BackupResult& r, const store::RequestCounts& req) {
  nlohmann::json disks = nlohmann::json::array();
  for (const auto& d : r.disks)
    disks.push_back({{"name", d.name}, {"size_bytes", d.size_bytes}, {"data_bytes", d.data_bytes}});
  nlohmann::json j{{"snapshot_id", r.snapshot_id},
                   {"time", r.snapshot.time_utc},
                   {"node", r.snapshot.node},
                   {"guest_id", r.snapshot.guest_id},
                   {"guest_type", r.snapshot.guest_type},
                   {"kind", r.snapshot.kind},
                   {"file_name", r.snapshot.file_name},
                   {"size_bytes", r.size_bytes},
                   {"stored_bytes", r.stored_bytes},
                   {"new_chunks", r.new_chunks},
                   {"reused_chunks", r.reused_chunks},
                   {"packs", r.packs},
                   {"disks", disks},
                   {"duration_seconds", r.duration_seconds},
                   {"throughput_bytes_per_second",
                    r.duration_seconds > 0 ? r.size_bytes / r.duration_seconds : 0},
                   {"dedup_ratio", r.dedup_ratio}};
  j["requests"] = requests_json(req, r.size_bytes);
  if (!r.retain_until_utc.empty()) {
    j["object_lock"] = {
        {"retain_until", r.retain_until_utc},  {"objects_checked", r.hold.objects},
        {"objects_extended", r.hold.extended}, {"requests", r.hold.requests},
        {"seconds", r.hold.seconds},           {"extension_skipped", r.hold.skipped}};
  }
  if (r.snapshot.received) {
    j["received"] = {{"name", r.snapshot.received->name},
                     {"compression", r.snapshot.received->compression},
                     {"size_bytes", r.snapshot.received->size_bytes},
                     {"sha256", r.snapshot.received->sha256}};
  }
  return j;
}

namespace {
struct BackupFlags {
  RepoFlags repo;
  std::string file;
  bool stdin_input = false;
  std::string stdin_name;
  std::string node, guest, type;
  std::vector<std::string> tags;
  int threads = 0;
  bool no_archive = false;
  bool cluster_config = false;
};
}  // namespace

void register_backup(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("backup",
                                 "Back up a file (e.g. a vzdump archive) or stdin into a snapshot");
  auto f = std::make_shared<BackupFlags>();
  auto gf = std::make_shared<GuestBackupFlags>();  // --guest/--all through vzdump (cli/pve_guest.h)
  add_passphrase_flags(cmd, f->repo);
  cmd->add_option("file", f->file, "File or block device to back up");
  cmd->add_flag("--stdin", f->stdin_input, "Read the data from stdin");
  cmd->add_option("--stdin-name", f->stdin_name,
                  "File name recorded for --stdin (e.g. the vzdump name)");
  cmd->add_option("--node", f->node, "PVE node (default: from the name, else this host)");
  cmd->add_option("--guest", f->guest,
                  "Guest id (default: from a vzdump file name); without FILE and --stdin: back up "
                  "this guest through vzdump on its node");
  cmd->add_option("--type", f->type, "Guest type qemu|lxc (default: from a vzdump file name)")
      ->check(CLI::IsMember({"qemu", "lxc", ""}));
  cmd->add_option("--tag", f->tags, "Tag KEY=VALUE, repeatable");
  cmd->add_option("--threads", f->threads, "Worker threads (default: CPUs)");
  cmd->add_flag(
      "--no-archive", f->no_archive,
      "Store the input as a plain byte stream even when it is a (compressed) vzdump archive; "
      "by default a VMA is stored disk by disk and a compressed archive uncompressed, so "
      "tomorrow's backup stores only what changed");
  add_guest_backup_flags(cmd, *gf);
  add_cluster_config_backup_flag(cmd, f->cluster_config);
  cmd->callback([&g, f, gf] {
    if (f->cluster_config) {
      if (!f->file.empty() || f->stdin_input || !f->guest.empty() || gf->all) {
        throw Error(Errc::kUsage, "--cluster-config backs up the cluster, not a FILE or guest",
                    "run it as its own command: pvesafe backup --cluster-config --pve-host ...");
      }
      auto repo = open_repository(g, f->repo);
      auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kShared, "backup");
      run_cluster_config_backup(gf->pve, gf->ssh, f->tags, repo, g);
      return;
    }
    if (f->file.empty() && !f->stdin_input && (!f->guest.empty() || gf->all)) {
      gf->guest = f->guest;
      gf->node = f->node;
      auto repo = open_repository(g, f->repo);
      auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kShared, "backup");
      run_guest_backup(*gf, repo, g);
      return;
    }
    if (f->stdin_input == !f->file.empty()) {
      throw Error(Errc::kUsage, "give either a FILE or --stdin",
                  "pvesafe backup FILE | --stdin --stdin-name NAME");
    }
    if (f->stdin_input && f->stdin_name.empty()) {
      throw Error(Errc::kUsage, "--stdin needs --stdin-name NAME",
                  "e.g. --stdin-name vzdump-qemu-100-2026_11_24-01_00_00.vma.zst");
    }
    repo::BackupOptions opt;
    opt.node = f->node;
    opt.guest_id = f->guest;
    opt.guest_type = f->type;
    opt.tags = parse_tags(f->tags);
    opt.threads = f->threads;
    opt.archive_aware = !f->no_archive;
    repo::CatalogEvent ev;
    ev.kind = "backup";
    ev.repository = g.repo;
    std::unique_ptr<repo::ByteSource> src;
    try {
      if (f->stdin_input)
        src = std::make_unique<repo::FdSource>(0, f->stdin_name);
      else
        src = std::make_unique<repo::FileSource>(f->file);
      auto repo = open_repository(g, f->repo);
      ev.repository = repo.location();
      auto done = repo::complete_options(opt, src->name());
      ev.node = done.node;
      ev.guest_id = done.guest_id;
      ev.guest_type = done.guest_type;
      ev.file_name = done.file_name;
      auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kShared, "backup");
      opt.progress = make_progress(g, "backup");
      const auto before = repo.store().requests();
      auto r = repo::backup(repo, *src, opt);
      end_progress(g);
      lock->release();
      const auto req = repo.store().requests() - before;
      if (r.format_upgraded && !g.quiet) {
        std::cerr << "pvesafe: upgraded the repository to format " << repo::kPlainFormatVersion
                  << " (pvesafe versions before it can no longer open it)\n";
      }
      ev.snapshot_id = r.snapshot_id;
      ev.file_name = r.snapshot.file_name;
      ev.size_bytes = static_cast<int64_t>(r.size_bytes);
      ev.stored_bytes = static_cast<int64_t>(r.stored_bytes);
      ev.duration_seconds = r.duration_seconds;
      ev.throughput_bytes_per_second =
          r.duration_seconds > 0 ? r.size_bytes / r.duration_seconds : 0;
      ev.dedup_ratio = r.dedup_ratio;
      nlohmann::json j = backup_json(r, req);
      ev.details_json = j.dump();
      record_event(g, ev);
      if (g.json) {
        std::cout << j.dump(2) << "\n";
      } else {
        print_table({"snapshot", "file", "size", "stored", "new", "reused", "requests", "seconds",
                     "MB/s", "dedup"},
                    {{r.snapshot_id, r.snapshot.file_name, human_bytes(r.size_bytes),
                      human_bytes(r.stored_bytes), std::to_string(r.new_chunks),
                      std::to_string(r.reused_chunks), std::to_string(req.total()),
                      fixed(r.duration_seconds), fixed(ev.throughput_bytes_per_second / 1e6, 1),
                      fixed(r.dedup_ratio, 1) + "x"}});
        for (const auto& d : r.disks) {
          std::cout << "  disk " << d.name << ": " << human_bytes(d.size_bytes) << ", "
                    << human_bytes(d.data_bytes) << " in use\n";
        }
        if (r.snapshot.received) {
          std::cout << "  received " << r.snapshot.received->name << " ("
                    << r.snapshot.received->compression << ", "
                    << human_bytes(r.snapshot.received->size_bytes)
                    << "), stored uncompressed: restore gives " << r.snapshot.file_name << "\n";
        }
      }
    } catch (const Error& e) {
      end_progress(g);
      record_failure(g, ev, e);
      throw;
    }
  });
}

}  // namespace pvesafe::cli
