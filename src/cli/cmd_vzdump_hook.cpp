// pvesafe vzdump-hook: runs on a PVE node as vzdump's hook script (`script:` in
// /etc/vzdump.conf, through a small wrapper that adds --repo and the passphrase source). In
// phase backup-end it stores the archive vzdump just wrote ($TARGET) in the repository, tagged
// with this node, the guest and its type; every other phase (job-start, job-end, job-abort,
// backup-start, backup-abort, log-end, pre-stop, pre-restart, post-restart) is accepted and
// ignored. A failure exits non-zero, so vzdump marks that guest's backup as failed.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/command.h"
#include "cli/pve_options.h"
#include "cli/repo_context.h"
#include "core/error.h"
#include "repo/backup.h"
#include "repo/catalog.h"
#include "repo/lock.h"
#include "repo/stream.h"

namespace pvesafe::cli {

namespace {

struct HookFlags {
  RepoFlags repo;
  std::string phase;
  std::string mode;
  std::string vmid;
  bool remove_archive = false;
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string short_hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  std::string h = buf;
  return h.substr(0, h.find('.'));
}

}  // namespace

void register_vzdump_hook(CLI::App& app, GlobalOptions& global) {
  auto f = std::make_shared<HookFlags>();
  auto* cmd = app.add_subcommand(
      "vzdump-hook",
      "vzdump hook script: in phase backup-end, store $TARGET in the repository (other phases "
      "are ignored)");
  cmd->add_option("phase", f->phase, "vzdump phase (job-start, backup-end, ...)")->required();
  cmd->add_option("mode", f->mode, "Backup mode (snapshot, suspend, stop)");
  cmd->add_option("vmid", f->vmid, "Guest id");
  cmd->add_flag("--remove-archive", f->remove_archive,
                "Delete the local archive after it was stored (vzdump's retention then sees no "
                "file; leave off to keep vzdump's own copies)");
  add_passphrase_flags(cmd, f->repo);
  cmd->callback([f, &global] {
    if (f->phase != "backup-end") return;  // nothing to do in the other phases
    std::string target = env("TARGET");
    if (target.empty()) {
      throw Error(Errc::kUsage, "vzdump-hook backup-end: TARGET is not set",
                  "run it as vzdump's hook script (script: in /etc/vzdump.conf)");
    }
    if (f->vmid.empty()) throw Error(Errc::kUsage, "vzdump-hook backup-end: no vmid argument");
    std::string type = env("VMTYPE");
    if (type == "openvz") type = "lxc";
    std::string node = short_hostname();

    repo::Repository repo = open_repository(global, f->repo);
    auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kShared, "backup");
    repo::FileSource source(target);
    repo::BackupOptions bo;
    bo.node = node;
    bo.guest_id = f->vmid;
    bo.guest_type = type;
    bo.file_name = source.name();
    bo.tags = {{"node", node}, {"guest", f->vmid}, {"source", "vzdump-hook"}};
    if (!type.empty()) bo.tags["type"] = type;
    if (!f->mode.empty()) bo.tags["mode"] = f->mode;
    repo::CatalogEvent ev;
    ev.kind = "backup";
    ev.repository = repo.location();
    ev.node = node;
    ev.guest_id = f->vmid;
    ev.guest_type = type;
    ev.file_name = source.name();
    repo::BackupResult r;
    const auto before = repo.store().requests();
    try {
      r = repo::backup(repo, source, bo);
    } catch (const Error& e) {
      ev.result = "error";
      ev.error = e.what();
      try {
        repo::Catalog::open(catalog_path(global)).record(ev);
      } catch (const Error&) {
      }
      throw;
    }
    lock.reset();
    ev.snapshot_id = r.snapshot_id;
    ev.size_bytes = static_cast<int64_t>(r.size_bytes);
    ev.stored_bytes = static_cast<int64_t>(r.stored_bytes);
    ev.duration_seconds = r.duration_seconds;
    ev.throughput_bytes_per_second =
        r.duration_seconds > 0 ? static_cast<double>(r.size_bytes) / r.duration_seconds : 0;
    ev.dedup_ratio = r.dedup_ratio;
    nlohmann::json j = backup_json(r, repo.store().requests() - before);
    j["source"] = "vzdump-hook";
    j["mode"] = f->mode;
    ev.details_json = j.dump();
    try {
      repo::Catalog::open(catalog_path(global)).record(ev);
    } catch (const Error& e) {
      std::cerr << "pvesafe: warning: catalog not updated: " << e.what() << "\n";
    }
    if (f->remove_archive && ::unlink(target.c_str()) != 0) {
      std::cerr << "pvesafe: warning: could not remove " << target << "\n";
    }
    if (global.json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    // vzdump copies this into the task log.
    std::cout << fmt::format(
        "pvesafe: stored {} ({}) as snapshot {} in {}: {} new, dedup {:.1f}x\n", source.name(),
        human_bytes(r.size_bytes), r.snapshot_id.substr(0, 8), repo.location(),
        human_bytes(r.stored_bytes), r.dedup_ratio);
  });
}

}  // namespace pvesafe::cli
