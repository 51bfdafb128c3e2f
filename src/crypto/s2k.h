// OpenPGP string-to-key (RFC 9580 section 3.7): simple (0), salted (1), iterated and salted (3).
// Internal to src/crypto; exposed for the known-answer tests.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace pvesafe::crypto::detail {

inline constexpr uint8_t kS2kSimple = 0;
inline constexpr uint8_t kS2kSalted = 1;
inline constexpr uint8_t kS2kIterated = 3;

// The coded iteration counts pvesafe writes.
inline constexpr uint8_t kS2kCountFast = 0x00;    // 1024 bytes hashed
inline constexpr uint8_t kS2kCountStrong = 0xFF;  // 65011712 bytes hashed

struct S2k {
  uint8_t type = kS2kIterated;
  uint8_t hash = 8;  // SHA-256
  std::array<uint8_t, 8> salt{};
  uint8_t count = 0;  // coded count, type 3 only
};

// Number of bytes hashed for a coded count: (16 + (c & 15)) << ((c >> 4) + 6).
constexpr uint64_t s2k_decode_count(uint8_t c) {
  return (uint64_t{16} + (c & 15)) << ((c >> 4) + 6);
}

// Derives key.size() bytes from the passphrase. Throws kUnsupported for an unknown hash or S2K
// type.
void s2k_derive(const S2k& s2k, std::string_view passphrase, std::span<uint8_t> key);

}  // namespace pvesafe::crypto::detail
