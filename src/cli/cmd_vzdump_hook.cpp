// pvesafe vzdump-hook: runs on a PVE node as vzdump's hook script (`script:` in
// /etc/vzdump.conf, through a small wrapper that adds --repo and the passphrase source); the use
// case is jobs/vzdump_hook.h. A failure exits non-zero, so vzdump marks that guest's backup as
// failed.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/command.h"
#include "cli/pve_options.h"
#include "cli/repo_context.h"
#include "core/error.h"
#include "jobs/vzdump_hook.h"
#include "repo/lock.h"

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
    if (!jobs::hook_phase_stores(f->phase)) return;  // nothing to do in the other phases
    jobs::VzdumpHookOptions o;
    o.phase = f->phase;
    o.mode = f->mode;
    o.vmid = f->vmid;
    o.target = env("TARGET");
    o.vmtype = env("VMTYPE");
    o.node = short_hostname();
    o.remove_archive = f->remove_archive;
    o.details = [](const repo::BackupResult& b, const store::RequestCounts& req) {
      return backup_json(b, req);
    };
    if (o.target.empty()) {
      throw Error(Errc::kUsage, "vzdump-hook backup-end: TARGET is not set",
                  "run it as vzdump's hook script (script: in /etc/vzdump.conf)");
    }
    repo::Repository repo = open_repository(global, f->repo);
    auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kShared, "backup");
    jobs::VzdumpHookResult r = jobs::run_vzdump_hook(repo, o, event_log(global));
    lock.reset();
    if (!r.warning.empty()) std::cerr << "pvesafe: warning: " << r.warning << "\n";
    if (global.json) {
      std::cout << r.details.dump(2) << "\n";
      return;
    }
    // vzdump copies this into the task log.
    std::cout << fmt::format(
        "pvesafe: stored {} ({}) as snapshot {} in {}: {} new, dedup {:.1f}x\n", r.file_name,
        human_bytes(r.backup.size_bytes), r.backup.snapshot_id.substr(0, 8), repo.location(),
        human_bytes(r.backup.stored_bytes), r.backup.dedup_ratio);
  });
}

}  // namespace pvesafe::cli
