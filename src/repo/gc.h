// Garbage collection: removes chunk objects no snapshot references. The caller holds an
// exclusive lock (no backup runs meanwhile). Chunks that became unreferenced because this
// prune forgot their snapshots (`freed`) are removed at once. Any other unreferenced chunk
// (left by an interrupted backup, or written by a backup whose lock went stale) is removed only
// once it has been seen unreferenced for longer than the grace period: gc records first
// sightings in the object gc/pending (encrypted JSON), so an in-flight backup that finishes
// within the grace period keeps its chunks.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_set>

#include "repo/repository.h"

namespace pvesafe::repo {

struct GcOptions {
  std::chrono::seconds grace{24 * 3600};
  bool dry_run = false;
  std::unordered_set<std::string> freed;  // chunk ids referenced only by just-forgotten snapshots
};

struct GcResult {
  uint64_t total_chunks = 0;
  uint64_t referenced_chunks = 0;
  uint64_t removed_chunks = 0;
  uint64_t removed_bytes = 0;
  uint64_t pending_chunks = 0;  // unreferenced, still within the grace period
  uint64_t removed_temporaries = 0;  // leftovers of interrupted writes (local store)
  double duration_seconds = 0;
};

GcResult collect_garbage(Repository& repo, const GcOptions& options);

// Chunk ids referenced by the given snapshots (loads their manifests).
std::unordered_set<std::string> referenced_chunks(Repository& repo,
                                                  const std::vector<std::string>& snapshot_ids);

}  // namespace pvesafe::repo
