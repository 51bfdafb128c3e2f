// The cluster's own configuration as a snapshot kind: everything a rebuilt cluster needs besides
// its guests' disks.
//
// Backup reads, through the API, the cluster's inventory (status, version, resources, storages,
// HA resources, groups and rules, options, each online node's network, DNS and hosts) as JSON, and
// over SSH /etc/pve from one node (guest configs, storage.cfg, datacenter.cfg, user.cfg, HA,
// firewall, corosync.conf, jobs; the secrets under priv/ included: the snapshot is encrypted like
// every other) and each online node's network, hosts, DNS, apt sources and vzdump.conf. It is
// stored as one tar (archive/tar.h), a stream snapshot named pve-cluster-NAME.tar and tagged
// content=pve-cluster-config, cluster=NAME; its first member, pvesafe-cluster-config.json, says
// what was collected and what could not be. A node that is offline or cannot be read is noted
// there (and the backup reports it) without losing the rest.
//
// Restore reads the snapshot back; extract writes it into a directory (0700, files with their
// modes, priv/ 0600); plan compares it with a running cluster file by file and says what apply
// would do with each file; apply (only when asked) writes those files into the running cluster's
// /etc/pve over SSH, keeping the replaced versions in an undo directory first:
//   merge     storage.cfg (the target's storages stay; the backup's are added unless their id
//             exists or the storage map renames it), user.cfg, priv/token.cfg, priv/shadow.cfg
//             (entries of the backup added or replacing the same key; the target's own kept)
//   replace   datacenter.cfg, domains.cfg, firewall/, jobs.cfg, vzdump.cron, notifications,
//             sdn/, mapping/, priv/storage/ of an added storage, ...
//   skip      what makes the new cluster itself (corosync.conf, keys, certificates, nodes/),
//             guest configs and ha/ (restore --all brings them with the guests), replication
// Node files are shown but never applied: new hardware names its interfaces differently.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "archive/tar.h"
#include "jobs/event_log.h"
#include "pve/client.h"
#include "pve/ssh_targets.h"
#include "repo/backup.h"
#include "repo/repository.h"

namespace pvesafe::jobs {

inline constexpr const char* kClusterConfigContent = "pve-cluster-config";
inline constexpr const char* kClusterConfigSummary = "pvesafe-cluster-config.json";

struct ClusterConfigBackupOptions {
  pve::ClientOptions api;
  pve::SshTargets ssh;
  std::map<std::string, std::string> tags;
};

struct NodeCollection {
  std::string node;
  bool online = false;
  bool collected = false;
  int files = 0;
  std::string error;
};

struct ClusterConfigBackupResult {
  repo::BackupResult backup;
  std::string cluster;
  std::string source_node;  // where /etc/pve was read
  int files = 0;            // regular files in the snapshot
  std::vector<NodeCollection> nodes;
  std::vector<std::string> warnings;  // API views or nodes that could not be read
};

// Throws when /etc/pve cannot be read from any node (nothing is stored then). One "backup" row.
ClusterConfigBackupResult backup_cluster_config(repo::Repository& repo,
                                                const ClusterConfigBackupOptions& options,
                                                EventLog& log);

struct ClusterConfigSnapshot {
  std::string snapshot_id;
  repo::SnapshotInfo info;
  std::vector<archive::TarEntry> entries;
  nlohmann::json summary;  // pvesafe-cluster-config.json
  std::string cluster() const;
  const archive::TarEntry* find(const std::string& path) const;
};

// `snapshot`: an id, a prefix, or "latest" (of `cluster` when given). kNotFound when there is no
// cluster configuration snapshot; kUsage when the snapshot is something else.
ClusterConfigSnapshot load_cluster_config(repo::Repository& repo, const std::string& snapshot,
                                          const std::string& cluster = {});

// Writes the snapshot's files under `dir` (created 0700; an existing non-empty one only with
// force). Returns how many files were written.
int extract_cluster_config(const ClusterConfigSnapshot& snap, const std::string& dir, bool force);

struct FileChange {
  std::string path;  // under /etc/pve ("storage.cfg"), or "NODE:/etc/hosts" for node files
  enum class State { kSame, kChanged, kOnlyInBackup, kOnlyOnCluster } state = State::kSame;
  std::string action;   // replace | merge | skip
  std::string reason;   // why (for skip and merge)
  bool secret = false;  // under priv/: content never shown
  std::string diff;     // unified diff cluster -> result of apply (or backup); empty for secrets
  std::string result;   // what apply writes (replace: the backup's; merge: the merge)
  uint32_t mode = 0640;
};

struct ClusterConfigPlan {
  std::string snapshot_id;
  std::string backup_cluster;
  std::string target_cluster;
  std::string target_node;             // the node whose /etc/pve was read (and apply writes to)
  std::vector<FileChange> files;       // /etc/pve
  std::vector<FileChange> node_files;  // per node, never applied
  int to_apply() const;
};

struct ClusterConfigTarget {
  pve::ClientOptions api;
  pve::SshTargets ssh;
  std::map<std::string, std::string> storage_map;  // old storage -> new
  std::vector<std::string> only;                   // apply only these /etc/pve paths (empty: all)
};

ClusterConfigPlan plan_cluster_config(const ClusterConfigSnapshot& snap,
                                      const ClusterConfigTarget& target);

struct ApplyResult {
  std::vector<std::string> written;  // paths under /etc/pve
  std::string undo_dir;              // the replaced versions, to put back by hand
};

// Needs quorum (pmxcfs is read-only without it). Writes the plan's merge/replace files that
// differ; `undo_dir` (created 0700) receives what they replace.
ApplyResult apply_cluster_config(const ClusterConfigPlan& plan, const ClusterConfigTarget& target,
                                 const std::string& undo_dir);

// The policy for a path under /etc/pve: "replace", "merge" or "skip", with the reason.
std::pair<std::string, std::string> apply_policy(const std::string& path);

// The merges of apply_policy() "merge" files, exposed for their tests.
std::string merge_storage_cfg(const std::string& target, const std::string& backup,
                              const std::map<std::string, std::string>& storage_map,
                              std::vector<std::string>* added);
std::string merge_user_cfg(const std::string& target, const std::string& backup);
// priv/token.cfg ("ID SECRET") and priv/shadow.cfg ("USER:HASH:"): by the first field.
std::string merge_keyed_lines(const std::string& target, const std::string& backup, char sep);

}  // namespace pvesafe::jobs
