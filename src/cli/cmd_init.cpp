// pvesafe init: creates a repository (config + first key file) and says where the recovery
// instructions are.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/error.h"

namespace pvesafe::cli {

void register_init(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("init", "Create a repository and its first key");
  auto flags = std::make_shared<RepoFlags>();
  add_passphrase_flags(cmd, *flags);
  cmd->callback([&g, flags] {
    auto store = open_store_from(g);
    Secret pass = read_passphrase(flags->passphrase, PromptMode::kConfirm, "new repository passphrase");
    auto repo = repo::Repository::init(std::move(store), pass);
    if (g.json) {
      nlohmann::json j{{"repository", repo.location()},
                       {"repository_id", repo.config().id},
                       {"key_id", repo.current_key_id()},
                       {"format", repo.config().version},
                       {"recovery_instructions", "docs/recovery.md"}};
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::cout << "created pvesafe repository " << repo.config().id << " at " << repo.location() << "\n"
              << "key " << repo.current_key_id() << " opens it with the passphrase you gave.\n"
              << "Keep the passphrase safe: without it no backup can be read.\n"
              << "Recovery by hand (gpg, zstd and a shell only) is described in docs/recovery.md\n"
              << "(installed as /usr/share/doc/pvesafe/recovery.md).\n";
  });
}

}  // namespace pvesafe::cli
