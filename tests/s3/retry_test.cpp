// The retry decorator: what is retried, how often, how long it waits, what it counts.
#include <gtest/gtest.h>

#include <map>

#include "store/object_lock.h"
#include "store/retry_store.h"

using namespace pvesafe;
using namespace pvesafe::store;

namespace {

// Fails the next `failures` calls with `code`, then behaves like a small in-memory store.
class FlakyStore : public ObjectStore {
 public:
  int failures = 0;
  Errc code = Errc::kTransient;
  int calls = 0;
  std::map<std::string, std::vector<uint8_t>> objects;

  void maybe_fail() {
    ++calls;
    if (failures > 0) {
      --failures;
      throw Error(code, "simulated failure " + std::to_string(calls));
    }
  }
  void put(const std::string& k, std::span<const uint8_t> d, const PutOptions&) override {
    maybe_fail();
    objects[k].assign(d.begin(), d.end());
  }
  std::vector<uint8_t> get(const std::string& k) override {
    maybe_fail();
    return objects.at(k);
  }
  std::vector<uint8_t> get_range(const std::string& k, uint64_t, uint64_t) override { return get(k); }
  std::optional<ObjectInfo> stat(const std::string&) override {
    maybe_fail();
    return std::nullopt;
  }
  void list(const std::string&, const std::function<void(const ObjectInfo&)>& fn) override {
    ++calls;
    int n = 0;
    for (const auto& [k, v] : objects) {
      // The first listing breaks down after two keys.
      if (failures > 0 && n == 2) {
        --failures;
        throw Error(Errc::kTransient, "listing broke");
      }
      fn({k, v.size()});
      ++n;
    }
  }
  void remove(const std::string& k) override {
    maybe_fail();
    objects.erase(k);
  }
  std::string location() const override { return "flaky"; }

  // A bucket's Object Lock that fails like the store: the settings a backup asks before its
  // first write, and retention.
  class Lock : public ObjectLock {
   public:
    explicit Lock(FlakyStore& s) : s_(s) {}
    bool enabled() override { return s_.maybe_fail(), true; }
    std::string versioning() override { return s_.maybe_fail(), "Enabled"; }
    std::optional<RetentionRule> rule() override { return s_.maybe_fail(), std::nullopt; }
    std::optional<Retention> retention(const std::string&) override {
      return s_.maybe_fail(), std::nullopt;
    }
    void set_retention(const std::string& k, std::chrono::system_clock::time_point, bool) override {
      s_.maybe_fail();
      held.push_back(k);
    }
    std::vector<Retained> remove_unretained(const std::vector<std::string>&) override {
      return s_.maybe_fail(), std::vector<Retained>{};
    }
    uint64_t retention_requests() const override { return 0; }
    std::vector<std::string> held;

   private:
    FlakyStore& s_;
  };
  Lock lock{*this};
  bool with_lock = false;
  ObjectLock* object_lock() override { return with_lock ? &lock : nullptr; }
};

struct Harness {
  FlakyStore* flaky;
  std::vector<std::chrono::milliseconds> sleeps;
  std::unique_ptr<RetryStore> store;
  Harness() {
    auto f = std::make_unique<FlakyStore>();
    flaky = f.get();
    RetryPolicy p;
    p.max_attempts = 5;
    p.base_delay = std::chrono::milliseconds(100);
    p.max_delay = std::chrono::milliseconds(1000);
    p.sleep = [this](std::chrono::milliseconds d) { sleeps.push_back(d); };
    store = std::make_unique<RetryStore>(std::move(f), p);
  }
};

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

TEST(RetryStore, TransientFailuresAreRetriedAndCounted) {
  Harness h;
  h.flaky->failures = 3;
  uint64_t before = total_retries();
  auto data = bytes("chunk");
  h.store->put("data/x", data);
  EXPECT_EQ(h.flaky->objects.at("data/x"), data);
  EXPECT_EQ(h.flaky->calls, 4);
  EXPECT_EQ(h.store->retries(), 3u);
  EXPECT_EQ(total_retries() - before, 3u);
  ASSERT_EQ(h.sleeps.size(), 3u);
  // Full jitter: each wait is within [0, min(max, base * 2^(n-1))].
  EXPECT_LE(h.sleeps[0].count(), 100);
  EXPECT_LE(h.sleeps[1].count(), 200);
  EXPECT_LE(h.sleeps[2].count(), 400);
}

TEST(RetryStore, PermanentErrorsAreNotRetried) {
  for (Errc code : {Errc::kAuth, Errc::kNotFound, Errc::kConfig, Errc::kRemote, Errc::kIntegrity}) {
    Harness h;
    h.flaky->failures = 1;
    h.flaky->code = code;
    try {
      h.store->get("k");
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code);
    }
    EXPECT_EQ(h.flaky->calls, 1);
    EXPECT_EQ(h.store->retries(), 0u);
    EXPECT_TRUE(h.sleeps.empty());
  }
}

TEST(RetryStore, AttemptsAreBounded) {
  Harness h;
  h.flaky->failures = 1000;
  try {
    h.store->remove("k");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kTransient);
    EXPECT_NE(e.message().find("after 5 attempts"), std::string::npos);
  }
  EXPECT_EQ(h.flaky->calls, 5);
  EXPECT_EQ(h.store->retries(), 4u);
}

TEST(RetryStore, BackoffIsFullJitterUpToTheCap) {
  RetryPolicy p;
  p.base_delay = std::chrono::milliseconds(200);
  p.max_delay = std::chrono::milliseconds(3000);
  std::mt19937_64 rng(42);
  for (int retry = 1; retry <= 10; ++retry) {
    int64_t cap = std::min<int64_t>(3000, 200LL << (retry - 1));
    int64_t lo = cap, hi = 0;
    for (int i = 0; i < 2000; ++i) {
      int64_t d = p.backoff(retry, rng).count();
      ASSERT_GE(d, 0);
      ASSERT_LE(d, cap);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    // Spread over the whole range, not a fixed delay.
    EXPECT_LT(lo, cap / 10);
    EXPECT_GT(hi, cap * 9 / 10);
  }
}

TEST(RetryStore, ListRestartDoesNotRepeatKeys) {
  Harness h;
  for (const char* k : {"a", "b", "c", "d", "e"}) h.flaky->objects[k] = bytes(k);
  h.flaky->failures = 1;
  std::vector<std::string> seen;
  h.store->list("", [&](const ObjectInfo& i) { seen.push_back(i.key); });
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(h.store->retries(), 1u);
}

TEST(RetryStore, ObjectLockRequestsAreRetriedToo) {
  Harness h;
  EXPECT_EQ(h.store->object_lock(), nullptr);  // a store without Object Lock has none to wrap
  Harness l;
  l.flaky->with_lock = true;
  ObjectLock* lock = l.store->object_lock();
  ASSERT_NE(lock, nullptr);
  EXPECT_EQ(l.store->object_lock(), lock);
  l.flaky->failures = 2;
  EXPECT_TRUE(lock->enabled());
  l.flaky->failures = 2;
  EXPECT_EQ(lock->versioning(), "Enabled");
  l.flaky->failures = 1;
  lock->set_retention("packs/ab", std::chrono::system_clock::now(), false);
  EXPECT_EQ(l.flaky->lock.held, std::vector<std::string>{"packs/ab"});
  EXPECT_EQ(l.store->retries(), 5u);
  l.flaky->failures = 5;  // the attempts run out as for any request
  try {
    (void)lock->rule();
    FAIL() << "no error after 5 failures";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("(after 5 attempts)"), std::string::npos) << e.message();
  }
}
