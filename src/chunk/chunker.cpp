#include "chunk/chunker.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <bit>
#include <string>

#include "core/error.h"

namespace pvesafe::chunk {

GearTable make_gear_table(std::span<const uint8_t> seed) {
  GearTable t{};
  static const char kLabel[] = "pvesafe-gear";
  for (int i = 0; i < 256; ++i) {
    uint8_t msg[sizeof kLabel];
    std::copy(kLabel, kLabel + sizeof kLabel - 1, msg);
    msg[sizeof kLabel - 1] = static_cast<uint8_t>(i);
    uint8_t mac[32];
    unsigned len = 0;
    if (!HMAC(EVP_sha256(), seed.data(), static_cast<int>(seed.size()), msg, sizeof msg, mac,
              &len)) {
      throw Error(Errc::kInternal, "HMAC-SHA-256 failed building the gear table");
    }
    uint64_t v = 0;
    for (int b = 0; b < 8; ++b) v = (v << 8) | mac[b];
    t[i] = v;
  }
  return t;
}

namespace {
uint64_t top_bits(int n) { return n <= 0 ? 0 : (~uint64_t{0}) << (64 - n); }
}  // namespace

Chunker::Chunker(const GearTable& table, ChunkLimits limits) : table_(table), limits_(limits) {
  if (limits.min_size < 64 || limits.min_size >= limits.avg_size ||
      limits.avg_size >= limits.max_size || !std::has_single_bit(limits.avg_size)) {
    throw Error(Errc::kConfig, "invalid chunker parameters (need 64 <= min < avg < max, avg a "
                               "power of two)");
  }
  int bits = std::countr_zero(limits.avg_size);
  mask_hard_ = top_bits(bits + 2);
  mask_easy_ = top_bits(bits - 2);
}

size_t Chunker::next_boundary(const uint8_t* data, size_t n, bool eof) const {
  const size_t min = limits_.min_size, avg = limits_.avg_size, max = limits_.max_size;
  if (n <= min) return eof ? n : 0;
  size_t end = n < max ? n : max;
  size_t i = min - 64;
  uint64_t h = 0;
  const uint64_t* t = table_.data();
  // Warm up the window over the 64 bytes before min (no boundary allowed there).
  for (; i < min; ++i) h = (h << 1) + t[data[i]];
  size_t normal = avg < end ? avg : end;
  for (; i < normal; ++i) {
    h = (h << 1) + t[data[i]];
    if ((h & mask_hard_) == 0) return i + 1;
  }
  for (; i < end; ++i) {
    h = (h << 1) + t[data[i]];
    if ((h & mask_easy_) == 0) return i + 1;
  }
  if (end == max) return max;
  return eof ? n : 0;
}

}  // namespace pvesafe::chunk
