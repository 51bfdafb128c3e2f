// pvesafe-gen-image: writes a deterministic disk-like image to stdout, fast (about 1 GB/s),
// for the end-to-end tests (tests/repo) and the backup benchmark (bench/backup).
//
//   pvesafe-gen-image --size BYTES [--seed N] [--mutate-percent P --mutate-regions R --mutate-seed M]
//
// The image is a sequence of regions (64 KiB .. 4 MiB) of four kinds, chosen by the seed:
// zero runs (unused disk space), a repeated 4 KiB block (filesystem metadata, sparse patterns),
// text-like data (log and config files: words from a small dictionary), and random bytes
// (compressed or encrypted files). With --mutate-percent, P percent of the bytes are overwritten
// with fresh random data in R contiguous regions at seed-chosen offsets: the image a VM disk
// becomes after a day of writes, same size, same everything else.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct SplitMix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

void fill_random(uint8_t* p, size_t n, SplitMix& r) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = r.next();
    std::memcpy(p + i, &v, 8);
  }
  uint64_t v = r.next();
  for (; i < n; ++i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}

const char* kWords[] = {"the", "backup", "node", "cluster", "error", "info", "warning", "disk", "volume",
                        "snapshot", "proxmox", "guest", "memory", "network", "bridge", "vmbr0", "started",
                        "stopped", "task", "OK", "kernel:", "systemd[1]:", "root", "/var/lib/vz", "2026-11-24",
                        "01:00:00", "pve-01", "qemu", "lxc", "debian", "config", "=", "true", "false", "0x1f",
                        "user", "login", "session", "closed", "for", "of", "and", "to", "in", "a"};
constexpr size_t kWordCount = sizeof kWords / sizeof kWords[0];

void fill_text(uint8_t* p, size_t n, SplitMix& r) {
  size_t i = 0;
  uint64_t bits = 0;
  int left = 0;
  while (i < n) {
    if (left < 8) {
      bits = r.next();
      left = 64;
    }
    unsigned w = static_cast<unsigned>(bits & 63) % kWordCount;
    bool newline = ((bits >> 6) & 15) == 0;
    bits >>= 10;
    left -= 10;
    const char* word = kWords[w];
    size_t len = std::strlen(word);
    for (size_t k = 0; k < len && i < n; ++k) p[i++] = static_cast<uint8_t>(word[k]);
    if (i < n) p[i++] = newline ? '\n' : ' ';
  }
}

uint64_t parse_u64(const char* s) { return std::strtoull(s, nullptr, 10); }

void usage() {
  std::fprintf(stderr,
               "usage: pvesafe-gen-image --size BYTES [--seed N] [--mutate-percent P "
               "--mutate-regions R --mutate-seed M]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t size = 0, seed = 1, mutate_seed = 1, regions = 8;
  double mutate_percent = 0;
  bool have_size = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage();
    if (a == "--size") size = parse_u64(argv[++i]), have_size = true;
    else if (a == "--seed") seed = parse_u64(argv[++i]);
    else if (a == "--mutate-percent") mutate_percent = std::atof(argv[++i]);
    else if (a == "--mutate-regions") regions = std::max<uint64_t>(1, parse_u64(argv[++i]));
    else if (a == "--mutate-seed") mutate_seed = parse_u64(argv[++i]);
    else usage();
  }
  if (!have_size) usage();

  // Mutation regions: [start, end) sorted, non-overlapping (best effort).
  std::vector<std::pair<uint64_t, uint64_t>> muts;
  if (mutate_percent > 0 && size > 0) {
    SplitMix mr{mutate_seed * 0x1234567ULL + 99};
    uint64_t per = static_cast<uint64_t>(static_cast<double>(size) * mutate_percent / 100.0 / static_cast<double>(regions));
    per = std::max<uint64_t>(per, 1);
    for (uint64_t k = 0; k < regions; ++k) {
      uint64_t slot = size / regions;
      uint64_t start = k * slot + (slot > per ? mr.next() % (slot - per) : 0);
      muts.emplace_back(start, std::min(size, start + per));
    }
  }
  SplitMix mutation_data{mutate_seed ^ 0xfeedULL};

  SplitMix layout{seed};
  std::vector<uint8_t> block(4096);
  std::vector<uint8_t> buf(4 << 20);
  uint64_t written = 0;
  while (written < size) {
    uint64_t kind = layout.next() % 100;
    uint64_t len = (64 << 10) << (layout.next() % 7);  // 64 KiB .. 4 MiB
    len = std::min<uint64_t>(len, size - written);
    SplitMix content{layout.next()};
    uint8_t* p = buf.data();
    if (kind < 30) {
      std::memset(p, 0, len);
    } else if (kind < 50) {
      fill_random(block.data(), block.size(), content);
      for (uint64_t o = 0; o < len; o += block.size()) std::memcpy(p + o, block.data(), std::min<uint64_t>(block.size(), len - o));
    } else if (kind < 75) {
      fill_text(p, len, content);
    } else {
      fill_random(p, len, content);
    }
    for (const auto& [ms, me] : muts) {
      uint64_t a = std::max(ms, written), b = std::min(me, written + len);
      if (a < b) fill_random(p + (a - written), b - a, mutation_data);
    }
    size_t off = 0;
    while (off < len) {
      ssize_t w = ::write(1, p + off, len - off);
      if (w < 0) {
        std::perror("pvesafe-gen-image: write");
        return 1;
      }
      off += static_cast<size_t>(w);
    }
    written += len;
  }
  return 0;
}
