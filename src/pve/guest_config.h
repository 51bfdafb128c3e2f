// A guest's config file as PVE writes it (qemu-server/ID.conf, lxc/ID.conf, and the copies inside
// vzdump archives: qemu-server.conf with vzdump's "#qmdump#map:KEY:DRIVE:STORAGE:FORMAT:" lines,
// etc/vzdump/pct.conf): "key: value" lines, a leading "#" comment block (the description), and
// snapshots as "[name]" sections, which are not part of the current config.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace pvesafe::pve {

// The current config's keys (snapshot sections left out).
std::map<std::string, std::string> parse_guest_config(const std::string& text);

struct GuestVolume {
  std::string key;      // scsi0, efidisk0, rootfs, mp0
  std::string storage;  // local-lvm
  std::string volume;   // local-lvm:vm-100-disk-0
};

// The volumes a restore allocates, in the order the archive holds them: for qemu the drives of
// the "#qmdump#map" lines (disks excluded from the backup are not there), for lxc rootfs and the
// mpN volumes (bind and device mounts are not volumes).
std::vector<GuestVolume> restore_volumes(const std::string& type, const std::string& config_text);

}  // namespace pvesafe::pve
