// Guest backup: run vzdump for each selected guest on its node through the PVE API, stream the
// archive over SFTP from the node straight into the repository (no local copy), and remove it
// from the node (unless keep_archive). Each snapshot is tagged with what a restore onto a new
// cluster needs to know: node, guest, type, name, cluster, pool, PVE tags, the status at backup
// time and the guest's HA resource ("ha.state", "ha.group", ...; pve/ha.h).
//
// Several guests run `jobs` at once, each worker with its own API and SSH connections. One
// failing guest does not stop the others: its result carries the error. Every guest is one
// "backup" row in the catalog. The caller holds a shared repository lock.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "jobs/event_log.h"
#include "pve/client.h"
#include "pve/guest.h"
#include "pve/ssh_targets.h"
#include "repo/backup.h"
#include "repo/repository.h"

namespace pvesafe::jobs {

struct GuestSelection {
  std::string guest;  // one vmid, or
  bool all = false;   // all guests of `node` and/or `pool`
  std::string node;
  std::string pool;
};

struct GuestBackupOptions {
  pve::ClientOptions api;
  pve::SshTargets ssh;
  GuestSelection select;
  int jobs = 2;
  std::string dump_storage = "local";
  std::string mode = "snapshot";
  // vzdump's compression: "0" (pvesafe sees the disks and stores only what changed) or
  // zstd|gzip|lzo (pvesafe then decompresses on the way in).
  std::string compress = "0";
  bool keep_archive = false;
  std::chrono::seconds task_timeout{6 * 3600};
};

struct GuestBackupResult {
  pve::GuestInfo guest;
  bool ok = false;
  std::optional<Error> error;
  repo::BackupResult result;
  double vzdump_seconds = 0;
  double transfer_seconds = 0;
  std::string archive;  // path on the node
  bool archive_kept = false;
  store::RequestCounts requests;  // of the transfer into the repository
};

struct GuestBackupReport {
  std::vector<GuestBackupResult> guests;
  int failed() const;
  // The first failure, for the exit status.
  std::optional<Error> first_error() const;
};

// Throws for a selection that cannot run at all (kUsage, kNotFound for an unknown guest or node,
// API and connection errors before any guest started).
GuestBackupReport backup_guests(repo::Repository& repo, const GuestBackupOptions& options,
                                EventLog& log);

}  // namespace pvesafe::jobs
