// Retention policy with the semantics of Proxmox Backup Server and vzdump (prune-backups):
// snapshots are grouped (a guest: "qemu/100"; otherwise host + file name); within a group,
// newest first, rules are applied in the order last, hourly, daily, weekly, monthly, yearly.
// keep-last N keeps the N newest. Each period rule keeps the newest snapshot of each of the N
// most recent periods (hour, day, ISO week, month, year, in local time as TZ sets it, like Proxmox
// Backup Server) that has no snapshot kept by an
// earlier rule; a period already covered by a kept snapshot does not count. Everything not kept
// is forgotten. A policy with no rule keeps everything.
#pragma once

#include <string>
#include <vector>

#include "repo/repository.h"

namespace pvesafe::repo {

struct KeepPolicy {
  int last = 0, hourly = 0, daily = 0, weekly = 0, monthly = 0, yearly = 0;
  bool any() const { return last || hourly || daily || weekly || monthly || yearly; }
};

struct RetentionDecision {
  SnapshotInfo snapshot;
  bool keep = false;
  std::string reason;  // "last", "daily", ... or "" when forgotten
};

std::string retention_group(const SnapshotInfo& s);

// Decisions for one group (any order in; newest first out).
std::vector<RetentionDecision> apply_retention(std::vector<SnapshotInfo> group, const KeepPolicy& policy);

// All snapshots: grouped, then apply_retention per group; result sorted by group then newest first.
std::vector<RetentionDecision> apply_retention_grouped(const std::vector<SnapshotInfo>& all,
                                                       const KeepPolicy& policy);

}  // namespace pvesafe::repo
