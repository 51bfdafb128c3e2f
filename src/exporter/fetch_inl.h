// Template implementation for fetch.h.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace pvesafe::exporter {

template <typename T>
bool run_with_deadline(std::function<T()> fn, std::chrono::steady_clock::time_point deadline,
                       T& out, std::string& error, double& seconds) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::optional<T> value;
    std::string error;
  };
  auto st = std::make_shared<State>();
  auto t0 = std::chrono::steady_clock::now();
  std::thread([st, fn = std::move(fn)] {
    std::optional<T> v;
    std::string err;
    try {
      v = fn();
    } catch (const std::exception& e) {
      err = e.what();
    } catch (...) {
      err = "unknown error";
    }
    {
      std::lock_guard lk(st->mu);
      st->value = std::move(v);
      st->error = std::move(err);
      st->done = true;
    }
    st->cv.notify_all();
  }).detach();
  std::unique_lock lk(st->mu);
  bool finished = st->cv.wait_until(lk, deadline, [&] { return st->done; });
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!finished) {
    error = "no answer before the scrape deadline";
    return false;
  }
  if (!st->value) {
    error = st->error;
    for (char& c : error)
      if (c == '\n') c = ' ';
    return false;
  }
  out = std::move(*st->value);
  return true;
}

}  // namespace pvesafe::exporter
