// Object Lock holds (repo/object_hold.h) against a store that keeps retention dates the way S3
// does: set when an object is written, extended but never shortened, per current version. The
// RGW tests (tests/s3/object_lock_rgw.sh) show the same on a real gateway; these pin the rules.
#include "repo/object_hold.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <random>

#include "core/error.h"
#include "core/memory_stream.h"
#include "repo/backup.h"
#include "repo/layout.h"
#include "repo/repository.h"
#include "repo/stream.h"
#include "store/local/local_store.h"

namespace pvesafe::repo {
namespace {

using Clock = std::chrono::system_clock;
using std::chrono::hours;

// A local directory with S3's Object Lock semantics beside it.
class LockingStore : public store::ObjectStore, public store::ObjectLock {
 public:
  explicit LockingStore(const std::string& dir) : inner_(store::make_local_store(dir)) {}

  // ObjectStore: writes take the default retention, like a bucket's rule or s3.retention-days.
  void put(const std::string& key, std::span<const uint8_t> data,
           const store::PutOptions& o) override {
    inner_->put(key, data, o);
    std::lock_guard g(mu_);
    if (o.retain_until) {
      until_[key] = {*o.retain_until, o.compliance_mode};
    } else if (!key.starts_with("locks/") && !key.starts_with("gc/")) {
      until_[key] = {Clock::now() + rule_.period + rule_.margin, rule_.compliance};
    }
  }
  std::vector<uint8_t> get(const std::string& key) override { return inner_->get(key); }
  std::vector<uint8_t> get_range(const std::string& key, uint64_t off, uint64_t n) override {
    return inner_->get_range(key, off, n);
  }
  std::optional<store::ObjectInfo> stat(const std::string& key) override {
    return inner_->stat(key);
  }
  void list(const std::string& prefix,
            const std::function<void(const store::ObjectInfo&)>& fn) override {
    inner_->list(prefix, fn);
  }
  void remove(const std::string& key) override {
    if (retained(key)) throw Error(Errc::kRemote, key + " is retained");
    inner_->remove(key);
  }
  std::string location() const override { return inner_->location(); }
  store::ObjectLock* object_lock() override { return this; }

  // ObjectLock
  bool enabled() override { return enabled_; }
  std::string versioning() override { return enabled_ ? "Enabled" : ""; }
  std::optional<store::RetentionRule> rule() override {
    if (!enabled_) return std::nullopt;
    return rule_;
  }
  std::optional<store::Retention> retention(const std::string& key) override {
    std::lock_guard g(mu_);
    ++requests_;
    if (!inner_->stat(key)) throw Error(Errc::kNotFound, key + " does not exist");
    auto it = until_.find(key);
    if (it == until_.end()) return std::nullopt;
    return it->second;
  }
  void set_retention(const std::string& key, Clock::time_point until, bool compliance) override {
    std::lock_guard g(mu_);
    ++requests_;
    auto& r = until_[key];
    if (until < r.until) throw Error(Errc::kAuth, "S3 refuses to shorten a retention");
    if (r.compliance && !compliance) throw Error(Errc::kAuth, "COMPLIANCE cannot be lowered");
    r = {until, compliance};
    ++extensions;
  }
  std::vector<store::Retained> remove_unretained(const std::vector<std::string>& keys) override {
    std::vector<store::Retained> kept;
    for (const auto& k : keys) {
      if (auto r = retained(k)) {
        kept.push_back({k, r->until});
      } else {
        inner_->remove(k);
      }
    }
    return kept;
  }
  uint64_t retention_requests() const override { return requests_; }

  std::optional<store::Retention> retained(const std::string& key) {
    std::lock_guard g(mu_);
    auto it = until_.find(key);
    if (it == until_.end() || it->second.until <= Clock::now()) return std::nullopt;
    return it->second;
  }
  void set_rule(store::RetentionRule r) { rule_ = r; }
  // Time passes: every date written so far moves back by `d`.
  void age_all(std::chrono::seconds d) {
    std::lock_guard g(mu_);
    for (auto& [k, r] : until_) r.until -= d;
  }
  void set_until(const std::string& key, store::Retention r) {
    std::lock_guard g(mu_);
    until_[key] = r;
  }

  bool enabled_ = true;
  uint64_t extensions = 0;

 private:
  std::unique_ptr<store::ObjectStore> inner_;
  std::mutex mu_;
  std::map<std::string, store::Retention> until_;
  store::RetentionRule rule_{hours(24 * 7), hours(24), false, false};
  uint64_t requests_ = 0;
};

std::string temp_dir() {
  char tmpl[] = "/tmp/pvesafe-hold-test-XXXXXX";
  return mkdtemp(tmpl);
}

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

struct Fixture {
  std::string dir = temp_dir();
  LockingStore* store = nullptr;
  std::optional<Repository> repo;
  explicit Fixture(bool enabled = true) {
    auto s = std::make_unique<LockingStore>(dir);
    s->enabled_ = enabled;
    store = s.get();
    InitOptions io;
    io.chunker = {4096, 16384, 65536};
    repo.emplace(Repository::init(std::move(s), Secret("hold test"), io));
  }
  ~Fixture() {
    repo.reset();
    std::filesystem::remove_all(dir);
  }
  BackupResult backup_bytes(const std::vector<uint8_t>& data, Clock::time_point when) {
    MemorySource src(std::string(data.begin(), data.end()), "disk.raw");
    BackupOptions bo;
    bo.threads = 2;
    bo.time = when;
    return backup(*repo, src, bo);
  }
};

TEST(ObjectHold, NoPlanWithoutObjectLock) {
  Fixture f(false);
  EXPECT_FALSE(hold_plan(*f.repo, Clock::now()).has_value());
}

TEST(ObjectHold, PlanRunsUntilStartPlusPeriod) {
  Fixture f;
  const auto start = Clock::now();
  auto plan = hold_plan(*f.repo, start);
  ASSERT_TRUE(plan.has_value());
  EXPECT_EQ(plan->until, start + hours(24 * 7));
  EXPECT_EQ(plan->rule.margin, hours(24));
}

TEST(ObjectHold, ExtendsOnlyWhatEndsBeforeTheSnapshotsDateAndKeepsCompliance) {
  Fixture f;
  const std::vector<uint8_t> one{1, 2, 3};
  for (const char* k : {"x/short", "x/long", "x/compliance", "x/none"}) f.store->put(k, one, {});
  const auto base = Clock::now();
  HoldPlan plan{{hours(24 * 7), hours(24), false, false}, base + hours(24 * 7)};
  f.store->set_until("x/short", {base + hours(24), false});
  f.store->set_until("x/long", {base + hours(24 * 30), false});
  f.store->set_until("x/compliance", {base + hours(2), true});
  const uint64_t before = f.store->extensions;
  auto r =
      hold_objects(*f.repo, {"x/short", "x/long", "x/compliance", "x/none", "x/gone"}, plan, 3);
  EXPECT_EQ(r.objects, 5u);
  EXPECT_EQ(r.extended, 2u);  // x/none was written with the rule's date, past the plan's
  EXPECT_EQ(f.store->extensions - before, 2u);
  EXPECT_EQ(f.store->retention("x/short")->until, plan.until + plan.rule.margin);
  EXPECT_EQ(f.store->retention("x/long")->until, base + hours(24 * 30));  // never shortened
  EXPECT_TRUE(f.store->retention("x/compliance")->compliance);            // never lowered
  EXPECT_GE(r.requests, 5u + 2u - 1u);  // a look at each existing object, a PUT per extension
}

TEST(ObjectHold, TheTestSwitchSkipsExtension) {
  Fixture f;
  f.store->put("x/short", std::vector<uint8_t>{1}, {});
  f.store->set_until("x/short", {Clock::now(), false});
  setenv("PVESAFE_TEST_NO_RETENTION_EXTENSION", "1", 1);
  auto r =
      hold_objects(*f.repo, {"x/short"}, HoldPlan{{hours(1), hours(1)}, Clock::now() + hours(5)});
  unsetenv("PVESAFE_TEST_NO_RETENTION_EXTENSION");
  EXPECT_TRUE(r.skipped);
  EXPECT_EQ(f.store->extensions, 0u);
}

// Day 1 writes packs retained a week; six days later a backup reusing them needs them for a week
// more. Every object the new snapshot reads must be retained at least to its date. (Retention
// dates count from the real clock, as the gateway's do; six days pass by moving every date
// written so far six days back.)
TEST(ObjectHold, ASecondBackupExtendsEveryReusedPackIndexAndKeyObject) {
  Fixture f;
  auto day1 = random_bytes(3 << 20, 1);
  auto r1 = f.backup_bytes(day1, Clock::now() - hours(24 * 6));
  EXPECT_EQ(r1.hold.extended, 0u);  // nothing reused on day 1
  f.store->age_all(hours(24 * 6));

  auto day6 = day1;
  day6.resize(day1.size() / 2);
  auto fresh = random_bytes(1 << 20, 2);
  day6.insert(day6.end(), fresh.begin(), fresh.end());
  const auto started = Clock::now();
  auto r6 = f.backup_bytes(day6, started);
  EXPECT_GT(r6.reused_chunks, 0u);
  EXPECT_GT(r6.hold.extended, 0u);

  const auto snapshot_until = started + hours(24 * 7);
  std::vector<std::string> needed{std::string(layout::kConfig)};
  for (const char* p : {"packs/", "index/", "keys/"}) {
    f.store->list(p, [&](const store::ObjectInfo& o) { needed.push_back(o.key); });
  }
  for (const auto& k : needed) {
    auto r = f.store->retention(k);
    ASSERT_TRUE(r.has_value()) << k;
    EXPECT_GE(r->until, snapshot_until) << k;
  }
  // A second look finds nothing left to extend: a pack reused daily costs one extension per margin.
  const uint64_t ext = f.store->extensions;
  auto again = f.backup_bytes(day6, started + hours(1));
  EXPECT_GT(again.hold.objects, 0u);
  EXPECT_EQ(again.hold.extended, 0u);
  EXPECT_EQ(f.store->extensions, ext);
}

// The negative control: without the extension the reused day-1 pack ends before the snapshot.
TEST(ObjectHold, WithoutExtensionAReusedPackEndsBeforeTheSnapshot) {
  Fixture f;
  auto day1 = random_bytes(2 << 20, 3);
  f.backup_bytes(day1, Clock::now() - hours(24 * 6));
  f.store->age_all(hours(24 * 6));
  setenv("PVESAFE_TEST_NO_RETENTION_EXTENSION", "1", 1);
  const auto started = Clock::now();
  auto r = f.backup_bytes(day1, started);
  unsetenv("PVESAFE_TEST_NO_RETENTION_EXTENSION");
  EXPECT_TRUE(r.hold.skipped);
  size_t short_packs = 0;
  f.store->list("packs/", [&](const store::ObjectInfo& o) {
    short_packs += f.store->retention(o.key)->until < started + hours(24 * 7) ? 1 : 0;
  });
  EXPECT_GT(short_packs, 0u);
}

}  // namespace
}  // namespace pvesafe::repo
