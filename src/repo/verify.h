// verify(): checks a repository.
//  structure (always): config and the opening key; every snapshot manifest decrypts and parses;
//                      every chunk a snapshot names exists.
//  read_data:          additionally every chunk object in data/ is fetched, decrypted,
//                      decompressed and its HMAC id re-computed (in parallel workers); sizes are
//                      checked against the snapshots that name it.
// Every problem is reported with the object key; nothing is modified.
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
  std::function<void(const Progress&)> progress;  // bytes_done = chunk objects read
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
  uint64_t chunks_read = 0;
  uint64_t bytes_read = 0;
  std::vector<VerifyProblem> problems;
  double duration_seconds = 0;
  bool ok() const { return problems.empty(); }
};

VerifyResult verify(Repository& repo, const VerifyOptions& options);

}  // namespace pvesafe::repo
