// ReadTimingStore: a decorator that records when reads (get, get_range) are in flight and how
// many bytes they return, to tell network time from the rest of a restore: a drill's "fetch"
// stage is the time during which at least one read was in flight. Intervals are kept merged
// (reads overlap heavily), so memory stays small however many requests a restore makes.
// Everything else is forwarded unchanged. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "store/object_store.h"

namespace pvesafe::store {

class ReadTimingStore : public ObjectStore {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ReadTimingStore(std::unique_ptr<ObjectStore> inner);

  void put(const std::string& key, std::span<const uint8_t> data,
           const PutOptions& options) override;
  std::vector<uint8_t> get(const std::string& key) override;
  std::vector<uint8_t> get_range(const std::string& key, uint64_t offset, uint64_t length) override;
  std::optional<ObjectInfo> stat(const std::string& key) override;
  void list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  void remove(const std::string& key) override;
  void remove_many(const std::vector<std::string>& keys) override;
  std::string location() const override;
  void prepare_prefixes(const std::vector<std::string>& prefixes) override;
  uint64_t remove_abandoned(std::chrono::seconds older_than, bool dry_run) override;
  int preferred_parallelism() const override;
  uint64_t preferred_range_bytes() const override;
  RequestCounts requests() const override;
  ObjectLock* object_lock() override;

  // Seconds within [from, to) during which at least one read was in flight.
  double busy_seconds(Clock::time_point from, Clock::time_point to) const;
  // Bytes returned by reads so far.
  uint64_t bytes_read() const;

 private:
  void note(Clock::time_point start, size_t bytes);
  std::unique_ptr<ObjectStore> inner_;
  mutable std::mutex mu_;
  std::vector<std::pair<Clock::time_point, Clock::time_point>> busy_;  // sorted, disjoint
  uint64_t bytes_ = 0;
};

}  // namespace pvesafe::store
