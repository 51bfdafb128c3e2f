// What snapshots need: every chunk a manifest names directly (config files, list chunks) or
// through its lists (data chunks of streams and disks). gc keeps these, verify checks them.
// Lists shared by several snapshots (an unchanged disk region) are read once.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "repo/chunk_id.h"
#include "repo/chunk_reader.h"
#include "repo/manifest.h"

namespace pvesafe::repo {

class ReferenceCollector {
 public:
  explicit ReferenceCollector(ChunkSource& source) : source_(source) {}
  // Adds what m needs. kIntegrity when one of its lists cannot be read.
  void add(const Manifest& m);
  // id -> plaintext size, as the snapshots record it.
  const std::unordered_map<ChunkId, uint64_t, ChunkIdHash>& chunks() const { return chunks_; }
  // Two snapshots that disagree about a chunk's size (reported by verify).
  const std::vector<std::pair<ChunkId, std::string>>& conflicts() const { return conflicts_; }

 private:
  void note(const std::string& hex, uint64_t size, const std::string& snapshot);

  ChunkSource& source_;
  std::unordered_map<ChunkId, uint64_t, ChunkIdHash> chunks_;
  std::unordered_set<ChunkId, ChunkIdHash> lists_read_;
  std::vector<std::pair<ChunkId, std::string>> conflicts_;
};

}  // namespace pvesafe::repo
