// Shared plumbing of the repository commands: passphrase flags, opening the repository, the
// catalog, locks, progress on a terminal, and output helpers (tables, sizes).
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "core/secret.h"
#include "crypto/session_key.h"
#include "jobs/event_log.h"
#include "repo/backup.h"
#include "repo/catalog.h"
#include "repo/repository.h"
#include "store/request_json.h"

namespace pvesafe::cli {

// Where a restore host keeps the secret key of a repository with a recipient (format 3).
struct SecretKeyFlags {
  std::string file;  // --secret-key FILE: an OpenPGP secret key (gpg --export-secret-keys)
  std::string passphrase_file;  // --secret-key-passphrase-file FILE, when that key is protected
  bool gpg_agent = false;       // --gpg-agent: the keys of gpg-agent ($GNUPGHOME)
  std::string command;          // --session-key-command CMD (crypto/session_key_command.h)
  bool any() const { return !file.empty() || gpg_agent || !command.empty(); }
};

struct RepoFlags {
  PassphraseOptions passphrase;
  SecretKeyFlags secret_key;
};

// Adds --passphrase-file and --passphrase-command to a subcommand, and the secret key flags
// (--secret-key, --secret-key-passphrase-file, --gpg-agent, --session-key-command).
void add_passphrase_flags(CLI::App* cmd, RepoFlags& flags);

// A new passphrase (init, key add, key passwd). With `generate_to` set, a fresh one of 120 random
// bits (24 characters a-z2-7 in four groups) is written to that file (mode 600, refused if it
// exists) and used. Otherwise from the usual sources; on a terminal with no source configured, a
// generated one is shown once instead of asking for one. A passphrase given by the user that is
// weaker than 64 bits by a simple estimate (length and character classes) is used, with a warning
// on stderr saying what a guess costs an attacker with a stolen key file (docs/format.md).
Secret new_passphrase(const PassphraseOptions& options, const std::string& generate_to,
                      std::string_view what);
// Estimated bits of a passphrase: length times log2 of the character classes it uses.
double passphrase_bits(std::string_view p);

// The session key provider the flags name, or nullptr when none is given. kUsage for more than
// one; kConfig/kAuth as the providers report (a missing file, a wrong key passphrase).
std::shared_ptr<crypto::SessionKeyProvider> make_session_key_provider(const SecretKeyFlags& flags);

std::unique_ptr<store::ObjectStore> open_store_from(const GlobalOptions& g);
repo::Repository open_repository(const GlobalOptions& g, const RepoFlags& flags);

// The catalog of --catalog (jobs/event_log.h): every command records its events through it.
jobs::EventLog& event_log(const GlobalOptions& g);
// Records an event; a catalog failure is logged, never fatal (the backup itself succeeded).
void record_event(const GlobalOptions& g, repo::CatalogEvent event);
// Records `event` as failed with the error's one-line message. Usage errors are not recorded:
// nothing was attempted.
void record_failure(const GlobalOptions& g, repo::CatalogEvent event, const Error& error);
std::string catalog_path(const GlobalOptions& g);

// Progress line on stderr, only when stderr is a terminal and not --quiet; throttled.
std::function<void(const repo::Progress&)> make_progress(const GlobalOptions& g, std::string label);
void end_progress(const GlobalOptions& g);

std::string human_bytes(uint64_t n);            // "1.50 GiB"
std::string fixed(double v, int decimals = 2);  // "1.50"
std::string short_id(const std::string& id);    // first 8 digits

// Plain-text table with a header row, columns padded to their widest cell.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

// Parses "30d", "12h", "90m", "45s", "3600" into seconds; kUsage otherwise.
std::chrono::seconds parse_duration(const std::string& s);

// Parses "k=v" tags; kUsage otherwise.
std::map<std::string, std::string> parse_tags(const std::vector<std::string>& kv);

// A snapshot as JSON (the fields of `pvesafe snapshots --json`).
nlohmann::json snapshot_json(const repo::SnapshotInfo& s);

// Store requests of one command, by billing class, with the rate per GiB of `bytes`.
using store::requests_json;
// The --json output (and catalog details) of a backup.
nlohmann::json backup_json(const repo::BackupResult& r, const store::RequestCounts& req);

}  // namespace pvesafe::cli
