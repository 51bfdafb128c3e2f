#include "chunk/chunker.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <bit>
#include <cstring>
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
  for (int i = 0; i < 64; ++i) zero_hash_ = (zero_hash_ << 1) + table_[0];
}

namespace {

// How many stretches of a range are hashed side by side, and how long each is at most and at
// least (below that the serial loop does the whole range).
constexpr size_t kLanes = 4;
constexpr size_t kMaxLane = 16 * 1024;
constexpr size_t kMinLane = 256;

// The hash state once the 64 bytes before p went in: all that the gear hash remembers, since
// each byte's contribution is shifted out 64 bytes later.
inline uint64_t window_hash(const uint64_t* t, const uint8_t* p) {
  uint64_t h = 0;
  for (const uint8_t* q = p - 64; q < p; ++q) h = (h << 1) + t[*q];
  return h;
}

// The boundary rule itself, one byte at a time: i + 1 for the first i in [from, to) after
// which the hash has no bit in `mask`; 0 when there is none. Needs from >= 64.
size_t scan_serial(const uint64_t* t, const uint8_t* d, size_t from, size_t to, uint64_t mask) {
  uint64_t h = window_hash(t, d + from);
  for (size_t i = from; i < to; ++i) {
    h = (h << 1) + t[d[i]];
    if ((h & mask) == 0) return i + 1;
  }
  return 0;
}

// Same result as scan_serial, about twice as fast. The serial loop waits on its own chain
// (each hash needs the one before); four stretches of the range have four independent chains,
// so they are hashed in one interleaved loop. As soon as any stretch meets a boundary, the
// serial loop finds the first one of the group exactly.
size_t scan(const uint64_t* t, const uint8_t* d, size_t from, size_t to, uint64_t mask) {
  for (;;) {
    const size_t lane = std::min(kMaxLane, (to - from) / kLanes);
    if (lane < kMinLane) return scan_serial(t, d, from, to, mask);
    const uint8_t* p0 = d + from;
    const uint8_t* p1 = p0 + lane;
    const uint8_t* p2 = p1 + lane;
    const uint8_t* p3 = p2 + lane;
    uint64_t h0 = window_hash(t, p0), h1 = window_hash(t, p1), h2 = window_hash(t, p2),
             h3 = window_hash(t, p3);
    for (size_t k = 0; k < lane; ++k) {
      h0 = (h0 << 1) + t[p0[k]];
      h1 = (h1 << 1) + t[p1[k]];
      h2 = (h2 << 1) + t[p2[k]];
      h3 = (h3 << 1) + t[p3[k]];
      if ((h0 & mask) == 0 || (h1 & mask) == 0 || (h2 & mask) == 0 || (h3 & mask) == 0) {
        return scan_serial(t, d, from, from + kLanes * lane, mask);
      }
    }
    from += kLanes * lane;
  }
}

// Where the bytes at or after p stop being zero (end if they never do): eight words at a time.
const uint8_t* first_nonzero(const uint8_t* p, const uint8_t* end) {
  for (; end - p >= 64; p += 64) {
    uint64_t w[8];
    std::memcpy(w, p, sizeof w);
    if ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) != 0) break;
  }
  while (p < end && *p == 0) ++p;
  return p;
}

// scan(), for a range that may start in a run of zeros (unused space of a disk: often most of
// it). While the 64 bytes up to a position are all zero, its hash is zero_hash; when that
// cannot cut, those positions are skipped at the speed of a memory compare instead of being
// hashed one by one.
size_t scan_skipping_zeros(const uint64_t* t, uint64_t zero_hash, const uint8_t* d, size_t from,
                           size_t to, uint64_t mask) {
  if (from < to && (zero_hash & mask) != 0) {
    // Position i hashes bytes [i - 63, i]: the first with a non-zero byte in it is the first
    // non-zero byte itself, or `from` when one is in from's own window.
    const size_t nonzero = static_cast<size_t>(first_nonzero(d + from - 63, d + to) - d);
    if (nonzero >= to) return 0;
    from = std::max(from, nonzero);
  }
  return scan(t, d, from, to, mask);
}

}  // namespace

size_t Chunker::next_boundary(const uint8_t* data, size_t n, bool eof) const {
  const size_t min = limits_.min_size, avg = limits_.avg_size, max = limits_.max_size;
  if (n <= min) return eof ? n : 0;
  const size_t end = n < max ? n : max;
  const size_t normal = avg < end ? avg : end;
  const uint64_t* t = table_.data();
  if (size_t cut = scan_skipping_zeros(t, zero_hash_, data, min, normal, mask_hard_)) return cut;
  if (size_t cut = scan_skipping_zeros(t, zero_hash_, data, normal, end, mask_easy_)) return cut;
  if (end == max) return max;
  return eof ? n : 0;
}

}  // namespace pvesafe::chunk
