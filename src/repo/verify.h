// verify(): checks a repository; nothing is modified, every problem is reported with its object.
//  structure (always): config (its MAC) and the opening key; every manifest decrypts, parses and
//                      names itself; every list a snapshot names is readable; every chunk a
//                      snapshot needs is in the index (or a format 1 object), in a pack that
//                      exists and is long enough.
//  read_data:          additionally every pack is read whole: its SHA-256 must be its name, its
//                      header must describe it, and every chunk in it is decrypted, decompressed
//                      and its HMAC id recomputed (in parallel); the same for format 1 objects.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "repo/backup.h"
#include "repo/repository.h"

namespace pvesafe::repo {

struct VerifyOptions {
  bool read_data = false;
  int threads = 0;
  std::function<void(const Progress&)> progress;  // bytes_done = packs and objects read
};

struct VerifyProblem {
  std::string key;          // object key
  std::string snapshot_id;  // when a snapshot is affected
  std::string message;      // one line
};

struct VerifyResult {
  uint64_t snapshots = 0;
  uint64_t chunks_referenced = 0;
  uint64_t chunks_in_store = 0;
  uint64_t packs = 0;
  uint64_t orphan_packs = 0;  // packs no index names (interrupted backups; gc removes them)
  uint64_t chunks_read = 0;
  uint64_t bytes_read = 0;
  std::vector<VerifyProblem> problems;
  double duration_seconds = 0;
  bool ok() const { return problems.empty(); }
};

VerifyResult verify(Repository& repo, const VerifyOptions& options);

}  // namespace pvesafe::repo
