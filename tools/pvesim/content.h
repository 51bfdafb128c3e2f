// The bytes of one 4 KiB block of a simulated disk, from a 64-bit content id. A content id names
// what was written there (kind, bytes in use, a seed): equal ids give equal bytes, different ids
// give different bytes (each block is drawn from a generator seeded with its whole id; erased
// firmware blocks, seed 0, are all 0xFF as flash is), and only id 0 renders all zeros. Kinds look
// like what they stand for, so the real compressors see realistic ratios: text and logs compress
// well, binaries about half, compressed files not at all.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pvesim {

constexpr size_t kBlockSize = 4096;

enum class BlockKind : uint8_t {
  kZero = 0,      // never written
  kText = 1,      // config files, scripts, documentation
  kLog = 2,       // timestamped log lines
  kBinary = 3,    // executables and libraries
  kDb = 4,        // database page: header, row data, free space in the middle
  kRandom = 5,    // compressed or encrypted data (.gz, images)
  kMeta = 6,      // file system metadata: inode tables, bitmaps, superblock
  kJournal = 7,   // file system journal block
  kFirmware = 8,  // UEFI variable store (erased flash is 0xFF)
  kBoot = 9,      // partition table / boot sector
};

// kind (4 bits) | bytes in use, 0 = all 4096 (13 bits) | seed (47 bits)
inline uint64_t make_cid(BlockKind kind, uint32_t fill, uint64_t seed) {
  return (static_cast<uint64_t>(kind) << 60) | (static_cast<uint64_t>(fill & 0x1fff) << 47) |
         (seed & ((1ull << 47) - 1));
}
inline BlockKind cid_kind(uint64_t cid) { return static_cast<BlockKind>(cid >> 60); }
inline uint32_t cid_fill(uint64_t cid) {
  uint32_t f = static_cast<uint32_t>((cid >> 47) & 0x1fff);
  return f == 0 ? static_cast<uint32_t>(kBlockSize) : f;
}

// splitmix64: the mixing function every generator of the simulator uses.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
inline uint64_t hash_combine(uint64_t a, uint64_t b) { return mix64(a ^ mix64(b)); }

// A small deterministic generator (splitmix64 stream).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() { return mix64(s_ += 0x632be59bd9b4e019ull); }
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
  double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
  bool chance(double p) { return unit() < p; }

 private:
  uint64_t s_;
};

// Writes the 4096 bytes of block `cid` (bytes past its fill are zero).
void render_block(uint64_t cid, unsigned char* out);

}  // namespace pvesim
