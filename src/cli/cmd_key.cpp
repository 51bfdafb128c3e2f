// pvesafe key list|add|remove|passwd|public: the key files that open a repository, their modes
// (full, write-only) and the public key data is encrypted to.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/error.h"
#include "crypto/openpgp_key.h"

namespace pvesafe::cli {

namespace {
struct KeyFlags {
  RepoFlags repo;
  PassphraseOptions new_pass;
  std::string id;
  bool write_only = false;
  std::string generate;
  bool armor = true;
};

void add_new_passphrase_flags(CLI::App* cmd, KeyFlags& f) {
  f.new_pass.env_var = "PVESAFE_NEW_PASSPHRASE";
  f.new_pass.credential = "pvesafe-new-passphrase";
  cmd->add_option("--new-passphrase-file", f.new_pass.file, "File holding the new passphrase (mode 600)");
  cmd->add_option("--new-passphrase-command", f.new_pass.command, "Command printing the new passphrase");
  cmd->add_option(
      "--generate-passphrase", f.generate,
      "Generate a random new passphrase (120 bits) into this new file (mode 600) and use it");
}
}  // namespace

void register_key(CLI::App& app, GlobalOptions& g) {
  auto* key = app.add_subcommand("key", "Manage the passphrase key files of a repository");
  key->require_subcommand(1);
  auto f = std::make_shared<KeyFlags>();

  auto* list = key->add_subcommand(
      "list", "List key files; the one the passphrase opens (*) with when and where it was made");
  add_passphrase_flags(list, f->repo);
  list->callback([&g, f] {
    auto repo = open_repository(g, f->repo);
    auto keys = repo.list_keys();
    if (g.json) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& k : keys) {
        nlohmann::json e{{"id", k.id},
                         {"current", k.current},
                         {"created", nullptr},
                         {"hostname", nullptr},
                         {"mode", nullptr}};
        if (k.mode) e["mode"] = std::string(repo::key_mode_name(*k.mode));
        if (!k.created_utc.empty()) e["created"] = k.created_utc;
        if (!k.hostname.empty()) e["hostname"] = k.hostname;
        j.push_back(std::move(e));
      }
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::vector<std::vector<std::string>> rows;
    // Another key file's own record opens only with its passphrase.
    for (const auto& k : keys) {
      rows.push_back({k.current ? "*" : "", k.id,
                      k.mode ? std::string(repo::key_mode_name(*k.mode)) : "?",
                      !k.created_utc.empty() ? k.created_utc : "(its passphrase)", k.hostname});
    }
    print_table({"", "id", "mode", "created", "host"}, rows);
    if (!g.quiet && repo.has_recipient()) {
      std::cout << "data is encrypted to key " << repo.config().recipient
                << "; no key file holds its secret key\n";
    }
    if (!g.quiet) std::cout << "* the key the given passphrase opened\n";
  });

  auto* add = key->add_subcommand(
      "add", "Add a key file for another passphrase (--write-only: for backup hosts)");
  add_passphrase_flags(add, f->repo);
  add_new_passphrase_flags(add, *f);
  add->add_flag(
      "--write-only", f->write_only,
      "A key for backup hosts of a repository with a recipient: it backs up and dedups, "
      "but no data it opens, and pvesafe refuses forget, prune, gc and key changes with it");
  add->callback([&g, f] {
    auto repo = open_repository(g, f->repo);
    repo.require_full_key("add keys");
    Secret np = new_passphrase(f->new_pass, f->generate, "new passphrase");
    const auto mode = f->write_only ? repo::KeyMode::kWriteOnly : repo::KeyMode::kFull;
    std::string id = repo.add_key(np, mode);
    if (g.json)
      std::cout
          << nlohmann::json{{"id", id}, {"mode", std::string(repo::key_mode_name(mode))}}.dump(2)
          << "\n";
    else
      std::cout << "added " << repo::key_mode_name(mode) << " key " << id << "\n";
  });

  auto* pub = key->add_subcommand(
      "public", "Print the public key data is encrypted to (repositories with a recipient)");
  add_passphrase_flags(pub, f->repo);
  pub->add_flag("!--binary", f->armor, "Binary instead of ASCII armor");
  pub->callback([&g, f] {
    auto repo = open_repository(g, f->repo);
    if (!repo.has_recipient()) {
      throw Error(Errc::kNotFound, "the repository at " + repo.location() + " has no recipient key",
                  "only repositories made with pvesafe init --recipient have one");
    }
    auto cert = repo.recipient_cert();
    if (f->armor) {
      std::cout << crypto::armor_public_key(cert);
    } else {
      std::cout.write(reinterpret_cast<const char*>(cert.data()),
                      static_cast<std::streamsize>(cert.size()));
    }
  });

  auto* remove = key->add_subcommand("remove", "Remove a key file (not the one in use, not the last)");
  add_passphrase_flags(remove, f->repo);
  remove->add_option("id", f->id, "Key id or unique prefix")->required();
  remove->callback([&g, f] {
    auto repo = open_repository(g, f->repo);
    repo.require_full_key("remove keys");
    repo.remove_key(f->id);
    if (!g.quiet) std::cout << "removed key " << f->id << "\n";
  });

  auto* passwd = key->add_subcommand("passwd", "Change the passphrase of the key in use");
  add_passphrase_flags(passwd, f->repo);
  add_new_passphrase_flags(passwd, *f);
  passwd->callback([&g, f] {
    auto repo = open_repository(g, f->repo);
    Secret np = new_passphrase(f->new_pass, f->generate, "new passphrase");
    std::string old = repo.current_key_id();
    std::string id = repo.change_passphrase(np);
    if (g.json) std::cout << nlohmann::json{{"id", id}, {"replaced", old}}.dump(2) << "\n";
    else std::cout << "new key " << id << " replaces " << old << "\n";
  });
}

}  // namespace pvesafe::cli
