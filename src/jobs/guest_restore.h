// Guest restore: a snapshot of a vzdump archive back into a guest on a node. The archive streams
// from the repository over SFTP into the dump directory of a staging storage on the node (no local
// copy), then the guest is created from it through the API (qmrestore / pct restore), optionally
// started. Checks before anything is written: the node is online, the snapshot holds a vzdump
// archive, an existing vmid is of the same type, on that node, stopped, and only overwritten with
// `force` (pve/provision.h). A failure after the guest was created removes it again and the
// staged archive; a guest that existed before is never destroyed.
//
// Disks go to `storage` when set (qmrestore's storage=), else where the archive says they were.
// `move_disks` then moves single disks to other storages (POST .../move_disk, delete=1): a storage
// map of a new cluster may send one guest's disks to different storages, which qmrestore's single
// storage= cannot do.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "jobs/event_log.h"
#include "pve/client.h"
#include "pve/ssh_targets.h"
#include "repo/repository.h"

namespace pvesafe::jobs {

struct GuestRestoreOptions {
  std::string snapshot = "latest";                // id, prefix, or "latest" of `guest`
  std::string guest;                              // the guest the snapshot belongs to
  std::string node;                               // where to create it
  std::string new_id;                             // empty: `guest`
  std::string storage;                            // empty: the archive's own storages
  std::map<std::string, std::string> move_disks;  // config key (scsi1) -> storage
  std::string dump_storage = "local";
  bool start = false;
  bool force = false;
  bool keep_archive = false;
  bool unique = false;  // new MAC addresses (a copy beside the original)
  std::chrono::seconds task_timeout{6 * 3600};
  int threads = 0;  // repository fetches (0: default)
};

struct GuestRestoreResult {
  std::string snapshot_id;
  std::string file_name;
  std::string vmid, type, node;
  uint64_t size_bytes = 0;
  uint64_t fetched_bytes = 0;
  store::RequestCounts requests;  // of the transfer out of the repository
  double transfer_seconds = 0;
  double create_seconds = 0;
  double move_seconds = 0;
  double duration_seconds = 0;
  bool started = false;
};

// One "restore" row in the catalog (kind restore), on success and on failure.
GuestRestoreResult restore_guest(repo::Repository& repo, const pve::ClientOptions& api,
                                 const pve::SshTargets& ssh, const GuestRestoreOptions& options,
                                 EventLog& log);

// Moves the disks named in `moves` (config key -> storage) of a stopped guest, waiting for each
// task: POST /nodes/N/qemu/V/move_disk (lxc: move_volume) with delete=1.
void move_guest_disks(pve::Client& client, const std::string& node, const std::string& type,
                      const std::string& vmid, const std::map<std::string, std::string>& moves,
                      std::chrono::seconds timeout);

}  // namespace pvesafe::jobs
