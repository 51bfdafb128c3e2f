#include "repo/lock.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/json_number.h"

namespace pvesafe::repo {

namespace {
std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

const char* kind_name(LockKind k) { return k == LockKind::kExclusive ? "exclusive" : "shared"; }

long env_seconds(const char* name, long dflt) {
  const char* v = std::getenv(name);
  if (!v || !*v) return dflt;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  return (end && *end == 0 && n > 0) ? n : dflt;
}

bool conflicts(LockKind want, LockKind have) {
  return want == LockKind::kExclusive || have == LockKind::kExclusive;
}

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

// Field 22 of /proc/PID/stat: start time in clock ticks since boot (after the command name,
// which may hold spaces and parentheses, so counted from the last ')').
std::string start_time(const std::string& pid) {
  std::string stat = read_line("/proc/" + pid + "/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && in >> field; ++i) {
    if (i == 22) return field;
  }
  return "";
}

// "<boot id>/<pid namespace inode>/" of this process: equal prefixes mean the same kernel run and
// the same pid numbering, so a pid names the same process.
std::string machine_prefix() {
  static const std::string prefix = [] {
    std::string boot = read_line("/proc/sys/kernel/random/boot_id");
    char ns[64] = {};
    ssize_t n = ::readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
    if (boot.empty() || n <= 0) return std::string();
    std::string nss(ns, static_cast<size_t>(n));  // "pid:[4026531836]"
    size_t a = nss.find('['), b = nss.find(']');
    if (a == std::string::npos || b == std::string::npos) return std::string();
    return boot + "/" + nss.substr(a + 1, b - a - 1) + "/";
  }();
  return prefix;
}

std::string new_owner_id() { return random_hex(16); }
}  // namespace

std::chrono::milliseconds LockTiming::poll_interval() const {
  auto p = std::chrono::duration_cast<std::chrono::milliseconds>(stale_after) / 20;
  return std::clamp(p, std::chrono::milliseconds(1000), std::chrono::milliseconds(10000));
}

LockTiming lock_timing_from_env() {
  LockTiming t;
  t.refresh_interval = std::chrono::seconds(env_seconds("PVESAFE_LOCK_REFRESH_SECONDS", 60));
  t.stale_after = std::chrono::seconds(env_seconds("PVESAFE_LOCK_STALE_SECONDS", 600));
  t.refresh_interval =
      std::max(std::chrono::seconds(1), std::min(t.refresh_interval, t.stale_after / 4));
  return t;
}

std::string this_process_identity() {
  std::string prefix = machine_prefix();
  if (prefix.empty()) return "";
  std::string pid = std::to_string(getpid());
  std::string start = start_time(pid);
  return start.empty() ? "" : prefix + pid + "/" + start;
}

std::optional<bool> process_identity_running(const std::string& process) {
  std::string prefix = machine_prefix();
  if (prefix.empty() || process.rfind(prefix, 0) != 0) return std::nullopt;
  std::string rest = process.substr(prefix.size());  // "<pid>/<start time>"
  size_t slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) return std::nullopt;
  std::string pid = rest.substr(0, slash);
  if (!std::all_of(pid.begin(), pid.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  // Gone, or its pid reused by a process that started at another time.
  return start_time(pid) == rest.substr(slash + 1);
}

const LockHost& LockHost::local() {
  static const LockHost host = [] {
    LockHost h;
    h.owner = new_owner_id();
    h.process = this_process_identity();
    h.hostname = host_name();
    h.wall_clock = [] { return std::chrono::system_clock::now(); };
    h.monotonic = [] { return std::chrono::steady_clock::now(); };
    h.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    h.process_running = process_identity_running;
    return h;
  }();
  return host;
}

std::string describe_lock(const LockInfo& l) {
  if (l.unreadable) return "unreadable lock " + l.id.substr(0, 8);
  return std::string(kind_name(l.kind)) + " lock " + l.id.substr(0, 8) + " held by " +
         (l.command.empty() ? "" : l.command + " ") + "on host " + l.host + " pid " +
         std::to_string(l.pid) + " since " + l.time_utc;
}

std::vector<LockInfo> list_locks(Repository& repo) {
  std::vector<std::string> keys;
  repo.store().list("locks/", [&](const store::ObjectInfo& o) { keys.push_back(o.key); });
  std::vector<LockInfo> out;
  for (const auto& k : keys) {
    LockInfo l;
    l.id = k.substr(6);
    try {
      auto plain = repo.load(k);
      l.content.assign(plain.begin(), plain.end());
      auto j = nlohmann::json::parse(l.content);
      l.owner = j.value("owner", "");
      l.process = j.value("process", "");
      l.seq = j.value("seq", uint64_t{0});
      l.host = j.value("host", "");
      l.pid = j.contains("pid") ? json_integer<int>(j["pid"]).value_or(0) : 0;
      l.time_utc = j.value("time", "");
      l.kind = j.value("kind", "") == "exclusive" ? LockKind::kExclusive : LockKind::kShared;
      l.command = j.value("command", "");
    } catch (const Error& e) {
      if (e.code() == Errc::kNotFound) continue;  // released meanwhile
      // An unreadable lock is treated as exclusive and live: it blocks until `unlock --all`.
      l.kind = LockKind::kExclusive;
      l.unreadable = true;
    } catch (const nlohmann::json::exception&) {
      l.kind = LockKind::kExclusive;
      l.unreadable = true;
    }
    out.push_back(std::move(l));
  }
  return out;
}

namespace {

enum class Liveness { kLive, kStale, kUnknown };

// What one reader has seen of the locks of others, on its own monotonic clock.
class LockWatch {
 public:
  LockWatch(const LockHost& host, LockTiming timing) : host_(host), timing_(timing) {}

  Liveness judge(const LockInfo& l, std::chrono::steady_clock::time_point now, std::string* why) {
    if (l.unreadable) return Liveness::kLive;
    if (!l.owner.empty() && l.owner == host_.owner) return Liveness::kLive;
    if (!l.process.empty() && host_.process_running) {
      if (auto running = host_.process_running(l.process)) {
        if (!*running) *why = "its process on this machine is gone";
        return *running ? Liveness::kLive : Liveness::kStale;
      }
    }
    auto [it, first] = seen_.try_emplace(l.id, Seen{l.content, now, false});
    Seen& s = it->second;
    if (!first && s.content != l.content) s = Seen{l.content, now, true};
    if (now - s.since >= timing_.stale_after) {
      *why = "unchanged for " + std::to_string(timing_.stale_after.count()) + " s";
      return Liveness::kStale;
    }
    return s.changed ? Liveness::kLive : Liveness::kUnknown;
  }

 private:
  struct Seen {
    std::string content;
    std::chrono::steady_clock::time_point since;  // when this content was first seen
    bool changed;                                 // seen to change: its holder refreshes
  };
  const LockHost& host_;
  LockTiming timing_;
  std::map<std::string, Seen> seen_;
};

[[noreturn]] void throw_locked(Repository& repo, const LockInfo& l) {
  throw Error(Errc::kLocked, "repository " + repo.location() + " is locked: " + describe_lock(l),
              "wait for it to finish; if that process is gone, run pvesafe unlock");
}

// Watches the locks `relevant` selects until each is live (then calls on_live, which may throw)
// or stale; returns the stale ones.
std::vector<LockInfo> settle(Repository& repo, LockWatch& watch, const LockHost& host,
                             LockTiming timing,
                             const std::function<bool(const LockInfo&)>& relevant,
                             const std::function<void(const LockInfo&)>& on_live) {
  std::set<std::string> announced;
  for (;;) {
    std::vector<LockInfo> stale;
    const LockInfo* pending = nullptr;
    auto locks = list_locks(repo);
    auto now = host.monotonic();
    for (const auto& l : locks) {
      if (!relevant(l)) continue;
      std::string why;
      switch (watch.judge(l, now, &why)) {
        case Liveness::kLive:
          on_live(l);
          break;
        case Liveness::kStale:
          if (announced.insert(l.id + " stale").second) {
            spdlog::warn("ignoring stale {} ({})", describe_lock(l), why);
          }
          stale.push_back(l);
          break;
        case Liveness::kUnknown:
          pending = &l;
          break;
      }
    }
    if (!pending) return stale;
    if (announced.insert(pending->id + " watch").second) {
      spdlog::warn(
          "{} belongs to another machine or an older pvesafe; watching it for up to {} s to see "
          "whether it is still refreshed",
          describe_lock(*pending), timing.stale_after.count());
    }
    host.sleep(timing.poll_interval());
  }
}

}  // namespace

struct RepositoryLock::Impl {
  Repository* repo = nullptr;
  LockInfo info;
  LockTiming timing;
  const LockHost* host = nullptr;
  LockFencedStore* fence = nullptr;
  std::mutex mu;  // stop, cv
  std::condition_variable cv;
  bool stop = false;
  bool released = false;
  std::thread refresher;

  mutable std::mutex write_mu;                    // seq, writes, last_ok, last_error
  std::chrono::steady_clock::time_point last_ok;  // start of the last successful write
  std::string last_error;
  std::atomic<bool> lost_logged{false};

  // Readers judge a lock stale once it has not changed for stale_after on their clocks, counted
  // from no earlier than the start of its last write; the holder gives up at half that.
  std::chrono::milliseconds lost_after() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(timing.stale_after) / 2;
  }

  void write() {
    nlohmann::ordered_json j;
    j["owner"] = info.owner;
    j["process"] = info.process;
    j["seq"] = ++info.seq;
    j["host"] = info.host;
    j["pid"] = info.pid;
    j["time"] = format_utc(host->wall_clock());
    j["kind"] = kind_name(info.kind);
    j["command"] = info.command;
    std::string text = j.dump(2) + "\n";
    repo->save("locks/" + info.id, std::span<const uint8_t>(
                                       reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }

  bool lost() const {
    std::lock_guard l(write_mu);
    return host->monotonic() - last_ok >= lost_after();
  }

  bool refresh() {
    std::lock_guard l(write_mu);
    auto start = host->monotonic();
    if (start - last_ok >= lost_after()) return false;  // lost: never written again
    try {
      write();
      last_ok = start;
      return true;
    } catch (const std::exception& e) {
      last_error = e.what();
      spdlog::warn("cannot refresh repository lock {}: {}", info.id.substr(0, 8), e.what());
      return false;
    }
  }

  void check() const {
    if (!lost()) return;
    std::string error;
    {
      std::lock_guard l(write_mu);
      error = last_error.empty() ? "no refresh completed" : "last error: " + last_error;
    }
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(lost_after()).count();
    throw Error(Errc::kLocked,
                "lost repository lock " + info.id.substr(0, 8) + " of this " + info.command +
                    ": it could not be refreshed for " + std::to_string(secs) + " s (" + error +
                    "), so other hosts may take the repository over; stopped",
                "check the store's health and run the " + info.command + " again");
  }
};

RepositoryLock::RepositoryLock(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<RepositoryLock> RepositoryLock::acquire(Repository& repo, LockKind kind,
                                                        const std::string& command,
                                                        LockTiming timing, const LockHost& host) {
  LockWatch watch(host, timing);
  auto conflicting = [&](const LockInfo& l) { return conflicts(kind, l.kind); };
  // Until every conflicting lock is known live (fail) or stale, without holding one of our own.
  auto stale = settle(repo, watch, host, timing, conflicting,
                      [&](const LockInfo& l) { throw_locked(repo, l); });

  auto impl = std::make_shared<Impl>();
  impl->repo = &repo;
  impl->timing = timing;
  impl->host = &host;
  impl->info.id = random_hex(16);
  impl->info.owner = host.owner;
  impl->info.process = host.process;
  impl->info.host = host.hostname;
  impl->info.pid = static_cast<int>(getpid());
  impl->info.kind = kind;
  impl->info.command = command;
  impl->last_ok = host.monotonic();
  impl->write();

  // A conflicting lock that is live, changed, or new since we looked: remove ours and fail.
  auto known_stale = [&](const LockInfo& l) {
    return std::any_of(stale.begin(), stale.end(),
                       [&](const LockInfo& s) { return s.id == l.id && s.content == l.content; });
  };
  const auto now = host.monotonic();
  try {
    for (const auto& l : list_locks(repo)) {
      if (l.id == impl->info.id || !conflicting(l)) continue;
      std::string why;
      if (known_stale(l) || watch.judge(l, now, &why) == Liveness::kStale) continue;
      throw_locked(repo, l);
    }
  } catch (...) {
    try {
      repo.store().remove("locks/" + impl->info.id);
    } catch (const std::exception& e) {
      spdlog::warn("cannot remove repository lock {}: {}", impl->info.id, e.what());
    }
    throw;
  }

  std::weak_ptr<Impl> weak = impl;
  impl->fence = dynamic_cast<LockFencedStore*>(&repo.store());
  if (impl->fence) {
    impl->fence->attach(impl->info.id, [weak] {
      if (auto p = weak.lock()) p->check();
    });
  }
  Impl* p = impl.get();
  impl->refresher = std::thread([p] {
    std::unique_lock lock(p->mu);
    while (!p->cv.wait_for(lock, p->timing.refresh_interval, [p] { return p->stop; })) {
      lock.unlock();
      bool ok = p->refresh();
      lock.lock();
      if (!ok && p->lost() && !p->lost_logged.exchange(true)) {
        spdlog::error("repository lock {} is lost: no refresh succeeded for {} ms; stopping",
                      p->info.id.substr(0, 8), p->lost_after().count());
        return;
      }
    }
  });
  return std::unique_ptr<RepositoryLock>(new RepositoryLock(std::move(impl)));
}

void RepositoryLock::release() {
  if (!impl_ || impl_->released) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
    impl_->cv.notify_all();
  }
  if (impl_->refresher.joinable()) impl_->refresher.join();
  impl_->released = true;
  if (impl_->fence) impl_->fence->detach(impl_->info.id);
  try {
    impl_->repo->store().remove("locks/" + impl_->info.id);
  } catch (const std::exception& e) {
    spdlog::warn("cannot remove repository lock {}: {}", impl_->info.id, e.what());
  }
}

RepositoryLock::~RepositoryLock() { release(); }

const std::string& RepositoryLock::id() const { return impl_->info.id; }

bool RepositoryLock::refresh() { return impl_->refresh(); }

void RepositoryLock::check() const { impl_->check(); }

size_t remove_locks(Repository& repo, bool all, LockTiming timing, const LockHost& host) {
  std::vector<LockInfo> doomed;
  if (all) {
    doomed = list_locks(repo);
  } else {
    LockWatch watch(host, timing);
    doomed = settle(
        repo, watch, host, timing, [](const LockInfo&) { return true; }, [](const LockInfo&) {});
  }
  for (const auto& l : doomed) repo.store().remove("locks/" + l.id);
  return doomed.size();
}

LockFencedStore::LockFencedStore(std::unique_ptr<store::ObjectStore> inner)
    : inner_(std::move(inner)) {}

void LockFencedStore::attach(const std::string& id, std::function<void()> check) {
  std::lock_guard l(mu_);
  checks_[id] = std::move(check);
}

void LockFencedStore::detach(const std::string& id) {
  std::lock_guard l(mu_);
  checks_.erase(id);
}

void LockFencedStore::guard(const std::string& key) {
  if (key.rfind("locks/", 0) == 0) return;  // the locks themselves: refresh, release, listing
  std::vector<std::function<void()>> checks;
  {
    std::lock_guard l(mu_);
    for (const auto& [id, c] : checks_) checks.push_back(c);
  }
  for (const auto& c : checks) c();
}

void LockFencedStore::put(const std::string& key, std::span<const uint8_t> data,
                          const store::PutOptions& options) {
  guard(key);
  inner_->put(key, data, options);
}

std::vector<uint8_t> LockFencedStore::get(const std::string& key) {
  guard(key);
  return inner_->get(key);
}

std::vector<uint8_t> LockFencedStore::get_range(const std::string& key, uint64_t offset,
                                                uint64_t length) {
  guard(key);
  return inner_->get_range(key, offset, length);
}

std::optional<store::ObjectInfo> LockFencedStore::stat(const std::string& key) {
  guard(key);
  return inner_->stat(key);
}

void LockFencedStore::list(const std::string& prefix,
                           const std::function<void(const store::ObjectInfo&)>& fn) {
  guard(prefix);
  inner_->list(prefix, fn);
}

void LockFencedStore::remove(const std::string& key) {
  guard(key);
  inner_->remove(key);
}

void LockFencedStore::remove_many(const std::vector<std::string>& keys) {
  for (const auto& k : keys) guard(k);
  inner_->remove_many(keys);
}

void LockFencedStore::prepare_prefixes(const std::vector<std::string>& prefixes) {
  guard("");
  inner_->prepare_prefixes(prefixes);
}

uint64_t LockFencedStore::remove_abandoned(std::chrono::seconds older_than, bool dry_run) {
  guard("");
  return inner_->remove_abandoned(older_than, dry_run);
}

}  // namespace pvesafe::repo
