// A bounded multi-producer multi-consumer queue: push() blocks while full, pop() blocks while
// empty. close() wakes everyone: pushes are dropped, pops drain what is left then return nullopt.
// This is the back-pressure between pipeline stages: a slow stage fills its input queue and
// stalls the stage before it instead of growing memory. A producer stalled on a full queue
// sleeps until it is half empty, then fills it again: one wake-up per half a queue, not one per
// item, when the producer is the faster stage.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace pvesafe {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity ? capacity : 1) {}

  // Returns false when the queue was closed (the item is dropped).
  bool push(T item) {
    std::unique_lock lock(mu_);
    if (items_.size() >= capacity_)
      not_full_.wait(lock, [&] { return closed_ || items_.size() <= low_water(); });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  std::optional<T> pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    if (items_.size() == low_water()) not_full_.notify_all();
    return item;
  }

  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  // Drops queued items too (on error).
  void abort() {
    std::lock_guard lock(mu_);
    closed_ = true;
    items_.clear();
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  size_t low_water() const { return capacity_ / 2; }

  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<T> items_;
  size_t capacity_;
  bool closed_ = false;
};

}  // namespace pvesafe
