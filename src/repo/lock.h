// Repository locks: objects locks/<id> holding (encrypted) JSON {owner, process, seq, host, pid,
// time, kind, command}. Backups take shared locks (many at once); prune and gc take an exclusive
// one. A holder rewrites its lock (seq + 1) every refresh interval while it runs.
//
// Staleness never compares two machines' clocks and never trusts host names (docs/format.md,
// Locks). A lock is live or stale as its reader can tell for itself:
//  - a lock of this process (same random owner id) is live;
//  - a lock whose process identity (kernel boot id, pid namespace, pid, start time) is on this
//    machine is live while that process runs and stale once it is gone;
//  - any other lock is watched on the reader's monotonic clock: live as soon as it changes, stale
//    once it has not changed for the stale timeout. Unreadable locks are always live.
// Stale locks do not block; `pvesafe unlock` removes them.
//
// acquire(): conflicting locks that are live -> kLocked naming the holder; locks of other
// machines are watched (up to the stale timeout) until each is known live or stale. Then write
// ours, list again, and if a conflicting lock is live or new, remove ours and fail the same way
// (two racing exclusive lockers may both fail, never both succeed).
//
// A holder whose refreshes fail for half the stale timeout has lost its lock (another reader may
// judge it stale from then on): every later call through a LockFencedStore under the repository
// fails with kLocked, so the operation stops instead of carrying on unprotected.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "repo/repository.h"
#include "store/object_store.h"

namespace pvesafe::repo {

enum class LockKind { kShared, kExclusive };

struct LockInfo {
  std::string id;
  std::string owner;     // random per process ("" in locks of pvesafe before owner ids)
  std::string process;   // "<boot id>/<pid namespace>/<pid>/<start time>" or ""
  uint64_t seq = 0;      // refresh count
  std::string host;      // shown to people only
  int pid = 0;           // shown to people only
  std::string time_utc;  // the holder's clock at its last refresh: shown to people only
  LockKind kind = LockKind::kShared;
  std::string command;  // "backup", "gc", ...
  std::string content;  // the decrypted object: any change means its holder is alive
  bool unreadable = false;
};

struct LockTiming {
  std::chrono::seconds refresh_interval{60};
  std::chrono::seconds stale_after{600};
  // Between two looks at a lock being watched.
  std::chrono::milliseconds poll_interval() const;
};

// Defaults, overridable by PVESAFE_LOCK_REFRESH_SECONDS / PVESAFE_LOCK_STALE_SECONDS. The refresh
// interval is capped at a quarter of the stale timeout, so a holder refreshes several times
// before it would count its lock as lost.
LockTiming lock_timing_from_env();

// What locks take from the machine and process they run in. Tests give each simulated host its
// own (skewed clocks, the same host name, a fake monotonic clock).
struct LockHost {
  std::string owner;     // random, drawn once per process
  std::string process;   // this process's identity (see LockInfo::process)
  std::string hostname;  // shown to people only
  std::function<std::chrono::system_clock::time_point()> wall_clock;  // the "time" field only
  std::function<std::chrono::steady_clock::time_point()> monotonic;   // all staleness judgements
  std::function<void(std::chrono::milliseconds)> sleep;               // between looks
  // Whether the process a lock names is running: nullopt when it is not on this machine (other
  // boot or pid namespace) or cannot be told.
  std::function<std::optional<bool>(const std::string& process)> process_running;

  static const LockHost& local();
};

// Identity of this process and whether one named so runs, from /proc (LockHost::local uses them).
std::string this_process_identity();
std::optional<bool> process_identity_running(const std::string& process);

std::vector<LockInfo> list_locks(Repository& repo);

class RepositoryLock {
 public:
  static std::unique_ptr<RepositoryLock> acquire(Repository& repo, LockKind kind,
                                                 const std::string& command,
                                                 LockTiming timing = lock_timing_from_env(),
                                                 const LockHost& host = LockHost::local());
  ~RepositoryLock();  // release()
  RepositoryLock(const RepositoryLock&) = delete;
  RepositoryLock& operator=(const RepositoryLock&) = delete;
  void release();
  const std::string& id() const;

  // Rewrites the lock now (the refresher thread calls it every refresh interval); false when the
  // write failed or the lock is already lost.
  bool refresh();
  // Throws kLocked once no refresh succeeded for half the stale timeout.
  void check() const;

 private:
  struct Impl;
  explicit RepositoryLock(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Removes stale locks (all locks with `all`); returns how many were removed. Locks of other
// machines are watched for up to the stale timeout first.
size_t remove_locks(Repository& repo, bool all, LockTiming timing = lock_timing_from_env(),
                    const LockHost& host = LockHost::local());

std::string describe_lock(const LockInfo& lock);

// The store under a Repository whose operations must stop when a lock they run under is lost:
// before each call (except those on locks/), checks every lock taken through it and rethrows
// the kLocked of a lost one. The CLI opens every repository over one; RepositoryLock::acquire
// finds it as the repository's store.
class LockFencedStore : public store::ObjectStore {
 public:
  explicit LockFencedStore(std::unique_ptr<store::ObjectStore> inner);

  void put(const std::string& key, std::span<const uint8_t> data,
           const store::PutOptions& options = {}) override;
  std::vector<uint8_t> get(const std::string& key) override;
  std::vector<uint8_t> get_range(const std::string& key, uint64_t offset, uint64_t length) override;
  std::optional<store::ObjectInfo> stat(const std::string& key) override;
  void list(const std::string& prefix,
            const std::function<void(const store::ObjectInfo&)>& fn) override;
  void remove(const std::string& key) override;
  void remove_many(const std::vector<std::string>& keys) override;
  std::string location() const override { return inner_->location(); }
  void prepare_prefixes(const std::vector<std::string>& prefixes) override;
  uint64_t remove_abandoned(std::chrono::seconds older_than, bool dry_run) override;
  int preferred_parallelism() const override { return inner_->preferred_parallelism(); }
  uint64_t preferred_range_bytes() const override { return inner_->preferred_range_bytes(); }
  store::RequestCounts requests() const override { return inner_->requests(); }
  store::ObjectLock* object_lock() override { return inner_->object_lock(); }

  // Called by RepositoryLock: `check` throws once the lock `id` is lost.
  void attach(const std::string& id, std::function<void()> check);
  void detach(const std::string& id);

 private:
  void guard(const std::string& key);

  std::unique_ptr<store::ObjectStore> inner_;
  std::mutex mu_;
  std::map<std::string, std::function<void()>> checks_;
};

}  // namespace pvesafe::repo
