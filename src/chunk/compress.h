// Chunk payloads are always one zstd frame (RFC 8878), so `zstd -d` restores any chunk by hand.
// Compressible data is compressed (level 1-3); data a quick sample shows to be incompressible is
// written as a frame of raw blocks: frame header (magic, single-segment, 4-byte content size)
// followed by raw blocks of at most 128 KiB, costing no compression work and, through
// Compressor::frame(), no copy either.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/byte_buffer.h"

namespace pvesafe::chunk {

// A zstd frame of raw blocks holding `data` verbatim.
std::vector<uint8_t> raw_zstd_frame(std::span<const uint8_t> data);

// A zstd frame described as pieces to be written one after the other: the headers are held here,
// the payload points into the caller's data (raw frames) or the compressor's buffer.
struct FramePieces {
  std::vector<std::span<const uint8_t>> pieces;
  std::vector<uint8_t> headers;  // what the header pieces point into
  size_t size() const;
  std::vector<uint8_t> join() const;
};

// Per-thread compressor (holds zstd contexts; not thread-safe, one per worker).
class Compressor {
 public:
  explicit Compressor(int level = 1);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  // One zstd frame for `data`: compressed, or raw blocks when the sample says incompressible or
  // compression would not save at least 1/32. The sample is taken only when the previous frame
  // (or none yet) came out raw: in compressible data it would only cost.
  std::vector<uint8_t> compress(std::span<const uint8_t> data);
  // The same frame as pieces, valid until the next call and while `data` lives.
  FramePieces frame(std::span<const uint8_t> data);
  // True when a sample of `data` compresses by less than ~3%.
  bool looks_incompressible(std::span<const uint8_t> data);
  // Samples taken so far (looks_incompressible calls that sampled).
  uint64_t samples() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Decompresses exactly one zstd frame whose content size is in its header (both kinds above and
// anything `zstd` writes with a content size). kIntegrity on malformed input or a size above
// max_size.
ByteBuffer decompress_frame(std::span<const uint8_t> frame, size_t max_size);

}  // namespace pvesafe::chunk
