// Repository locks between simulated hosts: skewed wall clocks, one host name, fake monotonic
// clocks (so watching a lock for ten minutes takes no time), and a holder whose store fails.
#include "repo/lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "store/local/local_store.h"

namespace pvesafe::repo {
namespace {

using namespace std::chrono_literals;

std::string temp_dir() {
  char tmpl[] = "/tmp/pvesafe-lock-test-XXXXXX";
  return mkdtemp(tmpl);
}

// Fails puts under locks/ while `fail` is set, as a store that went away would.
class FlakyLockStore : public store::ObjectStore {
 public:
  explicit FlakyLockStore(std::unique_ptr<store::ObjectStore> inner) : inner_(std::move(inner)) {}
  std::atomic<bool> fail{false};

  void put(const std::string& key, std::span<const uint8_t> data,
           const store::PutOptions& o = {}) override {
    if (fail && key.rfind("locks/", 0) == 0) {
      throw Error(Errc::kTransient, "PUT " + key + ": connection refused (after 6 attempts)");
    }
    inner_->put(key, data, o);
  }
  std::vector<uint8_t> get(const std::string& k) override { return inner_->get(k); }
  std::vector<uint8_t> get_range(const std::string& k, uint64_t o, uint64_t n) override {
    return inner_->get_range(k, o, n);
  }
  std::optional<store::ObjectInfo> stat(const std::string& k) override { return inner_->stat(k); }
  void list(const std::string& p,
            const std::function<void(const store::ObjectInfo&)>& fn) override {
    inner_->list(p, fn);
  }
  void remove(const std::string& k) override { inner_->remove(k); }
  std::string location() const override { return inner_->location(); }

 private:
  std::unique_ptr<store::ObjectStore> inner_;
};

// A simulated host: its own owner id, wall clock offset and monotonic clock; sleeping advances
// the clock and runs `on_sleep` (what the rest of the world does meanwhile).
struct FakeHost {
  std::chrono::steady_clock::time_point now{};  // the monotonic clock
  std::function<void()> on_sleep;
  int sleeps = 0;
  LockHost host;

  FakeHost(const std::string& owner, std::chrono::hours skew) {
    host.owner = owner;
    host.process = "";  // another machine than everyone else's
    host.hostname = "pve";
    host.wall_clock = [skew] { return std::chrono::system_clock::now() + skew; };
    host.monotonic = [this] { return now; };
    host.sleep = [this](std::chrono::milliseconds d) {
      now += d;
      ++sleeps;
      if (on_sleep) on_sleep();
    };
    host.process_running = process_identity_running;
  }
  std::chrono::seconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
  }
};

LockTiming timing() {
  LockTiming t;
  t.refresh_interval = 3600s;  // the refresher thread stays out of the way; tests refresh by hand
  t.stale_after = 600s;
  return t;
}

// One repository seen by two hosts (each through its own store). Made once for all tests (the
// key file's strong S2K is slow); each test starts without locks.
struct TwoHosts {
  std::string dir = temp_dir();
  Secret pass{"pw"};
  Repository a =
      Repository::init(std::make_unique<LockFencedStore>(store::make_local_store(dir)), pass);
  Repository b =
      Repository::open(std::make_unique<LockFencedStore>(store::make_local_store(dir)), pass);
  ~TwoHosts() { std::filesystem::remove_all(dir); }

  static TwoHosts& without_locks() {
    static TwoHosts r;
    std::filesystem::remove_all(r.dir + "/locks");
    return r;
  }

  // A lock as some host's pvesafe writes it.
  void write_lock(const std::string& id, const nlohmann::json& j) {
    std::string text = j.dump(2);
    a.save("locks/" + id, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  }
};

Errc code_of(const std::function<void()>& fn, std::string* what = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (what) *what = e.what();
    return e.code();
  }
  return Errc::kInternal;  // "did not throw" (never a lock outcome)
}

// Host A's clock is three hours behind and its lock is refreshed while B watches: B, three
// hours ahead with the same host name, must see a live lock, not an old one.
TEST(Lock, LiveHolderOnASkewedHostIsNotStale) {
  TwoHosts& r = TwoHosts::without_locks();
  FakeHost a("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -3h), b("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 3h);
  auto held = RepositoryLock::acquire(r.a, LockKind::kExclusive, "gc", timing(), a.host);
  EXPECT_EQ(a.sleeps, 0);
  b.on_sleep = [&] {
    if (b.sleeps % 3 == 0) held->refresh();  // A refreshes every 30 s of B's watching
  };
  std::string what;
  EXPECT_EQ(
      code_of([&] { RepositoryLock::acquire(r.b, LockKind::kShared, "backup", timing(), b.host); },
              &what),
      Errc::kLocked);
  EXPECT_NE(what.find("exclusive lock " + held->id().substr(0, 8) + " held by gc on host pve"),
            std::string::npos)
      << what;
  EXPECT_LE(b.elapsed(), 60s);            // decided as soon as it saw a refresh
  EXPECT_EQ(list_locks(r.b).size(), 1u);  // B left nothing behind
}

// A lock written by a host whose clock runs three hours ahead and that then died: B waits the
// stale timeout on its own clock, not until A's timestamps are in the past, then takes over.
TEST(Lock, AbandonedLockOfASkewedHostGoesStaleOnTheReadersClock) {
  TwoHosts& r = TwoHosts::without_locks();
  FakeHost b("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 0h);
  r.write_lock("0123456789abcdef0123456789abcdef",
               {{"owner", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
                {"process", "00000000-0000-0000-0000-000000000000/4026531836/1234/5678"},
                {"seq", 7},
                {"host", "pve"},
                {"pid", 1234},
                {"time", format_utc(std::chrono::system_clock::now() + 3h)},
                {"kind", "exclusive"},
                {"command", "gc"}});
  auto lock = RepositoryLock::acquire(r.b, LockKind::kShared, "backup", timing(), b.host);
  EXPECT_GE(b.elapsed(), 600s);
  EXPECT_LT(b.elapsed(), 600s + 2 * timing().poll_interval());
  lock->release();
  // unlock watches the same way, then removes it.
  FakeHost c("cccccccccccccccccccccccccccccccc", 0h);
  EXPECT_EQ(remove_locks(r.b, false, timing(), c.host), 1u);
  EXPECT_GE(c.elapsed(), 600s);
  EXPECT_TRUE(list_locks(r.b).empty());
}

// Same host name, a pid that does not exist here, a timestamp long past: none of it matters
// when the lock keeps changing. (Judged by host name and pid, it would be taken as stale.)
TEST(Lock, SameHostNameOnAnotherMachineIsJudgedByChanges) {
  TwoHosts& r = TwoHosts::without_locks();
  FakeHost b("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 0h);
  nlohmann::json j = {{"owner", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
                      {"process", "11111111-1111-1111-1111-111111111111/4026531836/999999/1"},
                      {"seq", 1},
                      {"host", b.host.hostname},
                      {"pid", 999999},
                      {"time", "2020-01-01T00:00:00Z"},
                      {"kind", "exclusive"},
                      {"command", "prune"}};
  const std::string id = "89abcdef0123456789abcdef01234567";
  r.write_lock(id, j);
  b.on_sleep = [&] {
    j["seq"] = j["seq"].get<int>() + 1;
    r.write_lock(id, j);
  };
  EXPECT_EQ(
      code_of([&] { RepositoryLock::acquire(r.b, LockKind::kShared, "backup", timing(), b.host); }),
      Errc::kLocked);
  EXPECT_EQ(b.sleeps, 1);
  // unlock keeps it too.
  FakeHost c("cccccccccccccccccccccccccccccccc", 0h);
  c.on_sleep = b.on_sleep;
  EXPECT_EQ(remove_locks(r.b, false, timing(), c.host), 0u);
  EXPECT_EQ(list_locks(r.b).size(), 1u);
}

// On this machine (same boot and pid namespace), the process identity decides at once: a lock
// of a process that is gone is stale, one of a running process live, whatever the host name.
TEST(Lock, ProcessesOnThisMachineAreCheckedDirectly) {
  TwoHosts& r = TwoHosts::without_locks();
  const std::string me = this_process_identity();
  if (me.empty()) GTEST_SKIP() << "no /proc process identity here";
  EXPECT_EQ(process_identity_running(me), std::optional<bool>(true));
  std::string prefix = me.substr(0, me.rfind('/', me.rfind('/') - 1) + 1);  // "<boot>/<ns>/"
  std::string gone = prefix + std::to_string(getpid()) + "/1";  // our pid, another start time
  EXPECT_EQ(process_identity_running(gone), std::optional<bool>(false));
  EXPECT_EQ(process_identity_running("ffffffff-0000-0000-0000-000000000000/1/1/1"), std::nullopt);

  FakeHost b("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 0h);
  b.host.process_running = process_identity_running;
  nlohmann::json j = {{"owner", "dddddddddddddddddddddddddddddddd"},
                      {"process", gone},
                      {"seq", 1},
                      {"host", "elsewhere"},
                      {"pid", getpid()},
                      {"time", "2020-01-01T00:00:00Z"},
                      {"kind", "exclusive"},
                      {"command", "gc"}};
  r.write_lock("00000000000000000000000000000001", j);
  auto lock = RepositoryLock::acquire(r.b, LockKind::kShared, "backup", timing(), b.host);
  EXPECT_EQ(b.sleeps, 0);
  lock->release();
  j["process"] = me;
  r.write_lock("00000000000000000000000000000001", j);
  EXPECT_EQ(
      code_of([&] { RepositoryLock::acquire(r.b, LockKind::kShared, "backup", timing(), b.host); }),
      Errc::kLocked);
  EXPECT_EQ(b.sleeps, 0);
}

// The holder's refreshes fail (the store is unreachable for locks/). Before half the stale
// timeout the operation goes on; from then on every repository call fails with kLocked saying
// why, so it stops before anyone else may judge the lock stale. Releasing still works.
TEST(Lock, HolderWhoseRefreshesKeepFailingStops) {
  std::string dir = temp_dir();
  Secret pass("pw");
  auto flaky_owned = std::make_unique<FlakyLockStore>(store::make_local_store(dir));
  FlakyLockStore* flaky = flaky_owned.get();
  auto repo = Repository::init(std::make_unique<LockFencedStore>(std::move(flaky_owned)), pass);
  FakeHost a("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0h);
  auto lock = RepositoryLock::acquire(repo, LockKind::kExclusive, "gc", timing(), a.host);
  const std::vector<uint8_t> x{1, 2, 3};
  repo.store().put("data/00/x", x);

  flaky->fail = true;
  a.now += 60s;
  EXPECT_FALSE(lock->refresh());
  a.now += 200s;
  EXPECT_FALSE(lock->refresh());
  EXPECT_NO_THROW(lock->check());  // 260 s: others wait 600 s before judging it stale
  EXPECT_NO_THROW(repo.store().put("data/00/y", x));

  a.now += 40s;  // 300 s without a successful refresh: half the stale timeout
  std::string what;
  EXPECT_EQ(code_of([&] { repo.store().put("data/00/z", x); }, &what), Errc::kLocked);
  EXPECT_NE(what.find("lost repository lock " + lock->id().substr(0, 8) + " of this gc"),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("connection refused"), std::string::npos) << what;
  EXPECT_EQ(code_of([&] { repo.store().get("data/00/x"); }), Errc::kLocked);
  EXPECT_EQ(code_of([&] { repo.store().remove("data/00/x"); }), Errc::kLocked);
  EXPECT_EQ(code_of([&] { lock->check(); }), Errc::kLocked);

  flaky->fail = false;  // the store is back, but the lock stays lost
  EXPECT_FALSE(lock->refresh());
  EXPECT_EQ(code_of([&] { repo.store().stat("data/00/x"); }), Errc::kLocked);
  lock->release();
  EXPECT_TRUE(list_locks(repo).empty());
  EXPECT_TRUE(repo.store().stat("data/00/y"));  // released: the store is usable again
  std::filesystem::remove_all(dir);
}

// A refresh that succeeds in time keeps the lock: the clock of the last success counts.
TEST(Lock, SuccessfulRefreshesKeepTheLock) {
  TwoHosts& r = TwoHosts::without_locks();
  FakeHost a("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0h);
  auto lock = RepositoryLock::acquire(r.a, LockKind::kExclusive, "gc", timing(), a.host);
  for (int i = 0; i < 20; ++i) {
    a.now += 250s;
    ASSERT_TRUE(lock->refresh());
  }
  EXPECT_NO_THROW(lock->check());
  EXPECT_NO_THROW(r.a.store().stat("config"));
  auto locks = list_locks(r.a);
  ASSERT_EQ(locks.size(), 1u);
  EXPECT_EQ(locks[0].seq, 21u);
  EXPECT_EQ(locks[0].owner, a.host.owner);
}

TEST(Lock, TimingFromEnvKeepsRefreshesWellInsideTheStaleTimeout) {
  setenv("PVESAFE_LOCK_REFRESH_SECONDS", "60", 1);
  setenv("PVESAFE_LOCK_STALE_SECONDS", "100", 1);
  auto t = lock_timing_from_env();
  EXPECT_EQ(t.refresh_interval, 25s);
  EXPECT_EQ(t.stale_after, 100s);
  unsetenv("PVESAFE_LOCK_REFRESH_SECONDS");
  unsetenv("PVESAFE_LOCK_STALE_SECONDS");
  t = lock_timing_from_env();
  EXPECT_EQ(t.refresh_interval, 60s);
  EXPECT_EQ(t.stale_after, 600s);
  EXPECT_EQ(t.poll_interval(), 10s);
}

}  // namespace
}  // namespace pvesafe::repo
