// The configuration file of pvesafe (docs/config.md): /etc/pvesafe/pvesafe.toml, or the file of
// --config FILE / env PVESAFE_CONFIG. Its values are the long flags of the command line:
//
//   repository = "s3://bucket/prefix"   # top level: a global flag (--repo), or a flag of every
//   passphrase-file = "/etc/..."        #   command that has it (--passphrase-file)
//   option = ["s3.region=eu-west-1"]    # repeatable flags take an array
//   [pve]  host = "pve-01"              # [pve] KEY and [ssh] KEY: --pve-KEY / --ssh-KEY
//   [exporter] listen = "0.0.0.0:9221"  # [COMMAND] KEY: --KEY of that command only
//
// Precedence: a flag on the command line wins over the flag's environment variable (where it has
// one), which wins over the file; within the file a [COMMAND] value wins over a top-level one.
// A value is applied as the flag's starting value before parsing, so nothing in the file counts
// as "given" on the command line. Keys may use '_' for '-'.
//
// Errors are kConfig and name the file and the key: an unknown key, a value the flag refuses, a
// positional argument, or a file that others can write (it may name a command pvesafe runs,
// --passphrase-command). The file holds no secrets; those stay in 0600 files, the environment or
// systemd credentials.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace pvesafe::cli {

inline constexpr const char* kDefaultConfigPath = "/etc/pvesafe/pvesafe.toml";

struct ConfigSource {
  std::string path;        // "" = no file
  bool explicit_ = false;  // named by --config or PVESAFE_CONFIG: must exist
};

// --config FILE / --config=FILE anywhere before "--" in argv, else PVESAFE_CONFIG, else the
// default path when that file exists.
ConfigSource find_config(int argc, const char* const* argv,
                         const std::string& default_path = kDefaultConfigPath);

// Applies the file to the options of `app` and its subcommands (see above). A missing file that
// was not named explicitly is no error.
void apply_config_file(CLI::App& app, const ConfigSource& source);

}  // namespace pvesafe::cli
