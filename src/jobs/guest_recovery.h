// One guest brought back from its snapshot onto a cluster, stage by stage, timed: the common core
// of a drill (one guest as a scratch copy), a site drill (a set of scratch copies) and a site
// restore (every guest, for real).
//
// Stages (pve/drill.h defines them for drills): lookup (the snapshot's manifest, the target's
// checks, a free archive name on the node), fetch and decrypt/verify (the snapshot streamed from
// the repository into the node's dump directory over SFTP; fetch is the time at least one
// repository read was in flight, measured by a store::ReadTimingStore under the repository),
// provision (the guest created from the archive, disks moved to their storages, the network of a
// scratch copy cut, the HA resource registered), boot (start until status running), health (guest
// agent ping when the config enables the agent, else running counts). Cleanup is done by the
// caller, later (a site keeps every scratch copy until the last one is healthy).
//
// Whatever fails, what this call created is removed again (the staged archive, a guest that did
// not exist before); the result then carries the error and the stages completed. A scratch copy
// gets new MAC addresses and, for VMs, every network link down, so it cannot clash with the
// original; scratch copies are never registered with HA.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "pve/client.h"
#include "pve/drill.h"
#include "pve/guest.h"
#include "pve/ha.h"
#include "pve/ssh_targets.h"
#include "repo/repository.h"
#include "store/read_timing_store.h"

namespace pvesafe::jobs {

struct RecoveryTarget {
  std::string node;
  std::string vmid;     // the guest id on the target cluster
  std::string storage;  // qmrestore's / pct restore's storage= (empty: the archive's own)
  std::map<std::string, std::string> move_disks;  // config key -> storage, after the create
  std::string dump_storage = "local";
  bool force = false;                 // overwrite an existing, stopped guest with this vmid
  bool scratch = false;               // a drill's copy (see above)
  std::optional<pve::HaResource> ha;  // registered after the create (ignored for scratch)
  bool start = true;  // an HA resource whose state is not "started" is never started
  std::chrono::seconds task_timeout{6 * 3600};
  std::chrono::seconds health_timeout{300};
  int threads = 0;  // repository fetches (0: default)
};

struct RecoveryProgress {
  std::string vmid;   // target vmid
  std::string stage;  // lookup, transfer, provision, boot, health, done, failed
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
};

struct RecoveryResult {
  std::string source_vmid, vmid, type, node;
  std::string snapshot_id, snapshot_time, file_name;
  uint64_t size_bytes = 0;     // the archive restored
  uint64_t fetched_bytes = 0;  // bytes read from the repository for it
  uint64_t disk_bytes = 0;     // configured size of its disks (from the snapshot)
  pve::DrillStages stages;
  std::vector<std::string> completed;  // stage names done, in order
  std::string health_detail;
  bool ha_registered = false;
  bool started = false;
  bool healthy = false;  // started and healthy, or (not to be started) created
  std::optional<Error> error;
  std::chrono::steady_clock::time_point began, finished;
  double seconds() const { return std::chrono::duration<double>(finished - began).count(); }
};

// What every recovery of one run shares. `timing` is the repository's store (may be null: fetch
// then counts the whole transfer). A Client is not thread-safe: give each worker its own.
struct RecoveryContext {
  repo::Repository& repo;
  store::ReadTimingStore* timing;
  pve::Client& client;
  const pve::SshTargets& ssh;
  const std::vector<pve::NodeInfo>& nodes;
  std::function<void(const RecoveryProgress&)> progress;  // may be empty
};

// Never throws for a failure of the guest (result.error); throws only for bugs.
RecoveryResult recover_guest(RecoveryContext& ctx, const std::string& snapshot_id,
                             const RecoveryTarget& target);

// The configured size of a snapshot's disks: the VMA's devices, else the archive's size.
uint64_t snapshot_disk_bytes(const repo::SnapshotInfo& info);

}  // namespace pvesafe::jobs
