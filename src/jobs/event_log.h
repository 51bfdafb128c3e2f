// The audit trail of the commands: every use case writes its catalog rows (repo/catalog.h)
// through one EventLog, so a backup, a restore, a drill or a whole-site restore is recorded the
// same way: on success the event as filled in, on failure the same event with result "error" and
// the error's one-line message. Usage errors are not recorded (nothing was attempted).
//
// The catalog is opened on first use and kept open; record() may be called from several threads.
// A catalog that cannot be opened or written is logged (spdlog warning), never fatal: the
// operation succeeded or failed on its own, and losing the catalog loses history, not data.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "core/error.h"
#include "repo/catalog.h"

namespace pvesafe::jobs {

class EventLog {
 public:
  // An empty path records nothing (dry runs, tests).
  explicit EventLog(std::string catalog_path);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Returns the row id, or 0 when nothing was recorded.
  int64_t record(const repo::CatalogEvent& event);
  int64_t record_failure(repo::CatalogEvent event, const Error& error);

  // Runs fn(event) (which fills in the event as it goes) and records the event: as it is when fn
  // returns, as a failure when fn throws pvesafe::Error, which is then rethrown. Returns fn's
  // result.
  template <class F>
  auto recorded(repo::CatalogEvent event, F&& fn) -> decltype(fn(event)) {
    try {
      if constexpr (std::is_void_v<decltype(fn(event))>) {
        fn(event);
        record(event);
      } else {
        auto r = fn(event);
        record(event);
        return r;
      }
    } catch (const Error& e) {
      record_failure(std::move(event), e);
      throw;
    }
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex mu_;
  std::unique_ptr<repo::Catalog> catalog_;
  bool failed_ = false;
};

}  // namespace pvesafe::jobs
