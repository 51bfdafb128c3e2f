#include "core/worker_group.h"

namespace pvesafe {

WorkerGroup::~WorkerGroup() {
  bool running = false;
  for (auto& t : threads_) running = running || t.joinable();
  if (running) {
    abort();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
}

void WorkerGroup::spawn(int count, const std::function<void()>& fn) {
  for (int i = 0; i < count; ++i) {
    threads_.emplace_back([this, fn] {
      try {
        fn();
      } catch (...) {
        fail();
      }
    });
  }
}

void WorkerGroup::on_abort(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  hooks_.push_back(std::move(hook));
}

void WorkerGroup::fail() {
  {
    std::lock_guard lock(mu_);
    if (!failure_) failure_ = std::current_exception();
  }
  failed_ = true;
  run_abort_hooks();
}

void WorkerGroup::abort() { run_abort_hooks(); }

void WorkerGroup::run_abort_hooks() {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(mu_);
    if (aborted_) return;
    aborted_ = true;
    hooks = hooks_;
  }
  for (auto& h : hooks) h();
}

void WorkerGroup::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  std::exception_ptr f;
  {
    std::lock_guard lock(mu_);
    f = failure_;
  }
  if (f) std::rethrow_exception(f);
}

}  // namespace pvesafe
