// The instant-recovery fire drill on a Proxmox VE node (pvesafe drill --instant): the guest's
// latest snapshot becomes a running scratch guest without a restore first, the way Proxmox VE's
// own live import works (docs/instant-recovery.md, "On a Proxmox VE node"):
//
//  lookup     open the snapshot (a VMA snapshot: a qemu guest), its qemu-server.conf, the node,
//             a free vmid
//  export     the snapshot mounted read-only with FUSE in this process (mount/snapshot_fs.h):
//             each disk a raw file read through the repository's disk reader
//  provision  POST /nodes/{node}/qemu with every disk as STORAGE:0,import-from=<that file> and
//             live-restore=1 (pve/live_import.h): qemu-server allocates the volumes, starts the
//             guest on the files and streams them into the volumes behind it
//  boot       until the guest's status is running
//  health     until its guest agent answers (when configured)
//  RTO = lookup + export + provision + boot + health: the guest serves. The background copy (the
//  import task, from the POST to its end: the guest no longer needs the repository) is measured
//  beside it, with the bytes fetched before healthy and in all. Then the scratch guest is
//  destroyed and the mount removed, whatever happened.
//
// Absolute paths in import-from are accepted from root@pam only (PVE's rule): the PVE client must
// log in as root@pam with a ticket, not an API token, and the mount must be on the node (pvesafe
// runs there). Errors are returned in the result (code and message), not thrown, after cleanup.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "pve/client.h"
#include "repo/repository.h"

namespace pvesafe::jobs {

struct InstantDrillOptions {
  std::string guest_id;
  std::string node;
  std::string storage;       // new volumes; empty: each disk's storage from the config
  std::string run_dir;       // the mount goes to RUN_DIR/<scratch vmid> (created, 0700, removed)
  uint64_t bwlimit_kib = 0;  // of the background copy (PVE's bwlimit); 0: none
  double health_timeout_seconds = 300;
  double task_timeout_seconds = 6 * 3600;
  std::function<void(const std::string& stage)> on_stage;  // "export", "provision", ...
};

struct InstantDrillResult {
  std::string snapshot_id, snapshot_time, file_name, guest_type = "qemu", scratch_vmid, upid;
  std::string mountpoint;
  uint64_t size_bytes = 0;          // the snapshot's archive size
  uint64_t disk_bytes = 0;          // the guest's disks, all together
  uint64_t fetched_at_healthy = 0;  // from the repository before the guest answered
  uint64_t fetched_total = 0;       // by the end of the background copy
  double lookup = 0, export_seconds = 0, provision = 0, boot = 0, health = 0;
  double background_copy = 0;  // POST until the import task ended
  double cleanup = 0;
  double rto() const { return lookup + export_seconds + provision + boot + health; }
  std::vector<std::string> completed;  // stage names done (lookup, export, provision, boot,
                                       // health, copy, cleanup)
  std::vector<std::string> notes;      // disks left out, ...
  std::string health_detail;
  bool copy_ok = false;
  bool cleanup_ok = true;
  std::string error;
  Errc code = Errc::kCheckFailed;
};

InstantDrillResult run_instant_drill(pve::Client& client, repo::Repository& repo,
                                     const InstantDrillOptions& options);

}  // namespace pvesafe::jobs
