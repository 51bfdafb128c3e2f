// RetryStore wraps any ObjectStore and retries calls that failed with Errc::kTransient
// (5xx, 503 SlowDown, timeouts, connection resets, truncated bodies): exponential backoff
// with full jitter, a bounded number of attempts, every retry counted and logged at debug.
// Other categories (auth, config, not-found, 4xx refusals) fail at once: retrying cannot help.
// When the attempts run out, the last error is rethrown with "(after N attempts)".
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "core/error.h"
#include "store/object_store.h"

namespace pvesafe::store {

struct RetryPolicy {
  int max_attempts = 6;                                   // first try included
  std::chrono::milliseconds base_delay{200};              // cap of the first backoff
  std::chrono::milliseconds max_delay{10000};             // cap of any single backoff
  // How to wait; tests replace it to run without sleeping.
  std::function<void(std::chrono::milliseconds)> sleep;

  // Delay before retry number `retry` (1-based): uniform in [0, min(max, base * 2^(retry-1))].
  std::chrono::milliseconds backoff(int retry, std::mt19937_64& rng) const;
  static bool retryable(const Error& e) { return e.code() == Errc::kTransient; }
};

// Process-wide count of retries by every RetryStore and retry_call (for metrics).
uint64_t total_retries();

// Runs fn until it succeeds, fails with a non-retryable error, or the attempts run out.
// `what` names the operation for logs and the final message ("PUT data/ab/ab12").
// Each retry increments *counter (if given) and the process-wide count.
void retry_call(const RetryPolicy& policy, const std::string& what, const std::function<void()>& fn,
                std::atomic<uint64_t>* counter = nullptr);

class RetryStore : public ObjectStore {
 public:
  RetryStore(std::unique_ptr<ObjectStore> inner, RetryPolicy policy = {});
  ~RetryStore() override;

  void put(const std::string& key, std::span<const uint8_t> data,
           const PutOptions& options = {}) override;
  std::vector<uint8_t> get(const std::string& key) override;
  std::vector<uint8_t> get_range(const std::string& key, uint64_t offset, uint64_t length) override;
  std::optional<ObjectInfo> stat(const std::string& key) override;
  void list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  void remove(const std::string& key) override;
  void remove_many(const std::vector<std::string>& keys) override;
  std::string location() const override { return inner_->location(); }
  int preferred_parallelism() const override { return inner_->preferred_parallelism(); }
  uint64_t preferred_range_bytes() const override { return inner_->preferred_range_bytes(); }
  RequestCounts requests() const override { return inner_->requests(); }
  // The inner store's Object Lock, with each request retried like the store's own (a bucket's
  // lock settings are asked for before the first write).
  ObjectLock* object_lock() override;
  uint64_t remove_abandoned(std::chrono::seconds older_than, bool dry_run) override {
    return inner_->remove_abandoned(older_than, dry_run);
  }
  void prepare_prefixes(const std::vector<std::string>& prefixes) override {
    inner_->prepare_prefixes(prefixes);
  }

  uint64_t retries() const { return retries_.load(); }
  ObjectStore& inner() { return *inner_; }

 private:
  class RetryingLock;
  std::unique_ptr<ObjectStore> inner_;
  RetryPolicy policy_;
  std::atomic<uint64_t> retries_{0};
  std::unique_ptr<RetryingLock> lock_;
  std::once_flag lock_once_;
};

}  // namespace pvesafe::store
