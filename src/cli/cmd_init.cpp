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
  auto sizes = std::make_shared<repo::InitOptions>();
  add_passphrase_flags(cmd, *flags);
  const char* tuning =
      "Chunk and pack sizes (fixed for the repository's life; the defaults are measured, see "
      "docs/format.md)";
  cmd->add_option("--chunk-size", sizes->chunker.avg_size_bytes,
                  "Average content-defined chunk of byte streams, a power of two (chunks range "
                  "from a quarter "
                  "to four times it)")
      ->capture_default_str()
      ->group(tuning);
  cmd->add_option("--disk-chunk-size", sizes->disk_chunk_bytes,
                  "Fixed chunk of disks stored by offset, a multiple of 64 KiB")
      ->capture_default_str()
      ->group(tuning);
  cmd->add_option("--pack-size", sizes->pack_bytes, "Size at which a pack is closed")
      ->capture_default_str()
      ->group(tuning);
  cmd->callback([&g, flags, sizes] {
    repo::InitOptions io = *sizes;
    io.chunker.min_size_bytes = io.chunker.avg_size_bytes / 4;
    io.chunker.max_size_bytes = io.chunker.avg_size_bytes * 4;
    auto store = open_store_from(g);
    Secret pass =
        read_passphrase(flags->passphrase, PromptMode::kConfirm, "new repository passphrase");
    auto repo = repo::Repository::init(std::move(store), pass, io);
    if (g.json) {
      nlohmann::json j{{"repository", repo.location()},
                       {"repository_id", repo.config().id},
                       {"key_id", repo.current_key_id()},
                       {"format", repo.config().version},
                       {"chunk_size_bytes", repo.config().chunker.avg_size_bytes},
                       {"disk_chunk_size_bytes", repo.config().disk_chunk_bytes},
                       {"pack_size_bytes", repo.config().pack_bytes},
                       {"recovery_instructions", "docs/recovery.md"}};
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::cout << "created pvesafe repository " << repo.config().id << " at " << repo.location()
              << "\n"
              << "key " << repo.current_key_id() << " opens it with the passphrase you gave.\n"
              << "Keep the passphrase safe: without it no backup can be read.\n"
              << "Recovery by hand (gpg, zstd and a shell only) is described in docs/recovery.md\n"
              << "(installed as /usr/share/doc/pvesafe/recovery.md).\n";
  });
}

}  // namespace pvesafe::cli
