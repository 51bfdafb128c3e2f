#include "store/retry_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <thread>

#include "store/object_lock.h"

namespace pvesafe::store {

namespace {
std::atomic<uint64_t> g_total_retries{0};

std::mt19937_64& thread_rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}
}  // namespace

uint64_t total_retries() { return g_total_retries.load(); }

std::chrono::milliseconds RetryPolicy::backoff(int retry, std::mt19937_64& rng) const {
  int64_t cap = base_delay.count();
  for (int i = 1; i < retry && cap < max_delay.count(); ++i) cap *= 2;
  cap = std::min<int64_t>(cap, max_delay.count());
  std::uniform_int_distribution<int64_t> dist(0, std::max<int64_t>(cap, 0));
  return std::chrono::milliseconds(dist(rng));
}

void retry_call(const RetryPolicy& policy, const std::string& what, const std::function<void()>& fn,
                std::atomic<uint64_t>* counter) {
  const int attempts = std::max(1, policy.max_attempts);
  for (int attempt = 1;; ++attempt) {
    try {
      fn();
      return;
    } catch (const Error& e) {
      if (!RetryPolicy::retryable(e)) throw;
      if (attempt >= attempts) {
        throw Error(e.code(), e.message() + " (after " + std::to_string(attempt) + " attempts)",
                    e.hint());
      }
      auto delay = policy.backoff(attempt, thread_rng());
      g_total_retries.fetch_add(1, std::memory_order_relaxed);
      if (counter) counter->fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("retrying {} in {} ms (attempt {}/{} failed: {})", what, delay.count(), attempt,
                    attempts, e.message());
      if (policy.sleep) {
        policy.sleep(delay);
      } else {
        std::this_thread::sleep_for(delay);
      }
    }
  }
}

class RetryStore::RetryingLock : public ObjectLock {
 public:
  RetryingLock(ObjectLock& inner, RetryStore& store) : inner_(inner), store_(store) {}
  bool enabled() override {
    return call<bool>("GET object lock configuration", [&] { return inner_.enabled(); });
  }
  std::string versioning() override {
    return call<std::string>("GET versioning", [&] { return inner_.versioning(); });
  }
  std::optional<RetentionRule> rule() override {
    return call<std::optional<RetentionRule>>("GET object lock rule",
                                              [&] { return inner_.rule(); });
  }
  std::optional<Retention> retention(const std::string& key) override {
    return call<std::optional<Retention>>("GET retention " + key,
                                          [&] { return inner_.retention(key); });
  }
  void set_retention(const std::string& key, std::chrono::system_clock::time_point until,
                     bool compliance) override {
    retry_call(
        store_.policy_, "PUT retention " + key,
        [&] { inner_.set_retention(key, until, compliance); }, &store_.retries_);
  }
  std::vector<Retained> remove_unretained(const std::vector<std::string>& keys) override {
    // Removing a version that is already gone succeeds, so a retry after a partial run is safe.
    return call<std::vector<Retained>>("DELETE " + std::to_string(keys.size()) + " objects",
                                       [&] { return inner_.remove_unretained(keys); });
  }
  uint64_t retention_requests() const override { return inner_.retention_requests(); }

 private:
  template <typename T, typename F>
  T call(const std::string& what, F&& f) {
    std::optional<T> out;
    retry_call(
        store_.policy_, what, [&] { out = f(); }, &store_.retries_);
    return std::move(*out);
  }
  ObjectLock& inner_;
  RetryStore& store_;
};

RetryStore::RetryStore(std::unique_ptr<ObjectStore> inner, RetryPolicy policy)
    : inner_(std::move(inner)), policy_(std::move(policy)) {}

RetryStore::~RetryStore() = default;

ObjectLock* RetryStore::object_lock() {
  std::call_once(lock_once_, [&] {
    if (ObjectLock* l = inner_->object_lock()) lock_ = std::make_unique<RetryingLock>(*l, *this);
  });
  return lock_.get();
}

void RetryStore::put(const std::string& key, std::span<const uint8_t> data,
                     const PutOptions& options) {
  retry_call(policy_, "PUT " + key, [&] { inner_->put(key, data, options); }, &retries_);
}

std::vector<uint8_t> RetryStore::get(const std::string& key) {
  std::vector<uint8_t> out;
  retry_call(policy_, "GET " + key, [&] { out = inner_->get(key); }, &retries_);
  return out;
}

std::vector<uint8_t> RetryStore::get_range(const std::string& key, uint64_t offset,
                                           uint64_t length) {
  std::vector<uint8_t> out;
  retry_call(policy_, "GET " + key + " (range)",
             [&] { out = inner_->get_range(key, offset, length); }, &retries_);
  return out;
}

std::optional<ObjectInfo> RetryStore::stat(const std::string& key) {
  std::optional<ObjectInfo> out;
  retry_call(policy_, "HEAD " + key, [&] { out = inner_->stat(key); }, &retries_);
  return out;
}

void RetryStore::list(const std::string& prefix,
                      const std::function<void(const ObjectInfo&)>& fn) {
  // A failed listing restarts from the beginning; keys already reported are not repeated.
  std::set<std::string> seen;
  retry_call(policy_, "LIST " + prefix,
             [&] {
               inner_->list(prefix, [&](const ObjectInfo& info) {
                 if (seen.insert(info.key).second) fn(info);
               });
             },
             &retries_);
}

void RetryStore::remove(const std::string& key) {
  retry_call(policy_, "DELETE " + key, [&] { inner_->remove(key); }, &retries_);
}

void RetryStore::remove_many(const std::vector<std::string>& keys) {
  retry_call(policy_, "DELETE " + std::to_string(keys.size()) + " objects",
             [&] { inner_->remove_many(keys); }, &retries_);
}

}  // namespace pvesafe::store
