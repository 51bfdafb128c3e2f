#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/command.h"
#include "cli/config_file.h"
#include "core/error.h"

namespace pvesafe::cli {

namespace {
int g_exit_status = 0;

// Passphrases and keys live in this process's memory: keep them out of core dumps.
void harden_process() {
  struct rlimit no_core {
    0, 0
  };
  setrlimit(RLIMIT_CORE, &no_core);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
}  // namespace

void set_exit_status(int code) { g_exit_status = code; }
int exit_status() { return g_exit_status; }

void register_version(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("version", "Print the pvesafe version");
  cmd->callback([&global] {
    if (global.json) {
      std::cout << R"({"name":"pvesafe","version":")" << PVESAFE_VERSION << "\"}\n";
    } else {
      std::cout << "pvesafe " << PVESAFE_VERSION << "\n";
    }
  });
}

void register_all(CLI::App& app, GlobalOptions& g) {
  register_version(app, g);
  register_iam_policy(app, g);
  register_init(app, g);
  register_backup(app, g);
  register_restore(app, g);
  register_snapshots(app, g);
  register_verify(app, g);
  register_forget(app, g);
  register_gc(app, g);
  register_report(app, g);
  register_key(app, g);
  register_unlock(app, g);
  register_audit(app, g);
  register_exporter(app, g);
  register_drill(app, g);
  register_vzdump_hook(app, g);
  register_nbd(app, g);
  register_instant_restore(app, g);
  register_files(app, g);
  register_mount(app, g);
}

}  // namespace pvesafe::cli

int main(int argc, char** argv) {
  using namespace pvesafe;
  cli::harden_process();
  auto logger = spdlog::stderr_color_mt("pvesafe");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S%z %^%l%$ %v");
  spdlog::set_level(spdlog::level::warn);

  CLI::App app{
      "pvesafe: encrypted, deduplicating backup, restore, DR drills and monitoring for "
      "Proxmox VE clusters.\nRun 'pvesafe COMMAND --help' for the flags of a command.",
      "pvesafe"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags also work after the subcommand: pvesafe snapshots --json
  app.set_version_flag("--version", std::string(PVESAFE_VERSION));
  cli::GlobalOptions global;
  app.add_option("-r,--repo", global.repo,
                 "Repository: a directory or s3://bucket/prefix (env PVESAFE_REPOSITORY; "
                 "'repository' in the config file)")
      ->envname("PVESAFE_REPOSITORY");
  app.add_option("--config", global.config_file,
                 "Config file (env PVESAFE_CONFIG; default /etc/pvesafe/pvesafe.toml when it "
                 "exists): the long flags of the commands as TOML keys, overridden by the "
                 "environment and by flags (docs/config.md)");
  app.add_option("--catalog", global.catalog,
                 "SQLite catalog and audit log (default /var/lib/pvesafe/catalog.db as root, "
                 "else ~/.local/share/pvesafe/catalog.db; env PVESAFE_CATALOG)")
      ->envname("PVESAFE_CATALOG");
  app.add_option("-o,--option", global.options,
                 "Store setting KEY=VALUE, repeatable (e.g. -o s3.endpoint=https://s3.example:7480)");
  app.add_flag("--json", global.json, "Machine-readable JSON on stdout");
  app.add_flag("-q,--quiet", global.quiet, "No progress output");
  app.add_flag("-v,--verbose", global.verbose, "More log output on stderr (repeat for debug)");
  app.parse_complete_callback([&global] {
    if (global.verbose == 1) spdlog::set_level(spdlog::level::info);
    if (global.verbose >= 2) spdlog::set_level(spdlog::level::debug);
  });
  cli::register_all(app, global);

  try {
    // The file's values become the flags' starting values; the environment and the command
    // line then override them while parsing.
    cli::ConfigSource config = cli::find_config(argc, argv);
    global.config_file = config.path;
    cli::apply_config_file(app, config);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : exit_code(Errc::kUsage);
  } catch (const Error& e) {
    std::cerr << "pvesafe: error: " << e.what() << "\n";
    return exit_code(e.code());
  } catch (const std::exception& e) {
    std::cerr << "pvesafe: internal error: " << e.what() << "\n";
    return exit_code(Errc::kInternal);
  }
  return cli::exit_status();
}
