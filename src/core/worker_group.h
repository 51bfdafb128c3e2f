// WorkerGroup: threads that run the stages of one pipeline and fail together.
//
// Every stage of a backup, restore or verify runs in a WorkerGroup. The first exception any
// worker throws is kept; it runs the group's abort hooks once (closing the queues between
// stages so every other worker wakes up and leaves) and is rethrown by join(). Later failures
// are consequences of the first and are dropped. The destructor joins (aborting first if join()
// was not called), so a group never outlives the state its workers use.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pvesafe {

class WorkerGroup {
 public:
  WorkerGroup() = default;
  ~WorkerGroup();
  WorkerGroup(const WorkerGroup&) = delete;
  WorkerGroup& operator=(const WorkerGroup&) = delete;

  // Runs fn on `count` new threads. An exception thrown by fn fails the group.
  void spawn(int count, const std::function<void()>& fn);
  void spawn(const std::function<void()>& fn) { spawn(1, fn); }
  // Called once, on the first failure (from the failing thread) or by abort().
  void on_abort(std::function<void()> hook);
  // Records the current exception as a failure (for work done outside the group's threads,
  // e.g. the producer loop on the calling thread). Call from inside a catch block.
  void fail();
  // Stops the pipeline without an error of its own (the caller is about to rethrow one).
  void abort();
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  // Waits for every worker, then rethrows the first failure, if any.
  void join();

 private:
  void run_abort_hooks();

  std::vector<std::thread> threads_;
  std::vector<std::function<void()>> hooks_;
  std::mutex mu_;
  std::exception_ptr failure_;
  std::atomic<bool> failed_{false};
  bool aborted_ = false;
};

}  // namespace pvesafe
