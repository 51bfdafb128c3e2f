// pvesafe gc: remove chunks no snapshot references (exclusive lock, grace period).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/error.h"
#include "repo/gc.h"
#include "repo/lock.h"

namespace pvesafe::cli {

namespace {
struct GcFlags {
  RepoFlags repo;
  std::string grace = "24h";
  bool dry_run = false;
};
}  // namespace

void register_gc(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("gc", "Remove chunks that no snapshot references");
  auto f = std::make_shared<GcFlags>();
  add_passphrase_flags(cmd, f->repo);
  cmd->add_option("--grace", f->grace,
                  "Remove an unreferenced chunk only after gc has seen it unreferenced this long (default 24h; 0 = now)");
  cmd->add_flag("--dry-run,-n", f->dry_run, "Show what would be removed");
  cmd->callback([&g, f] {
    repo::CatalogEvent ev;
    ev.kind = "gc";
    ev.repository = g.repo;
    try {
      repo::GcOptions opt;
      opt.grace = parse_duration(f->grace);
      opt.dry_run = f->dry_run;
      auto repo = open_repository(g, f->repo);
      repo.require_full_key("run gc");
      ev.repository = repo.location();
      auto lock = repo::RepositoryLock::acquire(repo, repo::LockKind::kExclusive, "gc");
      auto r = repo::collect_garbage(repo, opt);
      lock->release();
      ev.stored_bytes = -static_cast<int64_t>(r.removed_bytes);
      ev.duration_seconds = r.duration_seconds;
      nlohmann::json j{{"dry_run", f->dry_run},
                       {"total_chunks", r.total_chunks},
                       {"referenced_chunks", r.referenced_chunks},
                       {"removed_chunks", r.removed_chunks},
                       {"removed_bytes", r.removed_bytes},
                       {"pending_chunks", r.pending_chunks},
                       {"removed_temporary_files", r.removed_temporaries},
                       {"removed_packs", r.removed_packs},
                       {"locked_objects", r.locked_objects},
                       {"locked_example", r.locked_example},
                       {"locked_sparse_packs", r.locked_sparse_packs},
                       {"duration_seconds", r.duration_seconds}};
      ev.details_json = j.dump();
      if (!f->dry_run) record_event(g, ev);
      if (g.json) {
        std::cout << j.dump(2) << "\n";
      } else {
        std::cout << r.total_chunks << " chunks, " << r.referenced_chunks << " referenced; "
                  << (f->dry_run ? "would remove " : "removed ") << r.removed_chunks << " ("
                  << human_bytes(r.removed_bytes) << "); " << r.pending_chunks
                  << " unreferenced chunks kept for the grace period";
        if (r.removed_temporaries > 0) {
          std::cout << "; " << (f->dry_run ? "would remove " : "removed ") << r.removed_temporaries
                    << " temporary files of interrupted writes";
        }
        std::cout << "\n";
        if (r.locked_objects > 0 || r.locked_sparse_packs > 0) {
          std::cout << r.locked_objects << " objects to remove and " << r.locked_sparse_packs
                    << " packs to repack stay under Object Lock"
                    << (r.locked_example.empty() ? "" : " (first: " + r.locked_example + ")")
                    << "; a later gc removes them once their retention ends\n";
        }
      }
    } catch (const Error& e) {
      if (!f->dry_run) record_failure(g, ev, e);
      throw;
    }
  });
}

}  // namespace pvesafe::cli
