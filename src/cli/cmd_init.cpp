// pvesafe init: creates a repository (config + first key file) and says where the recovery
// instructions are. With --recipient, data is encrypted to an OpenPGP public key (format 3), so
// backup hosts can be given write-only keys (pvesafe key add --write-only).
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/error.h"

namespace pvesafe::cli {

void register_init(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("init", "Create a repository and its first key");
  auto flags = std::make_shared<RepoFlags>();
  auto recipient = std::make_shared<std::string>();
  auto generate = std::make_shared<std::string>();
  auto sizes = std::make_shared<repo::InitOptions>();
  add_passphrase_flags(cmd, *flags);
  cmd->add_option(
      "--generate-passphrase", *generate,
      "Generate a random passphrase (120 bits) into this new file (mode 600) and use it");
  cmd->add_option("--recipient", *recipient,
                  "OpenPGP public key file (RSA >= 2048 or Curve25519, binary or armored, e.g. gpg "
                  "--export KEY): data is encrypted to it, so backup hosts with a write-only key "
                  "cannot read any backup; restore needs its secret key");
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
  cmd->callback([&g, flags, recipient, generate, sizes] {
    repo::InitOptions options = *sizes;
    options.chunker.min_size_bytes = options.chunker.avg_size_bytes / 4;
    options.chunker.max_size_bytes = options.chunker.avg_size_bytes * 4;
    if (!recipient->empty()) {
      std::ifstream in(*recipient, std::ios::binary);
      if (!in)
        throw Error(Errc::kConfig, "cannot read the recipient key file " + *recipient,
                    "check the path");
      options.recipient_cert.assign(std::istreambuf_iterator<char>(in),
                                    std::istreambuf_iterator<char>());
      if (options.recipient_cert.empty())
        throw Error(Errc::kConfig, "the recipient key file " + *recipient + " is empty");
    }
    auto store = open_store_from(g);
    Secret pass = new_passphrase(flags->passphrase, *generate, "new repository passphrase");
    auto repo = repo::Repository::init(std::move(store), pass, options);
    if (g.json) {
      nlohmann::json j{
          {"repository", repo.location()},
          {"repository_id", repo.config().id},
          {"key_id", repo.current_key_id()},
          {"format", repo.config().version},
          {"recipient", repo.config().recipient.empty() ? nlohmann::json(nullptr)
                                                        : nlohmann::json(repo.config().recipient)},
          {"chunk_size_bytes", repo.config().chunker.avg_size_bytes},
          {"disk_chunk_size_bytes", repo.config().disk_chunk_bytes},
          {"pack_size_bytes", repo.config().pack_bytes},
          {"recovery_instructions", "docs/recovery.md"}};
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::cout << "created pvesafe repository " << repo.config().id << " at " << repo.location()
              << "\n"
              << "key " << repo.current_key_id() << " opens it with the passphrase you gave.\n";
    if (repo.has_recipient()) {
      std::cout << "data is encrypted to key " << repo.config().recipient
                << ": restore, verify --read-data and drills need its secret key.\n"
                << "Give backup hosts a write-only key: pvesafe key add --write-only.\n";
    }
    std::cout << "Keep the passphrase safe: without it no backup can be read.\n"
              << "Recovery by hand (gpg, zstd and a shell only) is described in docs/recovery.md\n"
              << "(installed as /usr/share/doc/pvesafe/recovery.md).\n";
  });
}

}  // namespace pvesafe::cli
