#include "repo/lock.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
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

std::string lock_json(const LockInfo& l) {
  nlohmann::ordered_json j;
  j["host"] = l.host;
  j["pid"] = l.pid;
  j["time"] = format_utc(std::chrono::system_clock::now());
  j["kind"] = kind_name(l.kind);
  j["command"] = l.command;
  return j.dump(2) + "\n";
}

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
}  // namespace

LockTiming lock_timing_from_env() {
  LockTiming t;
  t.refresh_interval = std::chrono::seconds(env_seconds("PVESAFE_LOCK_REFRESH_SECONDS", 60));
  t.stale_after = std::chrono::seconds(env_seconds("PVESAFE_LOCK_STALE_SECONDS", 600));
  return t;
}

bool process_alive(int pid) {
  if (pid <= 0) return false;
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

bool lock_is_stale(const LockInfo& lock, std::chrono::system_clock::time_point now,
                   std::chrono::seconds stale_after, const std::string& this_host,
                   const std::function<bool(int)>& pid_alive) {
  if (now - lock.time > stale_after) return true;
  if (lock.host == this_host && !pid_alive(lock.pid)) return true;
  return false;
}

std::string describe_lock(const LockInfo& l) {
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
      auto j = nlohmann::json::parse(plain.begin(), plain.end());
      l.host = j.value("host", "");
      l.pid = j.contains("pid") ? json_integer<int>(j["pid"]).value_or(0) : 0;
      l.time_utc = j.value("time", "");
      l.kind = j.value("kind", "") == "exclusive" ? LockKind::kExclusive : LockKind::kShared;
      l.command = j.value("command", "");
      auto t = parse_utc(l.time_utc);
      l.time = t.value_or(std::chrono::system_clock::time_point{});
    } catch (const Error& e) {
      if (e.code() == Errc::kNotFound) continue;  // released meanwhile
      // An unreadable lock is treated as exclusive and old: it blocks until `unlock`.
      l.kind = LockKind::kExclusive;
      l.host = "?";
      l.time_utc = "?";
      l.time = std::chrono::system_clock::now();
    } catch (const nlohmann::json::exception&) {
      l.kind = LockKind::kExclusive;
      l.host = "?";
      l.time_utc = "?";
      l.time = std::chrono::system_clock::now();
    }
    out.push_back(std::move(l));
  }
  return out;
}

struct RepositoryLock::Impl {
  Repository* repo;
  LockInfo info;
  LockTiming timing;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool released = false;
  std::thread refresher;

  void write() {
    std::string text = lock_json(info);
    repo->save("locks/" + info.id, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
};

RepositoryLock::RepositoryLock(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<RepositoryLock> RepositoryLock::acquire(Repository& repo, LockKind kind,
                                                        const std::string& command,
                                                        LockTiming timing) {
  const std::string me = host_name();
  auto check = [&](const std::string& own_id) {
    auto now = std::chrono::system_clock::now();
    for (const auto& l : list_locks(repo)) {
      if (l.id == own_id) continue;
      if (!conflicts(kind, l.kind)) continue;
      if (lock_is_stale(l, now, timing.stale_after, me, process_alive)) {
        spdlog::warn("ignoring stale {}", describe_lock(l));
        continue;
      }
      if (!own_id.empty()) repo.store().remove("locks/" + own_id);
      throw Error(Errc::kLocked, "repository " + repo.location() + " is locked: " + describe_lock(l),
                  "wait for it to finish; if that process is gone, run pvesafe unlock");
    }
  };
  check("");
  auto impl = std::make_unique<Impl>();
  impl->repo = &repo;
  impl->timing = timing;
  impl->info.id = random_hex(16);
  impl->info.host = me;
  impl->info.pid = static_cast<int>(getpid());
  impl->info.kind = kind;
  impl->info.command = command;
  impl->write();
  check(impl->info.id);
  Impl* p = impl.get();
  impl->refresher = std::thread([p] {
    std::unique_lock lock(p->mu);
    while (!p->cv.wait_for(lock, p->timing.refresh_interval, [p] { return p->stop; })) {
      try {
        p->write();
      } catch (const std::exception& e) {
        spdlog::warn("cannot refresh repository lock: {}", e.what());
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
  try {
    impl_->repo->store().remove("locks/" + impl_->info.id);
  } catch (const std::exception& e) {
    spdlog::warn("cannot remove repository lock {}: {}", impl_->info.id, e.what());
  }
}

RepositoryLock::~RepositoryLock() { release(); }

const std::string& RepositoryLock::id() const { return impl_->info.id; }

size_t remove_locks(Repository& repo, bool all) {
  auto timing = lock_timing_from_env();
  auto now = std::chrono::system_clock::now();
  const std::string me = host_name();
  size_t n = 0;
  for (const auto& l : list_locks(repo)) {
    if (all || lock_is_stale(l, now, timing.stale_after, me, process_alive)) {
      repo.store().remove("locks/" + l.id);
      ++n;
    }
  }
  return n;
}

}  // namespace pvesafe::repo
