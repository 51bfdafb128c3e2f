// Re-provisioning a guest from a vzdump archive on a node:
//   1. preflight(): node online, archive type vs. an existing guest (lxc into qemu is refused,
//      kUnsupported), an existing vmid needs --force (kUsage) and must live on the target node;
//   2. upload(): an SFTP sink into the dump directory of the staging storage (PATH.partial,
//      renamed when complete), fed by a restore (any writer of a ByteSink);
//   3. create(): POST /nodes/{node}/qemu (archive=STORAGE:backup/FILE) or /lxc (ostemplate=...,
//      restore=1), wait for the task;
//   4. start(), status(), agent_ping() for drills; destroy() for scratch guests.
// Whatever fails, the destructor removes what this object created: the uploaded archive (unless
// keep_archive) and the guest when it did not exist before.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "pve/client.h"
#include "pve/guest.h"
#include "pve/ssh.h"

namespace pvesafe::pve {

struct RestoreTarget {
  std::string node;
  std::string vmid;
  std::string type;                    // qemu | lxc: the type of the archive
  std::string storage;                 // storage for the guest's disks; empty: PVE's default
  std::string dump_storage = "local";  // where the archive is staged
  std::string dump_dir_template;       // see VzdumpOptions
  bool force = false;                  // overwrite an existing guest with this vmid
  bool keep_archive = false;           // leave the staged archive on the node
  bool unique = false;                 // qemu: new random MAC addresses (scratch copies)
  std::chrono::seconds timeout{6 * 3600};
};

class GuestRestore {
 public:
  // `extension` is the archive's ("vma.zst", "tar.zst"); the staged file is named
  // vzdump-TYPE-VMID-<now>.EXT so PVE recognises its format.
  GuestRestore(Client& client, SshSession& ssh, RestoreTarget target, const std::string& extension);
  ~GuestRestore();
  GuestRestore(const GuestRestore&) = delete;
  GuestRestore& operator=(const GuestRestore&) = delete;

  void preflight();
  ByteSink& upload();   // call once, after preflight()
  TaskStatus create();  // after the sink's finish()
  TaskStatus start();
  // qemu: sets link_down=1 on every network device, so a scratch copy cannot clash with the
  // original on the network. Returns how many devices were changed (lxc: 0, unchanged).
  int isolate_network();
  // GET .../status/current ("running", "stopped"); agent is true when the config enables it.
  nlohmann::json current_status();
  // One POST .../agent/ping; false when the agent does not answer (yet).
  bool agent_ping();
  // Stops (if running) and destroys the guest with purge; only a guest this object created
  // unless `even_if_existed`.
  void destroy();
  // Removes the staged archive (done by the destructor unless keep_archive).
  void remove_archive();
  // Keep the guest: the destructor will not roll back (call after success).
  void commit() { committed_ = true; }

  const RestoreTarget& target() const { return t_; }
  const std::string& archive_path() const { return archive_path_; }
  const std::string& volid() const { return volid_; }
  bool created() const { return created_; }
  std::optional<GuestInfo> existing() const { return existing_; }

 private:
  std::string api_base() const;
  Client& client_;
  SshSession& ssh_;
  RestoreTarget t_;
  std::string extension_;
  std::string archive_path_;
  std::string volid_;
  std::unique_ptr<SftpSink> sink_;
  std::optional<GuestInfo> existing_;
  bool preflight_done_ = false;
  bool uploaded_ = false;
  bool create_started_ = false;
  bool created_ = false;
  bool destroyed_ = false;
  bool committed_ = false;
};

// Stops (if running) and destroys a guest with purge=1 (its HA resource and disks go too),
// waiting for the tasks. A guest that is gone already is not an error; one found on another node
// than `node` is left alone (kInternal: it moved, so it is not the guest meant).
void destroy_guest(Client& client, const std::string& node, const std::string& type,
                   const std::string& vmid);

// "vma.zst" for qemu, "tar.zst" for lxc ... from a vzdump file name; kUnsupported when the
// name is not a vzdump archive.
struct ArchiveKind {
  std::string type;  // qemu | lxc
  std::string vmid;
  std::string extension;  // vma.zst
};
ArchiveKind archive_kind(const std::string& file_name);

}  // namespace pvesafe::pve
