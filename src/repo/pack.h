// Packs (format 2): the objects chunks are stored in, tens of MiB each, so a backup or restore
// costs a request per pack instead of one per chunk.
//
//   pack    = chunk_1 .. chunk_n  header  trailer
//   chunk_i   one OpenPGP message (data passphrase) of one zstd frame: byte for byte what
//             format 1 stored as an object of its own, so
//             `tail -c +$((OFFSET+1)) PACK | head -c LENGTH | gpg -d | zstd -d` restores it
//   header    one OpenPGP message of one zstd frame of text, a line per chunk:
//             "<chunk id> <offset> <length> <size>\n"
//   trailer   8 bytes: ASCII "PVPK" and the header message's length, 4 bytes big endian
// The pack id is the SHA-256 of the whole pack (lowercase hex): a copy can be checked without
// the key. The index objects (repo/chunk_index.h) say where each chunk is; the header makes a
// pack self-describing, so a lost index can be rebuilt from the packs alone.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/direct_io.h"
#include "repo/chunk_id.h"
#include "repo/chunk_index.h"

namespace pvesafe::repo {

class Repository;

inline constexpr size_t kPackTrailerBytes = 8;

class PackBuilder {
 public:
  explicit PackBuilder(size_t target_bytes);

  // Appends one sealed chunk message.
  void add(const ChunkId& id, std::span<const uint8_t> sealed, uint32_t plaintext_size);
  size_t bytes() const { return used_; }
  size_t count() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // True once the pack has reached its target size.
  bool full() const { return used_ >= target_; }

  struct Pack {
    std::string id;
    AlignedBuffer bytes;
    std::vector<IndexEntry> entries;
  };
  // Appends header and trailer and hands the pack over; the builder is empty again afterwards.
  Pack finish(const Repository& repo);
  // The same, leaving the naming (a SHA-256 of the whole pack) to name(): a pipeline can hash
  // one pack on another thread while this one fills the next.
  Pack finish_unnamed(const Repository& repo);
  static void name(Pack& pack);
  // Memory for the next pack: a buffer of an uploaded pack, so each pack does not fault in
  // fresh pages (tens of MiB, zeroed by the kernel). Used only while the builder is empty.
  void reuse(AlignedBuffer spare);

 private:
  void reserve(size_t more);

  size_t target_;
  AlignedBuffer buf_;
  size_t used_ = 0;
  std::vector<IndexEntry> entries_;
};

// The entries a pack's header lists, read with two range requests (trailer, then header).
// kIntegrity naming the pack when the trailer or header is damaged.
std::vector<IndexEntry> read_pack_header(Repository& repo, const std::string& pack_id,
                                         uint64_t pack_size);
// The same from a pack already in memory; also checks that the entries tile the pack exactly.
std::vector<IndexEntry> parse_pack(const Repository& repo, const std::string& pack_id,
                                   std::span<const uint8_t> pack);

}  // namespace pvesafe::repo
