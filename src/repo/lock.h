// Repository locks: objects locks/<id> holding (encrypted) JSON {host, pid, time, kind}.
// Backups take shared locks (many at once); prune and gc take an exclusive one. A lock is
// refreshed (rewritten with a new time) every refresh interval while its holder runs, and is
// stale when its time is older than the stale timeout or when it was taken on this host by a
// process that no longer exists. Stale locks do not block; `pvesafe unlock` removes them.
//
// acquire(): list locks; a live conflicting lock -> kLocked naming its holder. Otherwise write
// ours, list again, and if a conflicting live lock appeared meanwhile, remove ours and fail the
// same way (two racing exclusive lockers may both fail, never both succeed).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "repo/repository.h"

namespace pvesafe::repo {

enum class LockKind { kShared, kExclusive };

struct LockInfo {
  std::string id;
  std::string host;
  int pid = 0;
  std::string time_utc;
  std::chrono::system_clock::time_point time;
  LockKind kind = LockKind::kShared;
  std::string command;  // "backup", "gc", ...
};

struct LockTiming {
  std::chrono::seconds refresh_interval{60};
  std::chrono::seconds stale_after{600};
};

// Defaults, overridable by PVESAFE_LOCK_REFRESH_SECONDS / PVESAFE_LOCK_STALE_SECONDS.
LockTiming lock_timing_from_env();

// Whether `lock` is stale at `now`; pid_alive(pid) is consulted for locks of this_host.
bool lock_is_stale(const LockInfo& lock, std::chrono::system_clock::time_point now,
                   std::chrono::seconds stale_after, const std::string& this_host,
                   const std::function<bool(int)>& pid_alive);
bool process_alive(int pid);

std::vector<LockInfo> list_locks(Repository& repo);

class RepositoryLock {
 public:
  static std::unique_ptr<RepositoryLock> acquire(Repository& repo, LockKind kind,
                                                 const std::string& command,
                                                 LockTiming timing = lock_timing_from_env());
  ~RepositoryLock();  // release()
  RepositoryLock(const RepositoryLock&) = delete;
  RepositoryLock& operator=(const RepositoryLock&) = delete;
  void release();
  const std::string& id() const;

 private:
  struct Impl;
  explicit RepositoryLock(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Removes stale locks (all locks with `all`); returns how many were removed.
size_t remove_locks(Repository& repo, bool all);

std::string describe_lock(const LockInfo& lock);

}  // namespace pvesafe::repo
