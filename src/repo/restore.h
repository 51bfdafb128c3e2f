// restore(): manifest -> parallel (get, decrypt, zstd -d, check HMAC id and size) -> ordered
// write -> sink. A bounded window of chunks is in flight, so memory stays bounded.
// Errors: kNotFound (snapshot), kIntegrity naming snapshot and chunk key for a missing, corrupted
// or mismatching chunk. The sink's finish() is called only after every chunk was written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "repo/backup.h"
#include "repo/repository.h"
#include "repo/stream.h"

namespace pvesafe::repo {

struct RestoreOptions {
  int threads = 0;              // 0: max(CPUs, store's preferred_parallelism)
  SnapshotFilter filter;        // narrows "latest"
  std::function<void(const Progress&)> progress;
};

struct RestoreResult {
  std::string snapshot_id;
  SnapshotInfo snapshot;
  uint64_t size_bytes = 0;
  uint64_t chunks = 0;
  double duration_seconds = 0;
};

RestoreResult restore(Repository& repo, const std::string& snapshot, ByteSink& sink,
                      const RestoreOptions& options = {});

// Decodes one stored chunk object: decrypt, decompress, check id and size. Throws kIntegrity
// naming `key` on any mismatch. Used by restore and verify.
std::vector<uint8_t> decode_chunk(const Repository& repo, const std::string& chunk_id,
                                  std::span<const uint8_t> object,
                                  std::optional<uint64_t> expected_size = std::nullopt);

}  // namespace pvesafe::repo
