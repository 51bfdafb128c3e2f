// ChunkIndex: where every chunk of a repository lives, in memory.
//
// Format 2 stores chunks in packs (repo/pack.h); index objects (index/<64 hex>, OpenPGP of a
// zstd frame of text) say where: one line per chunk, "<chunk id> <pack id> <offset> <length>
// <size>\n" (offset and length of the chunk's OpenPGP message inside the pack, size of its
// plaintext). A backup writes one index object (or more, for very large backups) after the packs
// it names are stored and before its manifest. Format 1 chunks are objects of their own
// (data/<2 hex>/<id>); the index knows them as "loose" after load() lists data/.
//
// A chunk may be listed twice (in two packs, after an interrupted repack): either copy is good.
// Lookups are safe from several threads while no add() runs; add() is for one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "repo/chunk_id.h"
#include "store/object_store.h"

namespace pvesafe::repo {

class Repository;

struct ChunkLocation {
  static constexpr uint32_t kLoose = 0xffffffffu;
  uint32_t pack = kLoose;  // index into ChunkIndex::pack_ids(), or kLoose
  uint32_t offset = 0;
  uint32_t length = 0;  // bytes of the chunk's OpenPGP message
  uint32_t size = 0;    // plaintext bytes (0 for loose chunks: not recorded)
  bool loose() const { return pack == kLoose; }
};

// One line of an index object.
struct IndexEntry {
  ChunkId id;
  std::string pack;  // 64 hex digits
  uint32_t offset = 0, length = 0, size = 0;
};

class ChunkIndex {
 public:
  // Reads every index object (in parallel) and lists data/ for format 1 chunks. kIntegrity
  // naming the object when an index object is damaged.
  void load(Repository& repo, int threads = 8);

  const ChunkLocation* find(const ChunkId& id) const;
  bool contains(const ChunkId& id) const { return find(id) != nullptr; }
  size_t size() const { return map_.size(); }

  void add(const IndexEntry& e);
  void add_loose(const ChunkId& id);

  const std::vector<std::string>& pack_ids() const { return packs_; }
  const std::string& pack_id(uint32_t i) const { return packs_.at(i); }
  // Object keys of the index objects load() read.
  const std::vector<std::string>& index_keys() const { return index_keys_; }
  // The keys of the index objects load() found naming a pack (by pack number), e.g. to keep
  // them under Object Lock as long as the pack.
  std::vector<std::string> index_keys_naming(uint32_t pack) const;
  uint64_t loose_count() const { return loose_; }

  void for_each(const std::function<void(const ChunkId&, const ChunkLocation&)>& fn) const;

 private:
  uint32_t pack_number(const std::string& pack);

  std::unordered_map<ChunkId, ChunkLocation, ChunkIdHash> map_;
  std::vector<std::string> packs_;
  std::unordered_map<std::string, uint32_t> pack_numbers_;
  std::vector<std::string> index_keys_;
  std::vector<std::vector<uint32_t>> pack_index_;  // pack number -> positions in index_keys_
  uint64_t loose_ = 0;
};

// Index object text <-> entries. A pack's own header (pack.h) has the same lines without the pack
// column: written with pack_column false, read with `pack` naming the pack every entry is in.
std::string index_text(const std::vector<IndexEntry>& entries, bool pack_column = true);
void parse_index_text(const std::string& text, const std::string& what,
                      std::vector<IndexEntry>& out, const std::string* pack = nullptr);

// Writes entries as one index object (zstd frame, sealed) and returns its key and size. Like a
// pack's, the index object's id is the SHA-256 of its bytes, so a copy can be checked without the
// key.
struct WrittenIndex {
  std::string key;
  uint64_t size_bytes = 0;
};
WrittenIndex write_index(Repository& repo, const std::vector<IndexEntry>& entries,
                         const store::PutOptions& options = {});
// Reads one index object.
std::vector<IndexEntry> read_index(Repository& repo, const std::string& key);

}  // namespace pvesafe::repo
