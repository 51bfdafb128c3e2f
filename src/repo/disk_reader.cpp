#include "repo/disk_reader.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "repo/chunk_reader.h"
#include "repo/restore.h"

namespace pvesafe::repo {

namespace {

struct Entry {
  uint64_t offset;
  uint64_t size;
  ChunkId id;
};

class SnapshotDisk : public BlockSource {
 public:
  SnapshotDisk(Repository& repo, const std::string& id, const std::string& disk, const DiskReaderOptions& o)
      : options_(o), snap_(repo, id) {
    const DiskPart& d = snap_.disk(disk);
    name_ = "snapshot " + id.substr(0, 8) + " disk " + d.name;
    size_ = d.size_bytes;
    for (const auto& c : snap_.disk_chunks(d)) {
      auto cid = ChunkId::parse(c.id);
      if (!cid) throw Error(Errc::kIntegrity, name_ + ": invalid chunk id in its list");
      entries_.push_back({c.offset, c.size_bytes, *cid});
    }
    for (int i = 0; i < std::max(0, o.fetch_threads); ++i) workers_.emplace_back([this] { prefetch_loop(); });
  }

  ~SnapshotDisk() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  uint64_t size() const override { return size_; }
  std::string name() const override { return name_; }
  uint64_t fetched_bytes() const override { return snap_.source().stats().bytes.load(); }

  void read(uint64_t offset, uint8_t* buf, size_t n) override {
    if (offset > size_ || n > size_ - offset) {
      throw Error(Errc::kUsage, "read of " + std::to_string(n) + " bytes at " + std::to_string(offset) +
                                    " is beyond the end of " + name_ + " (" + std::to_string(size_) + " bytes)");
    }
    uint64_t pos = offset;
    const uint64_t end = offset + n;
    size_t i = first_at_or_after(pos);
    size_t last_used = SIZE_MAX;
    while (pos < end) {
      if (i < entries_.size() && entries_[i].offset <= pos) {
        const Entry& e = entries_[i];
        ChunkData d = get(i);
        const uint64_t take = std::min(end, e.offset + e.size) - pos;
        std::memcpy(buf + (pos - offset), d->data() + (pos - e.offset), take);
        pos += take;
        last_used = i;
        ++i;
      } else {
        // Zeros up to the next stored chunk.
        const uint64_t next = i < entries_.size() ? std::min(end, entries_[i].offset) : end;
        std::memset(buf + (pos - offset), 0, next - pos);
        pos = next;
      }
    }
    note_access(offset, end, last_used);
  }

  std::vector<BlockExtent> extents(uint64_t offset, uint64_t n) override {
    std::vector<BlockExtent> out;
    const uint64_t end = std::min(size_, offset + n);
    uint64_t pos = offset;
    size_t i = first_at_or_after(pos);
    auto add = [&](uint64_t len, bool zero) {
      if (len == 0) return;
      if (!out.empty() && out.back().zero == zero) out.back().length += len;
      else out.push_back({pos, len, zero});
      pos += len;
    };
    while (pos < end) {
      if (i < entries_.size() && entries_[i].offset <= pos) {
        add(std::min(end, entries_[i].offset + entries_[i].size) - pos, false);
        ++i;
      } else {
        add((i < entries_.size() ? std::min(end, entries_[i].offset) : end) - pos, true);
      }
    }
    return out;
  }

 private:
  // Index of the first entry whose range ends after pos.
  size_t first_at_or_after(uint64_t pos) const {
    auto it = std::upper_bound(entries_.begin(), entries_.end(), pos,
                               [](uint64_t p, const Entry& e) { return p < e.offset + e.size; });
    return static_cast<size_t>(it - entries_.begin());
  }

  ChunkData get(size_t i) {
    std::unique_lock lock(mu_);
    for (;;) {
      if (auto it = cache_.find(i); it != cache_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second.pos);
        return it->second.data;
      }
      if (!inflight_.count(i)) break;
      cv_.wait(lock);
    }
    inflight_.insert(i);
    lock.unlock();
    ChunkData d;
    try {
      d = std::make_shared<const ByteBuffer>(
          snap_.source().fetch(entries_[i].id, entries_[i].size));
    } catch (...) {
      lock.lock();
      inflight_.erase(i);
      cv_.notify_all();
      throw;
    }
    lock.lock();
    inflight_.erase(i);
    insert(i, d);
    cv_.notify_all();
    return d;
  }

  void insert(size_t i, const ChunkData& d) {
    if (cache_.count(i)) return;
    lru_.push_front(i);
    cache_[i] = {d, lru_.begin()};
    cached_bytes_ += d->size();
    while (cached_bytes_ > options_.cache_bytes && lru_.size() > 1) {
      size_t victim = lru_.back();
      lru_.pop_back();
      cached_bytes_ -= cache_[victim].data->size();
      cache_.erase(victim);
    }
  }

  // A read that starts where the previous one ended is sequential: fetch what follows.
  void note_access(uint64_t begin, uint64_t end, size_t last_used) {
    if (options_.readahead_chunks <= 0 || workers_.empty()) return;
    std::lock_guard lock(mu_);
    const bool sequential = begin == last_end_;
    last_end_ = end;
    if (!sequential) return;
    size_t from = last_used == SIZE_MAX ? first_at_or_after(end) : last_used + 1;
    for (int k = 0; k < options_.readahead_chunks && from + k < entries_.size(); ++k) {
      size_t j = from + static_cast<size_t>(k);
      if (cache_.count(j) || inflight_.count(j) || queued_.count(j)) continue;
      queued_.insert(j);
      prefetch_.push_back(j);
    }
    cv_.notify_all();
  }

  void prefetch_loop() {
    for (;;) {
      size_t i;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !prefetch_.empty(); });
        if (stop_) return;
        i = prefetch_.front();
        prefetch_.pop_front();
        queued_.erase(i);
      }
      try {
        get(i);
      } catch (...) {
        // A failed read-ahead is not an error: the reader fetches again and gets the error then.
      }
    }
  }

  struct Cached {
    ChunkData data;
    std::list<size_t>::iterator pos;
  };

  DiskReaderOptions options_;
  mutable SnapshotReader snap_;
  std::string name_;
  uint64_t size_ = 0;
  std::vector<Entry> entries_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<size_t, Cached> cache_;
  std::list<size_t> lru_;
  uint64_t cached_bytes_ = 0;
  std::unordered_set<size_t> inflight_, queued_;
  std::deque<size_t> prefetch_;
  uint64_t last_end_ = UINT64_MAX;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<BlockSource> open_snapshot_disk(Repository& repo, const std::string& snapshot, const std::string& disk,
                                                const DiskReaderOptions& options, const SnapshotFilter& filter) {
  return std::make_unique<SnapshotDisk>(repo, repo.resolve_snapshot(snapshot, filter), disk, options);
}

}  // namespace pvesafe::repo
