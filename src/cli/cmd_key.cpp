// pvesafe key list|add|remove|passwd: the key files that open a repository.
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/error.h"

namespace pvesafe::cli {

namespace {
struct KeyFlags {
  RepoFlags repo;
  PassphraseOptions new_pass;
  std::string id;
};

void add_new_passphrase_flags(CLI::App* cmd, KeyFlags& f) {
  f.new_pass.env_var = "PVESAFE_NEW_PASSPHRASE";
  f.new_pass.credential = "pvesafe-new-passphrase";
  cmd->add_option("--new-passphrase-file", f.new_pass.file, "File holding the new passphrase (mode 600)");
  cmd->add_option("--new-passphrase-command", f.new_pass.command, "Command printing the new passphrase");
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
        nlohmann::json e{{"id", k.id}, {"current", k.current}, {"created", nullptr}, {"hostname", nullptr}};
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
      rows.push_back({k.current ? "*" : "", k.id, k.current ? k.created_utc : "(its passphrase)",
                      k.current ? k.hostname : ""});
    }
    print_table({"", "id", "created", "host"}, rows);
    if (!g.quiet) std::cout << "* the key the given passphrase opened\n";
  });

  auto* add = key->add_subcommand("add", "Add a key file for another passphrase");
  add_passphrase_flags(add, f->repo);
  add_new_passphrase_flags(add, *f);
  add->callback([&g, f] {
    auto repo = open_repository(g, f->repo);
    Secret np = read_passphrase(f->new_pass, PromptMode::kConfirm, "new passphrase");
    std::string id = repo.add_key(np);
    if (g.json) std::cout << nlohmann::json{{"id", id}}.dump(2) << "\n";
    else std::cout << "added key " << id << "\n";
  });

  auto* remove = key->add_subcommand("remove", "Remove a key file (not the one in use, not the last)");
  add_passphrase_flags(remove, f->repo);
  remove->add_option("id", f->id, "Key id or unique prefix")->required();
  remove->callback([&g, f] {
    auto repo = open_repository(g, f->repo);
    repo.remove_key(f->id);
    if (!g.quiet) std::cout << "removed key " << f->id << "\n";
  });

  auto* passwd = key->add_subcommand("passwd", "Change the passphrase of the key in use");
  add_passphrase_flags(passwd, f->repo);
  add_new_passphrase_flags(passwd, *f);
  passwd->callback([&g, f] {
    auto repo = open_repository(g, f->repo);
    Secret np = read_passphrase(f->new_pass, PromptMode::kConfirm, "new passphrase");
    std::string old = repo.current_key_id();
    std::string id = repo.change_passphrase(np);
    if (g.json) std::cout << nlohmann::json{{"id", id}, {"replaced", old}}.dump(2) << "\n";
    else std::cout << "new key " << id << " replaces " << old << "\n";
  });
}

}  // namespace pvesafe::cli
