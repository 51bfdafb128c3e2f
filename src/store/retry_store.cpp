#include "store/retry_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <thread>

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

RetryStore::RetryStore(std::unique_ptr<ObjectStore> inner, RetryPolicy policy)
    : inner_(std::move(inner)), policy_(std::move(policy)) {}

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
