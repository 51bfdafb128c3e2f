#include "core/faulty_block_source.h"

#include <sys/stat.h>

#include <algorithm>
#include <thread>

namespace pvesafe {

FaultyBlockSource::FaultyBlockSource(std::shared_ptr<BlockSource> inner)
    : inner_(std::move(inner)) {}

void FaultyBlockSource::fail_range(uint64_t offset, uint64_t length, Errc code) {
  std::lock_guard lock(mu_);
  ranges_.push_back({offset, length, code});
}

void FaultyBlockSource::fail_all(Errc code) {
  std::lock_guard lock(mu_);
  fail_all_ = true;
  fail_all_code_ = code;
}

void FaultyBlockSource::heal() {
  std::lock_guard lock(mu_);
  fail_all_ = false;
}

void FaultyBlockSource::set_fail_flag_file(std::string path, Errc code) {
  std::lock_guard lock(mu_);
  flag_file_ = std::move(path);
  flag_code_ = code;
}

void FaultyBlockSource::set_latency(std::chrono::microseconds per_read) {
  std::lock_guard lock(mu_);
  latency_ = per_read;
}

void FaultyBlockSource::set_bandwidth(uint64_t bytes_per_second) {
  std::lock_guard lock(mu_);
  bandwidth_ = bytes_per_second;
}

void FaultyBlockSource::throttle(size_t n) {
  std::chrono::steady_clock::time_point done;
  std::chrono::microseconds latency;
  {
    std::lock_guard lock(mu_);
    latency = latency_;
    const auto now = std::chrono::steady_clock::now();
    if (bandwidth_ == 0) {
      done = now;
    } else {
      // Reads queue on one link: each one's bytes arrive after those of the reads before it.
      const auto start = std::max(now + latency, link_free_);
      link_free_ = start + std::chrono::microseconds(n * 1000000ull / bandwidth_);
      done = link_free_;
    }
    done = std::max(done, now + latency);
  }
  std::this_thread::sleep_until(done);
}

void FaultyBlockSource::read(uint64_t offset, uint8_t* buf, size_t n) {
  std::optional<Error> fault;
  {
    std::lock_guard lock(mu_);
    struct stat st {};
    if (fail_all_) {
      fault.emplace(fail_all_code_, "injected fault: the source is unavailable (reading " +
                                        std::to_string(n) + " bytes at " + std::to_string(offset) +
                                        ")");
    } else if (!flag_file_.empty() && ::stat(flag_file_.c_str(), &st) == 0) {
      fault.emplace(flag_code_, "injected fault: the source is unavailable while " + flag_file_ +
                                    " exists (reading " + std::to_string(n) + " bytes at " +
                                    std::to_string(offset) + ")");
    } else {
      for (const auto& r : ranges_) {
        if (offset < r.offset + r.length && r.offset < offset + n) {
          fault.emplace(r.code, "injected fault: bytes " + std::to_string(r.offset) + ".." +
                                    std::to_string(r.offset + r.length) + " fail (" +
                                    std::string(errc_name(r.code)) + ")");
          break;
        }
      }
    }
  }
  if (fault) {
    failed_++;
    throw *fault;
  }
  throttle(n);
  inner_->read(offset, buf, n);
}

}  // namespace pvesafe
