// ChunkWriter: the stages of a backup after "split": id, dedup, compress, seal, pack, put, index.
//
// A splitter (content-defined for byte streams, disk offsets for VMA disks; repo/backup.cpp)
// hands chunks to add() in the order they belong to their lists; each gets a ticket whose chunk
// id is known after finish(). Inside, a WorkerGroup runs
//   workers (threads)  HMAC id; chunks already in the repository or seen in this run are reused;
//                      new ones are compressed (zstd) and sealed (OpenPGP). The worker that
//                      finishes the oldest unpacked ticket appends it, and every later ticket
//                      already done, to the current pack in ticket order, and closes packs at
//                      the repository's pack size
//   uploaders          put packs; every stored pack's entries go into an index object, written
//                      once enough entries gathered and at finish()
// Memory is bounded: add() blocks while the workers are a window ahead of packing, and full
// packs wait for an upload slot. Commit rule: an index object names only packs already stored;
// the caller writes its manifest after finish() returned, so a backup killed at any point leaves
// no index that points into a missing pack and no manifest naming a missing chunk.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "repo/chunk_id.h"
#include "repo/chunk_index.h"

namespace pvesafe::repo {

class Repository;

// What a chunk holds: the data being backed up, or the repository's own structure (list chunks).
// Format 3 encrypts data chunks to the recipient and structure chunks under the structure
// passphrase, so a write-only host can read its lists but no content (Repository::seal_data).
enum class ChunkClass { kData, kStructure };

struct ChunkWriterStats {
  uint64_t chunks = 0;         // tickets handed out
  uint64_t new_chunks = 0;     // stored by this run
  uint64_t reused_chunks = 0;  // already in the repository, or earlier in this run
  uint64_t new_bytes = 0;      // plaintext bytes of the new chunks
  uint64_t stored_bytes = 0;   // bytes of the packs and index objects this run stored
  uint64_t packs = 0;
  uint64_t index_objects = 0;
};

class ChunkWriter {
 public:
  // `known` is the repository's index as loaded before the backup; it is not modified.
  ChunkWriter(Repository& repo, const ChunkIndex& known, int threads);
  ~ChunkWriter();  // stops the pipeline if finish() did not run; nothing is committed
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Queues a chunk whose bytes stay valid while `keep` lives (the writer drops its reference
  // once the chunk is sealed or found known). Blocks while the pipeline is full. Returns the
  // chunk's ticket. After a failure it returns at once; finish() then throws the failure.
  size_t add(std::span<const uint8_t> data, std::shared_ptr<const void> keep,
             ChunkClass cls = ChunkClass::kData);
  // True once a stage failed: producers should stop reading and call finish().
  bool failed() const;
  // Waits until every chunk added so far has its id (the pipeline keeps running), so lists of
  // them can be written as chunks of the same run. Throws the first failure.
  void wait_ids();
  // Waits for every chunk, stores the last pack, writes the remaining index entries. Throws the
  // first failure of any stage.
  ChunkWriterStats finish();
  // The chunk id of a ticket (after finish()).
  const ChunkId& id(size_t ticket) const;
  // Chunks this run found in the repository instead of storing them (after finish()).
  std::vector<ChunkId> reused_ids() const;
  // Live counters for progress displays (approximate while running).
  ChunkWriterStats progress() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pvesafe::repo
