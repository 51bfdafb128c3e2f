#include "chunk/chunker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <random>
#include <vector>

namespace pvesafe::chunk {
namespace {

std::vector<uint8_t> random_data(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t x = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) v[i + j] = static_cast<uint8_t>(x >> (8 * j));
  }
  return v;
}

std::vector<size_t> cut_all(const Chunker& c, const std::vector<uint8_t>& data) {
  std::vector<size_t> sizes;
  size_t off = 0;
  while (off < data.size()) {
    size_t n = c.next_boundary(data.data() + off, data.size() - off, true);
    EXPECT_GT(n, 0u);
    sizes.push_back(n);
    off += n;
  }
  return sizes;
}

const std::vector<uint8_t> kSeed(32, 7);

TEST(Chunker, BoundsHoldOnRandomData) {
  Chunker c(make_gear_table(kSeed), ChunkLimits{});
  auto data = random_data(64 << 20, 1);
  auto sizes = cut_all(c, data);
  size_t total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    total += sizes[i];
    if (i + 1 < sizes.size()) {
      EXPECT_GT(sizes[i], 512u * 1024);
      EXPECT_LE(sizes[i], 8u * 1024 * 1024);
    }
  }
  EXPECT_EQ(total, data.size());
  double avg = static_cast<double>(total) / static_cast<double>(sizes.size());
  EXPECT_GT(avg, 1.0 * 1024 * 1024);
  EXPECT_LT(avg, 4.0 * 1024 * 1024);
}

TEST(Chunker, ZerosCutAtMax) {
  Chunker c(make_gear_table(kSeed), ChunkLimits{});
  std::vector<uint8_t> zeros(20 << 20, 0);
  auto sizes = cut_all(c, zeros);
  ASSERT_EQ(sizes.size(), 3u);
  EXPECT_EQ(sizes[0], 8u << 20);
  EXPECT_EQ(sizes[1], 8u << 20);
  EXPECT_EQ(sizes[2], 4u << 20);
}

TEST(Chunker, DeterministicAndKeyed) {
  auto data = random_data(32 << 20, 2);
  Chunker a(make_gear_table(kSeed), ChunkLimits{});
  Chunker b(make_gear_table(kSeed), ChunkLimits{});
  Chunker other(make_gear_table(std::vector<uint8_t>(32, 8)), ChunkLimits{});
  EXPECT_EQ(cut_all(a, data), cut_all(b, data));
  EXPECT_NE(cut_all(a, data), cut_all(other, data));
}

TEST(Chunker, ShiftResistant) {
  // Inserting bytes near the start changes only the first chunk(s); later boundaries realign.
  auto data = random_data(48 << 20, 3);
  Chunker c(make_gear_table(kSeed), ChunkLimits{});
  auto shifted = data;
  shifted.insert(shifted.begin() + 1000, 17, 0xAB);
  auto s1 = cut_all(c, data), s2 = cut_all(c, shifted);
  // Compare boundary positions from the end.
  std::vector<size_t> e1, e2;
  size_t p = 0;
  for (auto s : s1) e1.push_back(data.size() - (p += s));
  p = 0;
  for (auto s : s2) e2.push_back(shifted.size() - (p += s));
  size_t common = 0;
  for (auto x : e1)
    if (std::find(e2.begin(), e2.end(), x) != e2.end()) ++common;
  EXPECT_GE(common + 2, e1.size());
}

TEST(Chunker, NeedsMoreDataBeforeMax) {
  Chunker c(make_gear_table(kSeed), ChunkLimits{});
  std::vector<uint8_t> zeros(1 << 20, 0);
  EXPECT_EQ(c.next_boundary(zeros.data(), zeros.size(), false), 0u);
  EXPECT_EQ(c.next_boundary(zeros.data(), zeros.size(), true), zeros.size());
  EXPECT_EQ(c.next_boundary(zeros.data(), 0, true), 0u);
  EXPECT_EQ(c.next_boundary(zeros.data(), 100, true), 100u);
}

// The boundary rule as docs/format.md states it, one byte at a time: the chunker's interleaved
// scan must cut exactly here.
size_t reference_boundary(const GearTable& t, const ChunkLimits& l, const uint8_t* data, size_t n,
                          bool eof) {
  if (n <= l.min_size) return eof ? n : 0;
  const int bits = std::countr_zero(l.avg_size);
  const uint64_t hard = ~uint64_t{0} << (64 - (bits + 2)), easy = ~uint64_t{0} << (64 - (bits - 2));
  const size_t end = std::min(n, l.max_size);
  uint64_t h = 0;
  for (size_t i = l.min_size - 64; i < end; ++i) {
    h = (h << 1) + t[data[i]];
    if (i >= l.min_size && (h & (i < l.avg_size ? hard : easy)) == 0) return i + 1;
  }
  if (end == l.max_size) return end;
  return eof ? n : 0;
}

TEST(Chunker, InterleavedScanCutsWhereTheRuleSays) {
  const GearTable table = make_gear_table(kSeed);
  // Limits from tiny (serial path only) to the defaults; small averages put boundaries in
  // every stretch of the interleaved scan, at every offset.
  const ChunkLimits limits[] = {{64, 128, 1024},          {256, 4096, 65536},
                                {1000, 16384, 300000},    {4096, 65536, 1 << 20},
                                {64 * 1024, 1 << 20, 4 << 20}, ChunkLimits{}};
  std::mt19937_64 rng(11);
  for (const auto& l : limits) {
    Chunker c(table, l);
    for (int round = 0; round < 6; ++round) {
      auto data = random_data(3 * l.max_size + rng() % 5000, rng());
      if (round % 3 == 2) {
        // Runs of zeros (unused disk space) of every length, at every offset: the chunker
        // skips positions whose 64-byte window is all zero instead of hashing them.
        for (size_t off = rng() % 1000; off < data.size();) {
          const size_t run = std::min<size_t>(data.size() - off, 1 + rng() % (2 * l.max_size));
          std::fill_n(data.begin() + static_cast<long>(off), run, uint8_t{0});
          off += run + rng() % (l.max_size / 2 + 1);
        }
      } else if (round % 2 == 1) {
        // Runs of a repeated byte and of text-like bytes next to random ones.
        for (size_t off = 0; off + 70000 < data.size(); off += 150000) {
          std::fill(data.begin() + static_cast<long>(off), data.begin() + static_cast<long>(off + 40000),
                    static_cast<uint8_t>(rng()));
          for (size_t k = off + 40000; k < off + 70000; ++k) data[k] = static_cast<uint8_t>('a' + data[k] % 8);
        }
      }
      size_t off = 0;
      while (off < data.size()) {
        const size_t n = data.size() - off;
        // Also ask with less data than max and no eof (more data would follow).
        const size_t part = std::min(n, static_cast<size_t>(rng() % l.max_size));
        ASSERT_EQ(c.next_boundary(data.data() + off, part, false),
                  reference_boundary(table, l, data.data() + off, part, false))
            << "limits " << l.min_size << "/" << l.avg_size << "/" << l.max_size << " at " << off;
        const size_t cut = c.next_boundary(data.data() + off, n, true);
        ASSERT_EQ(cut, reference_boundary(table, l, data.data() + off, n, true))
            << "limits " << l.min_size << "/" << l.avg_size << "/" << l.max_size << " at " << off;
        off += cut;
      }
    }
  }
}

TEST(Chunker, ZerosCutWhereTheRuleSaysWhenTheirHashMeetsTheMask) {
  // A table whose zero byte adds nothing: the hash of a run of zeros is 0, which meets every
  // mask, so zeros cut at min_size and no zero window may be skipped.
  GearTable table = make_gear_table(kSeed);
  table[0] = 0;
  const ChunkLimits l{256, 4096, 65536};
  Chunker c(table, l);
  auto data = random_data(8 * l.max_size, 5);
  std::fill(data.begin() + 1000, data.begin() + 300000, uint8_t{0});
  std::fill(data.begin() + 310000, data.end(), uint8_t{0});
  size_t off = 0, zero_cuts = 0;
  while (off < data.size()) {
    const size_t cut = c.next_boundary(data.data() + off, data.size() - off, true);
    ASSERT_EQ(cut, reference_boundary(table, l, data.data() + off, data.size() - off, true)) << off;
    if (off > 310000 && cut == l.min_size + 1) ++zero_cuts;
    off += cut;
  }
  EXPECT_GT(zero_cuts, 100u);
}

TEST(Chunker, RejectsBadLimits) {
  EXPECT_ANY_THROW(Chunker(make_gear_table(kSeed), ChunkLimits{1024, 3000, 8000}));
  EXPECT_ANY_THROW(Chunker(make_gear_table(kSeed), ChunkLimits{4096, 2048, 8192}));
}

}  // namespace
}  // namespace pvesafe::chunk
