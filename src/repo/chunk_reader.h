// Reading chunks back: locate (ChunkIndex), fetch (a range of a pack, or a format 1 object),
// decrypt, decompress, authenticate (the HMAC id must match and the size must be the expected
// one). Nothing is returned that failed any check.
//
// ChunkSource fetches one chunk per request (random access: the disk reader, single files).
// OrderedFetch streams a whole list of chunks in order (restore of a stream, a disk, a VMA):
// chunks that lie back to back in one pack are fetched with one range request of up to the
// store's preferred_range_bytes (at most kMaxRangeBytes), several requests run in parallel, and decoded chunks wait for the consumer
// within a bounded window of memory.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/byte_buffer.h"
#include "repo/chunk_id.h"
#include "repo/chunk_index.h"

namespace pvesafe::repo {

class Repository;

using ChunkData = std::shared_ptr<const ByteBuffer>;

struct FetchStats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> bytes{0};  // bytes received from the store
};

class ChunkSource {
 public:
  // `what` names the thing being read in messages ("snapshot 0f1e2d3c").
  ChunkSource(Repository& repo, const ChunkIndex& index, std::string what);

  // One chunk, fetched with one request. kIntegrity when it is missing or fails a check.
  ByteBuffer fetch(const ChunkId& id, std::optional<uint64_t> expected_size);
  // Decodes a chunk's sealed message (from a pack range or a loose object); errors name the
  // chunk and `object`, the key it was read from.
  ByteBuffer decode(const ChunkId& id, std::span<const uint8_t> sealed,
                    std::optional<uint64_t> expected_size, const std::string& object = {}) const;
  // Where a chunk is; kIntegrity naming it when the repository does not have it.
  const ChunkLocation& locate(const ChunkId& id) const;
  std::string object_key(const ChunkLocation& loc, const ChunkId& id) const;

  Repository& repo() const { return repo_; }
  const ChunkIndex& index() const { return index_; }
  FetchStats& stats() { return stats_; }
  const std::string& what() const { return what_; }

 private:
  Repository& repo_;
  const ChunkIndex& index_;
  std::string what_;
  FetchStats stats_;
};

struct PlanItem {
  ChunkId id;
  uint64_t size = 0;  // expected plaintext size
};

class OrderedFetch {
 public:
  static constexpr uint64_t kMaxRangeBytes = 16ull << 20;
  // threads 0: the store's preferred parallelism and the CPUs, at least 2.
  OrderedFetch(ChunkSource& source, std::vector<PlanItem> plan, int threads = 0,
               uint64_t window_bytes = 96ull << 20);
  ~OrderedFetch();
  OrderedFetch(const OrderedFetch&) = delete;
  OrderedFetch& operator=(const OrderedFetch&) = delete;

  // The next chunk of the plan, or nullptr after the last. Throws the first failure.
  ChunkData next();
  size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

int default_fetch_threads(Repository& repo);

}  // namespace pvesafe::repo
