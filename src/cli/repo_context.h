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
#include "jobs/event_log.h"
#include "repo/backup.h"
#include "repo/catalog.h"
#include "repo/repository.h"

namespace pvesafe::cli {

struct RepoFlags {
  PassphraseOptions passphrase;
};

// Adds --passphrase-file and --passphrase-command to a subcommand.
void add_passphrase_flags(CLI::App* cmd, RepoFlags& flags);

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
nlohmann::json requests_json(const store::RequestCounts& r, uint64_t bytes);
// The --json output (and catalog details) of a backup.
nlohmann::json backup_json(const repo::BackupResult& r, const store::RequestCounts& req);

}  // namespace pvesafe::cli
