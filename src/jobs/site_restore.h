// Whole-site restore: every guest's newest snapshot (or a chosen set) back onto a new or rebuilt
// cluster, the critical guests first, several at once. A site drill (jobs/site_drill.h) runs the
// same plan as scratch copies.
//
// Plan (plan_site_restore), before anything is written to the cluster:
//  - guests: the newest snapshot of each guest in the repository (vzdump archives of qemu and lxc
//    guests; cluster configuration snapshots are not guests), narrowed by source cluster, source
//    node, pool, PVE tag and an explicit list. A guest the list names, or the newest cluster
//    configuration snapshot lists, that has no snapshot is planned as "missing": the others go on;
//  - the target must have quorum; every storage a guest's volumes were on maps (storage_map
//    OLD=NEW, else the same name) to a storage the target has, with the content the guest needs
//    (images for qemu, rootdir for lxc); a map naming a storage the target lacks, or an unmapped
//    storage it lacks, stops the plan naming all of them (kNotFound);
//  - node: node_map OLD=NEW, else the same name when that node is online on the target, else the
//    online node with the fewest guests planned;
//  - vmid: the guest's own; when the target has it already, the conflict policy decides: fail
//    (the plan stops, naming every conflict, kUsage), skip (the guest is not restored), new-id
//    (the next free id), replace (the existing guest, stopped and of the same type, is
//    overwritten on its node);
//  - order: class 0 is every guest HA keeps running (snapshot tag ha.state=started), class 1 the
//    rest; within a class, guests with the critical tag first, then by vmid. A class starts only
//    when the one before is done, so the critical guests have the whole link.
// Run (run_site_plan): `jobs` guests at once (jobs/guest_recovery.h): stream, create (storage=
// and move_disk for the map), HA resource registered as it was, started and health-checked.
// HA groups (PVE 8) of the cluster configuration snapshot are created before the guests, its HA
// rules (PVE 9) after, with vmids and node names mapped; what fails there is a note. One failing
// guest does not stop the others. Each guest is one "restore" row in the catalog, the run one
// "site-restore" row. A scratch plan (drills) gives every guest a fresh vmid, new MACs and no
// network, registers nothing with HA, and leaves the removal of the copies to the caller.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "jobs/event_log.h"
#include "jobs/guest_recovery.h"
#include "pve/section_config.h"

namespace pvesafe::jobs {

struct SiteSelection {
  std::vector<std::string> guests;  // vmids; empty: all
  std::string cluster;              // snapshot tag cluster=
  std::string node;                 // the node a snapshot was taken on
  std::string pool;                 // snapshot tag pool=
  std::string tag;                  // a PVE tag the guest carried (snapshot tag pve_tags)
};

enum class VmidConflict { kFail, kSkip, kNewId, kReplace };
VmidConflict parse_vmid_conflict(const std::string& s);  // kUsage for others
const char* to_string(VmidConflict c);

// "OLD=NEW" items into a map; kUsage naming `flag` for a malformed item.
std::map<std::string, std::string> parse_name_map(const std::vector<std::string>& items,
                                                  const std::string& flag);

struct SiteProgress {
  std::string source_vmid;
  RecoveryProgress guest;
};

struct SitePlan;

struct SiteRestoreOptions {
  pve::ClientOptions api;
  pve::SshTargets ssh;
  SiteSelection select;
  int jobs = 2;
  std::map<std::string, std::string> storage_map;  // old storage -> new
  std::map<std::string, std::string> node_map;     // old node -> new
  std::string node;     // every guest onto this node (drills), else node_map / own / least loaded
  std::string storage;  // every volume onto this storage (drills), else storage_map / own
  VmidConflict on_conflict = VmidConflict::kFail;
  std::string dump_storage = "local";
  bool start = true;
  bool scratch = false;
  std::string critical_tag = "critical";
  bool use_cluster_config = true;  // missing guests, HA groups and rules from the newest one
  std::chrono::seconds task_timeout{6 * 3600};
  std::chrono::seconds health_timeout{300};
  int threads = 0;                                    // repository fetches per guest (0: default)
  std::function<void(const SiteProgress&)> progress;  // called from worker threads
  std::function<void(const SitePlan&)> planned;       // called once the plan is made
  bool dry_run = false;  // plan only: the result holds the plan, nothing is restored or recorded
};

struct SiteGuestPlan {
  std::string source_vmid, type, name, source_node;
  std::string snapshot_id, snapshot_time, file_name;
  uint64_t size_bytes = 0;
  uint64_t disk_bytes = 0;
  std::vector<std::string> storages;  // the target storages its volumes go to
  RecoveryTarget target;              // node, vmid, storage, move_disks, ha, ...
  int priority_class = 1;             // 0: HA keeps it running
  bool critical = false;
  std::string status;  // "" (to restore), "missing", "skipped"
  std::string reason;
};

struct SitePlan {
  std::string target_cluster;
  std::string config_snapshot;          // the cluster configuration snapshot used, if any
  std::vector<SiteGuestPlan> guests;    // in restore order (missing and skipped at the end)
  std::vector<pve::Section> ha_groups;  // to create first (PVE 8)
  std::vector<pve::Section> ha_rules;   // to create last (PVE 9)
  std::vector<std::string> notes;
  int to_restore() const;
};

// Throws for what stops the whole run (no quorum, storages, vmid conflicts under kFail, nothing
// selected); per-guest problems (no snapshot, skipped) are in the plan.
SitePlan plan_site_restore(repo::Repository& repo, const SiteRestoreOptions& options);

struct SiteGuestResult {
  SiteGuestPlan plan;
  std::string status;  // ok | failed | missing | skipped
  RecoveryResult recovery;
  double healthy_after_seconds = 0;  // from the start of the run
};

struct SiteRestoreResult {
  SitePlan plan;
  std::vector<SiteGuestResult> guests;  // in plan order
  int jobs = 1;
  double plan_seconds = 0;
  double rto_seconds = 0;           // start (plan included) to the last guest healthy
  double critical_rto_seconds = 0;  // ... to the last guest of class 0 healthy
  std::vector<std::string> ha_notes;
  int count(const std::string& status) const;
  // The first failure (failed before missing), for the exit status.
  std::optional<Error> first_error() const;
};

// plan_site_restore + run_site_plan, the plan's time counted in the RTO; one "restore" row per
// guest and one "site-restore" row (a plan that fails for usage, or a dry run, records nothing).
SiteRestoreResult restore_site(repo::Repository& repo, store::ReadTimingStore* timing,
                               const SiteRestoreOptions& options, EventLog& log);

// Runs a plan made beforehand (times counted from `started`). `log` may be null (nothing
// recorded: a drill records its own rows).
SiteRestoreResult run_site_plan(repo::Repository& repo, store::ReadTimingStore* timing,
                                const SiteRestoreOptions& options, SitePlan plan,
                                std::chrono::steady_clock::time_point started, EventLog* log);

nlohmann::json to_json(const SitePlan& plan);
nlohmann::json to_json(const SiteRestoreResult& result);

}  // namespace pvesafe::jobs
