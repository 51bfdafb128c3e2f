// WorkerPool: a fixed set of threads running submitted tasks, fed by a bounded queue so a
// flood of requests waits for a free place (back-pressure on the connection that sent them)
// instead of growing memory. Tasks must not throw. close_and_join() runs what is queued, then
// stops the threads; submit() after it returns false.
#pragma once

#include <functional>
#include <thread>
#include <vector>

#include "core/bounded_queue.h"

namespace pvesafe::nbd {

class WorkerPool {
 public:
  WorkerPool(int threads, size_t queue_capacity) : queue_(queue_capacity) {
    if (threads < 1) threads = 1;
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        while (auto task = queue_.pop()) (*task)();
      });
    }
  }
  ~WorkerPool() { close_and_join(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  bool submit(std::function<void()> task) { return queue_.push(std::move(task)); }

  void close_and_join() {
    queue_.close();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
  }

 private:
  BoundedQueue<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
};

}  // namespace pvesafe::nbd
