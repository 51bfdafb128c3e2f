// Content-defined chunking (FastCDC style gear hash with normalised chunking).
//
// The gear table is keyed: table[i] = first 8 bytes (big endian) of
// HMAC-SHA-256(seed, "pvesafe-gear" || byte i), so chunk boundaries do not reveal content to
// someone who knows the algorithm but not the repository secrets.
// Rolling hash: h = (h << 1) + table[byte]. A boundary is placed after a byte when the top bits
// of h selected by the mask are all zero: before avg_size with mask_hard (log2(avg)+2 top bits),
// from avg_size on with mask_easy (log2(avg)-2 top bits). No boundary before min_size; a forced
// one at max_size. The hash restarts at each chunk start and skips the first min_size bytes
// except the last 64 of them (the window that determines the top bits).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace pvesafe::chunk {

using GearTable = std::array<uint64_t, 256>;

GearTable make_gear_table(std::span<const uint8_t> seed);

struct ChunkLimits {
  size_t min_size = 512 * 1024;
  size_t avg_size = 2 * 1024 * 1024;
  size_t max_size = 8 * 1024 * 1024;
};

class Chunker {
 public:
  // Throws kConfig unless 64 <= min < avg < max and avg is a power of two.
  Chunker(const GearTable& table, ChunkLimits limits);

  // Length of the chunk that starts at data[0]. `n` bytes are available; `eof` says no more
  // follow. Returns 0 only when more data is needed (n < max_size and !eof and no boundary
  // found); with eof it returns n when there is no earlier boundary (n may be 0 -> 0).
  size_t next_boundary(const uint8_t* data, size_t n, bool eof) const;

  const ChunkLimits& limits() const { return limits_; }

 private:
  const GearTable table_;
  ChunkLimits limits_;
  uint64_t mask_hard_ = 0;
  uint64_t mask_easy_ = 0;
  uint64_t zero_hash_ = 0;  // the hash after 64 zero bytes: the same all through a run of zeros
};

}  // namespace pvesafe::chunk
