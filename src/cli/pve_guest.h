// The flags of `pvesafe backup --guest/--all` and `pvesafe restore --guest`, and the hand-over to
// the use cases (jobs/guest_backup.h, jobs/guest_restore.h) with the printing of their results.
// cmd_backup.cpp / cmd_restore.cpp add the flags with add_guest_*_flags() and hand over to
// run_guest_*() when guest_*_requested(). Those commands already own --guest and --node; they
// copy them into `guest` and `node` before calling (backup: FILE and --stdin absent; restore:
// --to absent).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/command.h"
#include "cli/pve_options.h"
#include "repo/repository.h"

namespace pvesafe::cli {

struct GuestBackupFlags {
  PveFlags pve;
  SshFlags ssh;
  std::string guest;
  bool all = false;
  std::string node;
  std::string pool;
  int jobs = 2;
  std::string dump_storage = "local";
  std::string mode = "snapshot";
  // vzdump's compression: 0 (none) by default, so pvesafe sees the disks and stores only what
  // changed; zstd|gzip|lzo keep vzdump's own choice (pvesafe then decompresses on the way in).
  std::string compress = "0";
  bool keep_archive = false;
  double task_timeout_seconds = 6 * 3600;
};

struct GuestRestoreFlags {
  PveFlags pve;
  SshFlags ssh;
  std::string guest;
  std::string node;
  std::string storage;
  std::string dump_storage = "local";
  std::string new_id;
  bool start = false;
  bool force = false;
  bool keep_archive = false;
  double task_timeout_seconds = 6 * 3600;
};

void add_guest_backup_flags(CLI::App* cmd, GuestBackupFlags& f);
bool guest_backup_requested(const GuestBackupFlags& f);
// Backs up the selected guest(s) into `repo` (the caller holds the repository lock), records
// each in the catalog, prints a summary (table or --json). With several guests, failures of
// single guests do not stop the others; the exit status is set to the first failure's code.
void run_guest_backup(GuestBackupFlags& f, repo::Repository& repo, const GlobalOptions& g);

void add_guest_restore_flags(CLI::App* cmd, GuestRestoreFlags& f);
bool guest_restore_requested(const GuestRestoreFlags& f);
// Restores `snapshot` (id, prefix or "latest" of --guest) to a guest on --node.
void run_guest_restore(GuestRestoreFlags& f, repo::Repository& repo, const std::string& snapshot,
                       const GlobalOptions& g);

}  // namespace pvesafe::cli
