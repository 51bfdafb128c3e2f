// The vzdump hook on a PVE node (`script:` in /etc/vzdump.conf): in phase backup-end it stores
// the archive vzdump just wrote ($TARGET) in the repository, tagged with this node, the guest,
// its type, the cluster's name and the guest's HA resource, both read from the node's own
// /etc/pve (corosync.conf, ha/resources.cfg) when present. Every other phase (job-start,
// job-end, job-abort, backup-start, backup-abort, log-end, pre-stop, pre-restart, post-restart)
// needs nothing (hook_phase_stores() is false for them). One "backup" row in the catalog.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "jobs/event_log.h"
#include "repo/backup.h"
#include "repo/repository.h"
#include "store/object_store.h"

namespace pvesafe::jobs {

struct VzdumpHookOptions {
  std::string phase;
  std::string mode;  // snapshot | suspend | stop
  std::string vmid;
  std::string target;  // $TARGET
  std::string vmtype;  // $VMTYPE: qemu | lxc | openvz
  std::string node;    // this node's name
  bool remove_archive = false;
  std::string pve_dir = "/etc/pve";  // where ha/resources.cfg and corosync.conf are read
  // The details of the catalog row, from the backup and the store requests it made (the CLI
  // passes its backup summary); "source" and "mode" are added. Unset: only those two.
  std::function<nlohmann::json(const repo::BackupResult&, const store::RequestCounts&)> details;
};

struct VzdumpHookResult {
  repo::BackupResult backup;
  std::string file_name;
  bool archive_removed = false;
  std::string warning;     // e.g. the archive could not be removed
  nlohmann::json details;  // as recorded in the catalog
};

bool hook_phase_stores(const std::string& phase);

// Checks the hook's input first (kUsage: no TARGET, no vmid). The caller holds a shared lock.
VzdumpHookResult run_vzdump_hook(repo::Repository& repo, const VzdumpHookOptions& options,
                                 EventLog& log);

}  // namespace pvesafe::jobs
