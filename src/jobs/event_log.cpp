#include "jobs/event_log.h"

#include <spdlog/spdlog.h>

namespace pvesafe::jobs {

EventLog::EventLog(std::string catalog_path) : path_(std::move(catalog_path)) {}
EventLog::~EventLog() = default;

int64_t EventLog::record(const repo::CatalogEvent& event) {
  if (path_.empty()) return 0;
  std::lock_guard<std::mutex> lk(mu_);
  try {
    if (!catalog_) {
      if (failed_) return 0;
      catalog_ = std::make_unique<repo::Catalog>(repo::Catalog::open(path_));
    }
    return catalog_->record(event);
  } catch (const std::exception& e) {
    failed_ = catalog_ == nullptr;
    spdlog::warn("could not record the {}{} in the catalog {}: {}", event.kind,
                 event.guest_id.empty() ? "" : " of guest " + event.guest_id, path_, e.what());
    return 0;
  }
}

int64_t EventLog::record_failure(repo::CatalogEvent event, const Error& error) {
  if (error.code() == Errc::kUsage) return 0;
  event.result = "error";
  event.error = error.what();
  return record(event);
}

}  // namespace pvesafe::jobs
