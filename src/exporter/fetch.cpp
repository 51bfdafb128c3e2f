#include "exporter/fetch.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.h"

namespace pvesafe::exporter {

namespace {
struct SharedState {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> paths;
  std::vector<FetchOutcome> results;
  std::vector<bool> done;
  size_t next = 0;
  size_t finished = 0;
  bool abandoned = false;  // the caller returned; remaining work is skipped
};

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s;
}

void worker(std::shared_ptr<SharedState> st, ApiGet get, Convert convert) {
  for (;;) {
    size_t i;
    std::string path;
    {
      std::lock_guard lk(st->mu);
      if (st->abandoned || st->next >= st->paths.size()) return;
      i = st->next++;
      path = st->paths[i];
    }
    FetchOutcome r;
    r.path = path;
    auto t0 = std::chrono::steady_clock::now();
    try {
      r.data = get(path);
      r.ok = true;
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (convert) {
        try {
          convert(i, r.data, r.metrics);
        } catch (const std::exception& e) {
          r.metrics = MetricSet();
          r.convert_error = one_line(e.what());
        } catch (...) {
          r.metrics = MetricSet();
          r.convert_error = "unknown error";
        }
        nlohmann::json().swap(r.data);
      }
    } catch (const pvesafe::Error& e) {
      r.error = one_line(e.message());
      r.error_code = static_cast<int>(e.code());
    } catch (const std::exception& e) {
      r.error = one_line(e.what());
    } catch (...) {
      r.error = "unknown error";
    }
    if (!r.ok)
      r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    {
      std::lock_guard lk(st->mu);
      if (!st->abandoned) {
        st->results[i] = std::move(r);
        st->done[i] = true;
      }
      ++st->finished;
    }
    st->cv.notify_all();
  }
}
}  // namespace

std::vector<FetchOutcome> fetch_all(const ApiGet& get, const std::vector<std::string>& paths,
                                    std::chrono::steady_clock::time_point deadline, int parallel,
                                    Convert convert) {
  if (paths.empty()) return {};
  auto st = std::make_shared<SharedState>();
  st->paths = paths;
  st->results.resize(paths.size());
  st->done.assign(paths.size(), false);
  size_t workers = std::min<size_t>(paths.size(), parallel < 1 ? 1 : parallel);
  auto start = std::chrono::steady_clock::now();
  for (size_t w = 0; w < workers; ++w) {
    std::thread(worker, st, get, convert).detach();
  }
  std::vector<FetchOutcome> out;
  {
    std::unique_lock lk(st->mu);
    st->cv.wait_until(lk, deadline, [&] { return st->finished == st->paths.size(); });
    st->abandoned = true;
    out.resize(paths.size());
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (size_t i = 0; i < paths.size(); ++i) {
      if (st->done[i]) {
        out[i] = std::move(st->results[i]);
      } else {
        out[i].path = paths[i];
        out[i].timed_out = true;
        out[i].error_code = static_cast<int>(Errc::kTransient);
        out[i].error = "no answer before the scrape deadline";
        out[i].seconds = waited;
      }
    }
  }
  return out;
}

}  // namespace pvesafe::exporter
