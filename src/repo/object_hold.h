// Holding a snapshot's objects under S3 Object Lock (docs/format.md, "Object Lock").
//
// S3 sets an object's retention when it is written; a backup that reuses chunks stored days ago
// would otherwise depend on packs whose retention ends before its own. Before a backup commits
// its manifest, hold_objects() makes every object the snapshot needs and did not write itself
// retained at least until the snapshot's date: the packs of the chunks it reuses (data and list
// chunks), the index objects naming those packs, format 1 chunk objects, the config and the key
// files. Each is looked at (a HEAD for its retention) and only those retained less long are
// extended (PutObjectRetention), to the date plus the rule's margin, so a pack reused every day
// is extended once per margin. Objects the backup writes itself get the same date from the store
// (s3.retention-days). The snapshot's date is recorded in its manifest (retain_until).
//
// PVESAFE_TEST_NO_RETENTION_EXTENSION=1 skips the extension (tests prove it is what protects).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "repo/chunk_id.h"
#include "repo/chunk_index.h"
#include "store/object_lock.h"

namespace pvesafe::repo {

class Repository;

struct HoldPlan {
  store::RetentionRule rule;
  std::chrono::system_clock::time_point until;  // the snapshot's retention date
};

struct HoldResult {
  uint64_t objects = 0;   // objects looked at
  uint64_t extended = 0;  // whose retention was extended
  uint64_t requests = 0;  // retention requests (HEAD and PUT)
  double seconds = 0;
  bool skipped = false;  // the test switch turned extension off
};

// The plan for a snapshot started at `start`, or nullopt when the store locks nothing (no Object
// Lock, or no retention rule: neither s3.retention-days nor a bucket default).
std::optional<HoldPlan> hold_plan(Repository& repo, std::chrono::system_clock::time_point start);

// The objects a snapshot needs beyond what its own backup wrote, given the chunks it reused.
std::vector<std::string> objects_to_hold(Repository& repo, const ChunkIndex& index,
                                         const std::vector<ChunkId>& reused);

// Extends the retention of `keys` to plan.until + margin where it is earlier than plan.until, on
// up to `threads` parallel requests. Throws what the store throws (kAuth without
// s3:PutObjectRetention).
HoldResult hold_objects(Repository& repo, const std::vector<std::string>& keys,
                        const HoldPlan& plan, int threads = 8);

}  // namespace pvesafe::repo
