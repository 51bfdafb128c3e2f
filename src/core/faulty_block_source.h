// FaultyBlockSource: a BlockSource decorator that misbehaves on purpose, for tests and
// benchmarks of what reads a disk (the NBD server, instant recovery).
//  - fail_range(): reads overlapping a range throw the given category, as a repository chunk
//    that fails authentication would (kIntegrity); other reads pass through untouched.
//  - fail_all() / a flag file: every read throws while armed (the store went away); the flag
//    file lets a test in another process arm and disarm it.
//  - set_latency() / set_bandwidth(): each read waits a fixed latency (in parallel, like
//    concurrent GETs) and all reads share one bandwidth cap, standing in for a remote store.
// extents(), size() and name() pass through; fetched_bytes() counts what the inner source read.
// Thread-safe like any BlockSource.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/block_source.h"
#include "core/error.h"

namespace pvesafe {

class FaultyBlockSource : public BlockSource {
 public:
  explicit FaultyBlockSource(std::shared_ptr<BlockSource> inner);

  void fail_range(uint64_t offset, uint64_t length, Errc code = Errc::kIntegrity);
  void fail_all(Errc code = Errc::kTransient);
  void heal();  // forgets fail_all (ranges stay)
  void set_fail_flag_file(std::string path, Errc code = Errc::kTransient);
  void set_latency(std::chrono::microseconds per_read);
  void set_bandwidth(uint64_t bytes_per_second);  // 0: unlimited

  uint64_t size() const override { return inner_->size(); }
  void read(uint64_t offset, uint8_t* buf, size_t n) override;
  std::vector<BlockExtent> extents(uint64_t offset, uint64_t n) override {
    return inner_->extents(offset, n);
  }
  std::string name() const override { return inner_->name(); }
  uint64_t fetched_bytes() const override { return inner_->fetched_bytes(); }
  uint64_t failed_reads() const { return failed_; }

 private:
  struct Range {
    uint64_t offset, length;
    Errc code;
  };
  void throttle(size_t n);

  std::shared_ptr<BlockSource> inner_;
  mutable std::mutex mu_;
  std::vector<Range> ranges_;
  bool fail_all_ = false;
  Errc fail_all_code_ = Errc::kTransient;
  std::string flag_file_;
  Errc flag_code_ = Errc::kTransient;
  std::chrono::microseconds latency_{0};
  uint64_t bandwidth_ = 0;
  std::chrono::steady_clock::time_point link_free_{};
  std::atomic<uint64_t> failed_{0};
};

}  // namespace pvesafe
