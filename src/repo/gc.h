// Garbage collection: removes what no snapshot needs, and rewrites packs that are mostly dead.
// The caller holds an exclusive lock.
//
//  mark    every chunk the snapshots need (repo/references.h); gc refuses to run when any
//          manifest or list cannot be read (deleting on partial knowledge could destroy data)
//  grace   an unreferenced chunk is removed only once gc has seen it unreferenced for the grace
//          period (gc/pending records first sightings): a backup whose lock went stale (a hung
//          process, another host) still finds the chunks it reuses when it commits. The same
//          holds for packs no index names (left by interrupted backups). --grace 0 removes at once.
//  sweep   a pack with nothing left is deleted; a pack whose live share fell below
//          repack_below is rewritten (its live chunks, and those still in their grace period,
//          copied byte for byte into new packs: no decryption) as long as the run stays within
//          repack_budget_bytes of rewritten data; format 1 chunk objects are deleted one by one.
//  commit  new packs are stored, then a new index covering everything that remains, then the
//          old index objects are deleted, then the dead packs: an interruption at any point
//          leaves every snapshot restorable.
//  locks   on an Object Lock bucket, what retention protects is skipped and counted, never an
//          error: packs still locked are not repacked; an old index object that stays keeps the
//          packs it names; new packs and index objects are locked until the latest retention
//          date of the snapshots (their manifests' retain_until).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "repo/repository.h"

namespace pvesafe::repo {

struct GcOptions {
  std::chrono::seconds grace{24 * 3600};
  bool dry_run = false;
  double repack_below = 0.5;                    // live share of a pack under which it is rewritten
  uint64_t repack_budget_bytes = 2ull << 30;    // live bytes copied per run at most
  // Snapshots to treat as gone (a dry run of prune: what forgetting them would free).
  std::vector<std::string> assume_forgotten;
};

struct GcResult {
  uint64_t total_chunks = 0;
  uint64_t referenced_chunks = 0;
  uint64_t removed_chunks = 0;
  uint64_t removed_bytes = 0;       // store bytes freed (packs deleted, minus what repacking wrote)
  uint64_t pending_chunks = 0;      // unreferenced, still within the grace period
  uint64_t packs = 0;
  uint64_t removed_packs = 0;       // deleted whole, or after repacking
  uint64_t repacked_packs = 0;
  uint64_t repacked_bytes = 0;      // bytes written into new packs
  uint64_t kept_sparse_packs = 0;   // below the threshold but beyond this run's budget
  uint64_t orphan_packs = 0;        // packs no index names (interrupted backups)
  uint64_t removed_temporaries = 0; // leftovers of interrupted writes (local store)
  // Object Lock: objects gc would have removed (dead packs, old index objects, format 1 chunks)
  // but retention still protects; they stay, and a later gc removes them once free. Locked
  // packs are not repacked either (the copy could not replace them).
  uint64_t locked_objects = 0;
  std::string
      locked_example;  // one of them, with its date: "packs/ab/ab12... until 2027-01-01T00:00:00Z"
  uint64_t locked_sparse_packs = 0;  // sparse packs left alone because they are locked
  double duration_seconds = 0;
};

GcResult collect_garbage(Repository& repo, const GcOptions& options);

}  // namespace pvesafe::repo
