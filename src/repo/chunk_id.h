// ChunkId: the 32-byte id of a chunk (HMAC-SHA-256 of its plaintext under the repository's
// chunk-id key), held in binary where millions of them are kept (the chunk index) and written as
// 64 lowercase hex digits everywhere else.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "core/hex.h"

namespace pvesafe::repo {

struct ChunkId {
  std::array<uint8_t, 32> bytes{};

  std::string hex() const { return to_hex(bytes); }
  static std::optional<ChunkId> parse(std::string_view hex) {
    ChunkId id;
    if (!from_hex(hex, id.bytes)) return std::nullopt;
    return id;
  }
  bool operator==(const ChunkId&) const = default;
  auto operator<=>(const ChunkId&) const = default;
};

// The ids are uniformly random bytes, so the first eight of them are a good hash.
struct ChunkIdHash {
  size_t operator()(const ChunkId& id) const {
    uint64_t v;
    std::memcpy(&v, id.bytes.data(), sizeof v);
    return static_cast<size_t>(v);
  }
};

}  // namespace pvesafe::repo
