// Every subcommand lives in its own file src/cli/cmd_<name>.cpp and exposes one function
//   void register_<name>(CLI::App& app, GlobalOptions& global);
// which adds the subcommand, its flags and a callback. Callbacks throw pvesafe::Error on failure;
// main() turns it into one line on stderr and the documented exit code. Add the declaration to
// the list below and the call to register_all() in main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace pvesafe::cli {

struct GlobalOptions {
  std::string repo;         // --repo / PVESAFE_REPOSITORY / config file
  std::string config_file;  // --config, default /etc/pvesafe/pvesafe.toml when present
  std::string catalog;      // --catalog, the SQLite catalog and audit log
  bool json = false;        // --json: machine-readable output on stdout
  bool quiet = false;       // --quiet: no progress, only errors
  int verbose = 0;          // -v, -vv: debug logging to stderr
  // -o/--option KEY=VALUE, repeatable: store settings such as s3.endpoint=..., s3.region=...,
  // s3.path-style=true, s3.ca-bundle=..., s3.connections=16, s3.retention-days=30.
  std::vector<std::string> options;
};

// Exit code set by a callback that completed but wants a non-zero status (e.g. a failed check).
void set_exit_status(int code);
int exit_status();

void register_version(CLI::App& app, GlobalOptions& global);
void register_iam_policy(CLI::App& app, GlobalOptions& global);
void register_init(CLI::App& app, GlobalOptions& global);
void register_backup(CLI::App& app, GlobalOptions& global);
void register_restore(CLI::App& app, GlobalOptions& global);
void register_snapshots(CLI::App& app, GlobalOptions& global);
void register_verify(CLI::App& app, GlobalOptions& global);
void register_forget(CLI::App& app, GlobalOptions& global);  // forget and prune
void register_gc(CLI::App& app, GlobalOptions& global);
void register_report(CLI::App& app, GlobalOptions& global);
void register_key(CLI::App& app, GlobalOptions& global);
void register_unlock(CLI::App& app, GlobalOptions& global);
void register_audit(CLI::App& app, GlobalOptions& global);
void register_exporter(CLI::App& app, GlobalOptions& global);
void register_drill(CLI::App& app, GlobalOptions& global);
void register_vzdump_hook(CLI::App& app, GlobalOptions& global);
void register_nbd(CLI::App& app, GlobalOptions& global);
void register_instant_restore(CLI::App& app, GlobalOptions& global);
void register_files(CLI::App& app, GlobalOptions& global);
void register_mount(CLI::App& app, GlobalOptions& global);

}  // namespace pvesafe::cli
