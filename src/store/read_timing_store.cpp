#include "store/read_timing_store.h"

#include <algorithm>

namespace pvesafe::store {

ReadTimingStore::ReadTimingStore(std::unique_ptr<ObjectStore> inner) : inner_(std::move(inner)) {}

void ReadTimingStore::put(const std::string& key, std::span<const uint8_t> data,
                          const PutOptions& options) {
  inner_->put(key, data, options);
}

std::vector<uint8_t> ReadTimingStore::get(const std::string& key) {
  auto t0 = Clock::now();
  auto v = inner_->get(key);
  note(t0, v.size());
  return v;
}

std::vector<uint8_t> ReadTimingStore::get_range(const std::string& key, uint64_t offset,
                                                uint64_t length) {
  auto t0 = Clock::now();
  auto v = inner_->get_range(key, offset, length);
  note(t0, v.size());
  return v;
}

std::optional<ObjectInfo> ReadTimingStore::stat(const std::string& key) {
  return inner_->stat(key);
}
void ReadTimingStore::list(const std::string& prefix,
                           const std::function<void(const ObjectInfo&)>& fn) {
  inner_->list(prefix, fn);
}
void ReadTimingStore::remove(const std::string& key) { inner_->remove(key); }
void ReadTimingStore::remove_many(const std::vector<std::string>& keys) {
  inner_->remove_many(keys);
}
std::string ReadTimingStore::location() const { return inner_->location(); }
void ReadTimingStore::prepare_prefixes(const std::vector<std::string>& prefixes) {
  inner_->prepare_prefixes(prefixes);
}
uint64_t ReadTimingStore::remove_abandoned(std::chrono::seconds older_than, bool dry_run) {
  return inner_->remove_abandoned(older_than, dry_run);
}
int ReadTimingStore::preferred_parallelism() const { return inner_->preferred_parallelism(); }
uint64_t ReadTimingStore::preferred_range_bytes() const { return inner_->preferred_range_bytes(); }
RequestCounts ReadTimingStore::requests() const { return inner_->requests(); }
ObjectLock* ReadTimingStore::object_lock() { return inner_->object_lock(); }

void ReadTimingStore::note(Clock::time_point start, size_t bytes) {
  auto end = Clock::now();
  std::lock_guard<std::mutex> lk(mu_);
  bytes_ += bytes;
  // Insert [start, end) keeping the list sorted and disjoint; reads mostly arrive in order, so
  // the search starts from the back.
  auto it = busy_.end();
  while (it != busy_.begin() && std::prev(it)->first > start) --it;
  it = busy_.insert(it, {start, end});
  if (it != busy_.begin() && std::prev(it)->second >= it->first) {
    auto p = std::prev(it);
    p->second = std::max(p->second, it->second);
    it = busy_.erase(it);
    it = std::prev(it);
  }
  auto next = std::next(it);
  while (next != busy_.end() && next->first <= it->second) {
    it->second = std::max(it->second, next->second);
    next = busy_.erase(next);
    it = std::prev(next);
  }
}

double ReadTimingStore::busy_seconds(Clock::time_point from, Clock::time_point to) const {
  std::lock_guard<std::mutex> lk(mu_);
  double s = 0;
  for (const auto& [a, b] : busy_) {
    auto lo = std::max(a, from), hi = std::min(b, to);
    if (hi > lo) s += std::chrono::duration<double>(hi - lo).count();
  }
  return s;
}

uint64_t ReadTimingStore::bytes_read() const {
  std::lock_guard<std::mutex> lk(mu_);
  return bytes_;
}

}  // namespace pvesafe::store
