// Where a restore puts a guest's volumes, as qmrestore and pct restore decide it, and moving one
// volume of a guest to another storage (move_disk / move_volume):
//   qemu: every drive of the archive goes to the restore's `storage` when given, else to the
//         storage vzdump recorded for it ("#qmdump#map:KEY:DRIVE:STORAGE:FORMAT:"); that storage
//         must exist on the node ("storage 'X' does not exist") and hold images ("Content type
//         'images' is not available on storage 'X'"); the task fails otherwise.
//   lxc:  every volume goes to `storage`, default "local", which must hold container root
//         directories; the API refuses the request before any task otherwise (400, as PVE does).
// Volumes are named STORAGE:vm-VMID-disk-N in the order of the archive.
#pragma once

#include <string>

#include "state.h"

namespace pvesim {

// The restored config text with its volumes placed; throws std::runtime_error (the task's error).
std::string place_restored_volumes(Sim& sim, const std::string& type, int vmid,
                                   const std::string& node, const std::string& storage,
                                   const std::string& conf);
// The check pct restore makes before its task: 400 with PVE's parameter error.
void check_ct_restore_storage(Sim& sim, const std::string& storage, const std::string& node);
// The check of a storage a volume moves to: 500 "storage 'X' does not exist" or the content error.
void check_volume_storage(Sim& sim, const std::string& storage, const std::string& node,
                          const std::string& type);
// A volume name STORAGE:vm-VMID-disk-N not used by the guest's config yet.
std::string free_volume_name(const Guest& g, const std::string& storage);

}  // namespace pvesim
