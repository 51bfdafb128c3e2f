#include "cli/config_file.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <toml++/toml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <vector>

#include "core/error.h"

namespace pvesafe::cli {

namespace {

std::string normalize(std::string key) {
  for (auto& c : key)
    if (c == '_') c = '-';
  return key;
}

[[noreturn]] void config_error(const std::string& path, const std::string& what,
                               const std::string& hint = {}) {
  throw Error(
      Errc::kConfig, fmt::format("config {}: {}", path, what),
      hint.empty() ? "keys are the long flags of pvesafe's commands (docs/config.md)" : hint);
}

std::string line_of(const toml::node& n) {
  auto l = n.source().begin.line;
  return l ? fmt::format("line {}: ", l) : std::string();
}

// A TOML value as the text a flag takes; nullopt for tables and nested arrays.
std::optional<std::string> scalar_text(const toml::node& n) {
  if (auto v = n.as_string()) return v->get();
  if (auto v = n.as_integer()) return std::to_string(v->get());
  if (auto v = n.as_floating_point()) return fmt::format("{}", v->get());
  if (auto v = n.as_boolean()) return v->get() ? "true" : "false";
  return std::nullopt;
}

struct Value {
  std::vector<std::string> items;
  std::string where;  // "line 3: key 'listen'"
};

// The option of `app` called --name, or nullptr. Positional arguments never match.
CLI::Option* long_option(CLI::App& app, const std::string& name) {
  for (CLI::Option* o : app.get_options()) {
    if (!o->nonpositional()) continue;
    for (const auto& l : o->get_lnames())
      if (l == name) return o;
  }
  return nullptr;
}

bool is_positional(CLI::App& app, const std::string& name) {
  for (CLI::Option* o : app.get_options())
    if (o->get_positional() && o->get_name() == name) return true;
  return false;
}

std::vector<CLI::App*> all_subcommands(CLI::App& app) {
  std::vector<CLI::App*> out;
  for (CLI::App* s : app.get_subcommands([](CLI::App*) { return true; })) {
    out.push_back(s);
    for (CLI::App* t : all_subcommands(*s)) out.push_back(t);
  }
  return out;
}

// Sets the starting value of `opt` (its bound variable) unless its environment variable is set:
// the environment wins over the file, and a flag given on the command line replaces the value.
void set_start_value(const std::string& path, CLI::Option& opt, const Value& v) {
  const std::string env = opt.get_envname();
  if (!env.empty()) {
    const char* e = std::getenv(env.c_str());
    if (e && *e) return;
  }
  if (v.items.size() > 1 && opt.get_items_expected_max() <= 1) {
    config_error(path, v.where + "takes one value, not an array",
                 fmt::format("write {} = \"VALUE\"", opt.get_single_name()));
  }
  try {
    opt.clear();
    opt.add_result(v.items);
    opt.run_callback();
    opt.clear();
  } catch (const CLI::Error& e) {
    opt.clear();
    config_error(path, v.where + e.what(),
                 fmt::format("see pvesafe --help for what --{} takes", opt.get_single_name()));
  }
}

// Applies key=value to `app` (a command). Returns false when no such flag exists.
bool apply_to(CLI::App& app, const std::string& path, const std::string& key, const Value& v) {
  CLI::Option* o = long_option(app, key);
  if (!o) return false;
  set_start_value(path, *o, v);
  return true;
}

// Applies key=value to the root and to every command that has the flag.
bool apply_everywhere(CLI::App& root, const std::string& path, const std::string& key,
                      const Value& v) {
  bool any = apply_to(root, path, key, v);
  for (CLI::App* s : all_subcommands(root)) any = apply_to(*s, path, key, v) || any;
  return any;
}

Value value_of(const std::string& path, const std::string& key, const toml::node& n) {
  Value v;
  v.where = fmt::format("{}key '{}': ", line_of(n), key);
  if (auto arr = n.as_array()) {
    for (const auto& el : *arr) {
      auto t = scalar_text(el);
      if (!t) config_error(path, v.where + "an array may hold strings, numbers and booleans only");
      v.items.push_back(*t);
    }
    return v;
  }
  auto t = scalar_text(n);
  if (!t) config_error(path, v.where + "not a value a flag takes");
  v.items.push_back(*t);
  return v;
}

void refuse_reserved(const std::string& path, const std::string& key, const toml::node& n) {
  static const char* reserved[] = {"config", "help", "version", "help-all"};
  for (const char* r : reserved)
    if (key == r)
      config_error(path,
                   fmt::format("{}key '{}' cannot be set in the config file", line_of(n), key),
                   "remove it");
}

// [COMMAND] (and [COMMAND.SUBCOMMAND]) tables.
void apply_command_table(CLI::App& cmd, const std::string& path, const std::string& prefix,
                         const toml::table& t) {
  for (const auto& [k, node] : t) {
    std::string key = normalize(std::string(k.str()));
    if (auto sub = node.as_table()) {
      CLI::App* child = nullptr;
      try {
        child = cmd.get_subcommand(key);
      } catch (const CLI::OptionNotFound&) {
      }
      if (!child)
        config_error(path, fmt::format("{}[{}{}] is not a command", line_of(node), prefix, key),
                     "tables are named after commands, e.g. [backup] or [exporter]");
      apply_command_table(*child, path, prefix + key + ".", *sub);
      continue;
    }
    refuse_reserved(path, key, node);
    Value v = value_of(path, key, node);
    if (is_positional(cmd, key))
      config_error(path, v.where + "is an argument of '" + cmd.get_name() + "', not a flag",
                   "give it on the command line");
    if (!apply_to(cmd, path, key, v))
      config_error(path, fmt::format("{}{} has no flag --{}", v.where, cmd.get_name(), key),
                   fmt::format("run pvesafe {} --help for its flags", cmd.get_name()));
  }
}

}  // namespace

ConfigSource find_config(int argc, const char* const* argv, const std::string& default_path) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    if (a == "--config" && i + 1 < argc) return {argv[i + 1], true};
    if (a.rfind("--config=", 0) == 0) return {a.substr(9), true};
  }
  if (const char* e = std::getenv("PVESAFE_CONFIG"); e && *e) return {e, true};
  struct stat st {};
  if (!default_path.empty() && ::stat(default_path.c_str(), &st) == 0) return {default_path, false};
  return {};
}

void apply_config_file(CLI::App& app, const ConfigSource& source) {
  const std::string& path = source.path;
  if (path.empty()) return;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (!source.explicit_ && errno == ENOENT) return;
    throw Error(Errc::kConfig, fmt::format("config {}: {}", path, std::strerror(errno)),
                "give an existing file with --config, or remove PVESAFE_CONFIG");
  }
  if (!S_ISREG(st.st_mode)) config_error(path, "not a regular file", "give a file with --config");
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    config_error(path, "writable by other users (it may name commands pvesafe runs)",
                 fmt::format("chmod go-w {}", path));
  }
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    config_error(path,
                 fmt::format("line {}: {}", e.source().begin.line, std::string(e.description())),
                 "fix the TOML syntax (https://toml.io)");
  }

  // Top-level values first, then the [pve]/[ssh] shorthands, then [COMMAND] tables, so that a
  // command's own value wins over a shared one.
  std::vector<std::pair<std::string, const toml::table*>> commands;
  auto shared = [&](const std::string& key, const toml::node& node) {
    refuse_reserved(path, key, node);
    Value v = value_of(path, key, node);
    if (!apply_everywhere(app, path, key, v))
      config_error(path, fmt::format("{}no command has a flag --{}", v.where, key));
  };
  for (const auto& [k, node] : t) {
    std::string key = normalize(std::string(k.str()));
    if (!node.as_table()) {
      // The repository has a longer, clearer name in the file than the flag's.
      shared(key == "repository" ? "repo" : key, node);
    }
  }
  for (const auto& [k, node] : t) {
    std::string key = normalize(std::string(k.str()));
    const toml::table* tab = node.as_table();
    if (!tab) continue;
    if (key == "pve" || key == "ssh") {
      for (const auto& [k2, n2] : *tab) shared(key + "-" + normalize(std::string(k2.str())), n2);
      continue;
    }
    commands.emplace_back(key, tab);
  }
  for (const auto& [key, tab] : commands) {
    CLI::App* cmd = nullptr;
    try {
      cmd = app.get_subcommand(key);
    } catch (const CLI::OptionNotFound&) {
    }
    if (!cmd)
      config_error(path, fmt::format("{}[{}] is not a command", line_of(*tab), key),
                   "tables are [pve], [ssh] or named after commands, e.g. [backup] or [exporter]");
    apply_command_table(*cmd, path, key + ".", *tab);
  }
}

}  // namespace pvesafe::cli
