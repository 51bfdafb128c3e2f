// pvesafe unlock [--all]: remove stale locks (or every lock).
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "repo/lock.h"

namespace pvesafe::cli {

namespace {
struct UnlockFlags {
  RepoFlags repo;
  bool all = false;
};
}  // namespace

void register_unlock(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "unlock",
      "Remove stale repository locks: those of processes gone from this machine at once, those "
      "of other machines once seen unchanged for the stale timeout (PVESAFE_LOCK_STALE_SECONDS, "
      "600 s), which unlock waits for");
  auto f = std::make_shared<UnlockFlags>();
  add_passphrase_flags(cmd, f->repo);
  cmd->add_flag("--all", f->all, "Remove every lock, also live ones (only when no pvesafe runs on the repository)");
  cmd->callback([&g, f] {
    auto repo = open_repository(g, f->repo);
    auto before = repo::list_locks(repo);
    size_t n = repo::remove_locks(repo, f->all);
    if (g.json) {
      std::cout << nlohmann::json{{"removed", n}, {"remaining", before.size() - n}}.dump(2) << "\n";
    } else {
      std::cout << "removed " << n << " lock" << (n == 1 ? "" : "s") << ", " << before.size() - n << " remaining\n";
      if (!f->all && before.size() > n) {
        for (const auto& l : repo::list_locks(repo)) std::cout << "  live: " << repo::describe_lock(l) << "\n";
      }
    }
  });
}

}  // namespace pvesafe::cli
