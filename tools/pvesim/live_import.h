// Disks created from an image with `import-from`, as qemu-server does on POST
// /nodes/{node}/qemu (PVE 8.2 and later), with or without `live-restore`:
//
//   scsi0=local-lvm:0,import-from=/run/pvesafe/instant/100/drive-scsi0.raw  [live-restore=1]
//
// take_imports() checks and removes the import-from options from the request (the special
// syntax STORAGE:0 is required; an absolute path is for root@pam alone, as PVE's
// check_volume_access says; the file must exist) and returns what to import. run_import() then
// reads the whole image, as qemu-img convert (without live-restore) or the QEMU block-stream job
// of live_import_from_files (with it) does, logging qemu-server's progress lines, and returns the
// disk's size and SHA-256 for the guest's record. efidisk0 and tpmstate0 are never live-imported
// (qemu-server imports them before the guest starts).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "state.h"
#include "tasks.h"

namespace pvesim {

struct Identity;

struct DiskImport {
  std::string key;      // scsi0
  std::string storage;  // local-lvm
  std::string source;   // absolute path of the image
  uint64_t size = 0;    // bytes (the image's size)
  bool live = false;    // streamed while the guest runs
  int vmid = 0;
};

// Rewrites params[key] = "STORAGE:0,import-from=SRC,opts" into "STORAGE:0,opts" for every disk
// that imports; live is set for the disks live-restore streams.
std::vector<DiskImport> take_imports(Sim& sim, const Identity& who, Params& params,
                                     bool live_restore);

// "size=NG|NM|NK" text of a byte count, as PVE writes it into the config.
std::string pve_size(uint64_t bytes);

// Reads the image (4 MiB at a time, at most `bytes_per_second` when > 0), logging progress the
// way qemu-server's block job monitor does for a live import ("restore-scsi0: transferred ...")
// or qemu-img for a plain one. Throws std::runtime_error when the image cannot be read.
RestoredDisk run_import(TaskRun& run, const DiskImport& d, double bytes_per_second);

}  // namespace pvesim
