// The simulated cluster: nodes, guests, storages, HA, packages, services, tasks and the fault
// switches of the control plane. One mutex (Sim::mu) guards everything; handlers lock it for the
// duration of a request, task threads lock it when they change state.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common.h"

namespace pvesim {

struct Snapshot {
  std::string name, description, parent;
  int64_t snaptime = 0;
  bool vmstate = false;
  std::map<std::string, std::string> config;  // the guest config when it was taken
};

// A disk as the last restore rebuilt it from its archive.
struct RestoredDisk {
  std::string name;  // drive-scsi0
  uint64_t size = 0;
  std::string sha256;
};

struct Guest {
  int vmid = 0;
  std::string type;  // "qemu" or "lxc"
  std::string node, name;
  std::string status = "stopped";  // running | stopped
  uint64_t maxmem = 2ull << 30, maxdisk = 32ull << 30, backup_size = 4ull << 20;
  int cpus = 2;
  bool agent = false, is_template = false;
  std::string tags, lock;
  // qemu disks of a configured or generated guest, KEY:SIZE (efidisk0 and tpmstate0 without a
  // size); empty: scsi0 of maxdisk. Turned into config keys when the cluster is completed.
  std::vector<std::string> disks;
  // Storage of the disks of a generated config (KEY:SIZE:STORAGE in `disks` overrides it).
  std::string storage = "local-lvm";
  int64_t started_at = 0;                     // simulated epoch seconds when it was started
  std::map<std::string, std::string> config;  // the guest config as PVE stores it
  std::vector<Snapshot> snapshots;
  std::string restored_from, restored_sha256;  // archive it was restored from
  int64_t restored_bytes = -1;
  std::vector<RestoredDisk> restored_disks;  // qemu: each disk of that archive
  int64_t restored_entries = -1;             // lxc: tar entries of that archive
  std::string sid() const { return (type == "qemu" ? "vm:" : "ct:") + std::to_string(vmid); }
};

struct Storage {
  std::string id, type, content;  // type: dir, lvmthin, zfspool, nfs, cifs, rbd, cephfs, pbs
  bool shared = false;
  std::vector<std::string> nodes;  // empty = all nodes
  uint64_t total = 1ull << 40;
  std::string path;  // for file based storages; derived from the data dir when empty
  // As storage.cfg configures it (read back from /etc/pve): the path a node shows, and the
  // properties pvesim does not use (thinpool, vgname, server, export, pool, monhost, ...).
  std::string cfg_path;
  std::vector<std::pair<std::string, std::string>> extra;
  bool file_based() const {
    return type == "dir" || type == "nfs" || type == "cifs" || type == "cephfs";
  }
};

struct Service {
  std::string name, desc;
  std::string state = "running";  // running | stopped | failed
  std::string unit_state = "enabled";
};

struct Node {
  std::string name, ip;
  int nodeid = 1;
  bool online = true;
  int cpus = 16;
  uint64_t maxmem = 64ull << 30, maxdisk = 100ull << 30;
  int64_t boot_time = 0;
  std::map<std::string, std::string> packages;  // package -> version
  std::vector<Service> services;
  int64_t cert_notafter = 0;
  uint32_t next_pid = 0x1000;
  std::string ssl_fingerprint;
};

struct HaResource {
  std::string sid, state = "started", group, comment;
  int max_restart = 1, max_relocate = 1;
  bool failback = true;
};

struct HaRule {
  std::string rule, type, resources, nodes, affinity, comment;
  int strict = 0, disable = 0;
};

struct HaGroup {
  std::string group, nodes, comment;
  int restricted = 0, nofailback = 0;
};

// What the HA stack's CRM holds at run time (tools/pvesim/ha_manager.h): the state of each node
// as the manager sees it, the services it is fencing or recovering, and its log.
struct HaNodeStatus {
  std::string state = "online";  // online | unknown | fence
  double last_online = -1;       // monotonic seconds of the last round the node was seen online
  double lock_renewed = -1;      // when its LRM last renewed its agent lock
};

struct HaServiceStatus {
  std::string state;    // fence | recovery | started (recovered, start pending)
  double start_at = 0;  // started: when the LRM of its new node starts it
};

struct HaLogLine {
  int64_t time = 0;                 // simulated epoch seconds
  std::string node, service, text;  // service: pve-ha-crm | pve-ha-lrm
};

struct HaRuntime {
  std::map<std::string, HaNodeStatus> nodes;
  std::map<std::string, HaServiceStatus> services;  // by sid; only those the CRM is handling
  std::deque<HaLogLine> log;                        // newest last, bounded
  double time_scale = 1;  // multiplies every HA timing (--ha-time-scale; tests shorten them)
  double base_scale = 1;  // the value reset() returns to
};

struct BackupJob {
  std::string id, schedule = "01:00", storage = "local", vmid, mode = "snapshot", compress = "zstd";
  bool all = true, enabled = true;
};

struct User {
  std::string password, role;
};

struct Token {
  std::string user, secret, role;
};

struct Task {
  std::string upid, node, type, id, user;
  uint32_t pid = 0;
  uint64_t pstart = 0;
  int64_t starttime = 0, endtime = 0;
  bool running = true;
  std::string exitstatus;  // "OK", "WARNINGS: N" or the error text
  std::vector<std::string> log;
};

// Everything a fault switch of the control plane can change.
struct Faults {
  std::vector<std::pair<std::string, std::string>> fail_next;  // (node or "", type or "") -> error
  std::vector<std::pair<std::string, std::string>> warn_next;  // -> "WARNINGS: 1"
  int slow_ms = 0;
  std::string slow_path;
  std::vector<std::string> malformed_prefixes;
};

// The cluster as read from the config (or generated); reset restores it.
struct ClusterSpec {
  std::string name = "pvesim";
  std::string version = "9.0.3";  // pve-manager version; the major decides HA groups vs rules
  std::vector<Node> nodes;
  std::map<int, Guest> guests;
  std::vector<Storage> storages;
  std::vector<HaResource> ha_resources;
  std::vector<HaRule> ha_rules;
  std::vector<HaGroup> ha_groups;
  std::vector<BackupJob> backup_jobs;
  std::map<std::string, User> users;
  bool ceph = false;
  std::string ceph_health = "HEALTH_OK";
  // datacenter.cfg options set through PUT /cluster/options (property strings as written)
  std::map<std::string, std::string> dc_options;
  double task_seconds = 0.3;  // how long a simulated start/stop/create task runs
};

struct Options {
  std::string data_dir;
  std::string tokens_file;
};

class Pmxcfs;

class Sim {
 public:
  Sim(ClusterSpec spec, Options opts);

  std::mutex mu;
  ClusterSpec initial;
  ClusterSpec c;  // current state
  Options opts;
  std::map<std::string, Token> tokens;  // full token id USER@REALM!NAME -> token
  std::string ticket_secret = random_hex(32);
  Faults faults;
  std::map<std::string, std::shared_ptr<Task>> tasks;  // by UPID
  std::deque<std::shared_ptr<Task>> task_order;        // oldest first
  std::atomic<int64_t> clock_offset{0};                // simulated time = real time + offset
  std::atomic<int> running_workers{0};
  std::atomic<bool> hold_tasks{false};  // control plane: tasks wait before doing their work
  HaRuntime ha;                         // the HA manager's run-time state (ha_manager.h)
  // The cluster file system as files (pmxcfs.h); null when not set up. Called under mu.
  Pmxcfs* pmxcfs = nullptr;

  int64_t now() const;
  int pve_major() const;
  Node* node(const std::string& name);
  Node& online_node(const std::string& name);  // 500 for unknown, 595 for offline
  Guest* guest(int vmid);
  Guest& guest_on(const std::string& node, int vmid, const std::string& type);
  Storage* storage(const std::string& id);
  bool storage_on_node(const Storage& s, const std::string& node) const;
  std::string storage_path(const Storage& s, const std::string& node) const;
  HaResource* ha_resource(const std::string& sid);
  std::string first_online_node();
  bool quorate();
  void reset();
};

// Loads a TOML cluster description (see tools/pvesim/pvesim.example.toml).
ClusterSpec load_config(const std::string& path);
// A generated cluster of n nodes pve-01.. and m guests spread over them.
ClusterSpec generate_cluster(int nodes, int guests, const std::string& version,
                             uint64_t backup_size);
// Fills in defaults every node has: packages for the PVE major, services, certificate dates.
void complete_spec(ClusterSpec& spec);

}  // namespace pvesim
