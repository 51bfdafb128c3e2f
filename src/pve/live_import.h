// The create request of Proxmox VE's live import (qemu-server 8.2 and later): a guest config
// from a backup turned into the form fields of POST /nodes/{node}/qemu that create a new guest
// whose disks are imported from image files while it already runs:
//
//   scsi0: local-lvm:vm-100-disk-0,discard=on,size=32G
//     -> scsi0 =
//     local-lvm:0,import-from=/run/pvesafe/instant/9001/<snap>/drive-scsi0.raw,discard=on
//   live-restore = 1
//
// Disks keep their options (not the volume and its size: the import allocates a new volume of
// the image's size); CD-ROMs become empty drives; network devices get new MAC addresses (the
// model alone) and, for a drill, link_down=1 so the copy cannot clash with the original;
// onboot, HA-related keys, snapshots, pending changes, unused volumes and the config's identity
// (vmgenid, meta, digest, lock, parent) are left out. A disk the backup does not hold (backup=0)
// is left out, with a note. Pure text processing; no API call.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pvesafe::pve {

struct LiveImportRequest {
  std::map<std::string, std::string> form;  // the POST fields (vmid not included)
  std::vector<std::string> imported;        // disk keys imported (scsi0, efidisk0, ...)
  std::vector<std::string> notes;           // what was left out and why
};

// image_path(key) gives the image of disk `key` (scsi0), or nothing when the backup lacks it.
// storage: where the new volumes go; empty: each disk's own storage from the config.
LiveImportRequest live_import_request(
    const std::string& qemu_server_conf,
    const std::function<std::optional<std::string>(const std::string&)>& image_path,
    const std::string& storage, bool isolate_network);

// True for the config keys of disks (scsi0, virtio1, sata2, ide3, efidisk0, tpmstate0).
bool is_disk_key(const std::string& key);

}  // namespace pvesafe::pve
