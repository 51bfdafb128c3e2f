// pvesim's archive code on its own: VMA writer and reader round trips (odd sizes, clusters out of
// order), the reader's vma wording for each kind of damage, the header layout PVE's writer
// produces, the disk list of a guest config, and the determinism of the file system model.
// (tests/pvesim/archive_test.py judges the archives with an independent reader.)
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "content.h"
#include "fs_model.h"
#include "guest_disks.h"
#include "vma_reader.h"
#include "vma_stream.h"
#include "vma_writer.h"

namespace pvesim {
namespace {

using Bytes = std::vector<unsigned char>;

std::string sha256(const Bytes& b) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(b.data(), b.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) out += {hex[c >> 4], hex[c & 15]};
  return out;
}

// A disk of `size` bytes: random 4 KiB blocks, about a third left zero.
Bytes make_disk(uint64_t size, uint64_t seed) {
  Bytes d(size, 0);
  Rng r(seed);
  for (uint64_t off = 0; off < size; off += 4096) {
    if (r.chance(0.35)) continue;
    for (uint64_t k = off; k < std::min<uint64_t>(off + 4096, size); ++k)
      d[k] = static_cast<unsigned char>(r.next() | 1);
  }
  return d;
}

VmaSource source(const std::string& name, const Bytes& disk) {
  return {name, disk.size(), [&disk](uint64_t cluster, unsigned char* buf) {
            std::memset(buf, 0, kVmaCluster);
            uint64_t off = cluster * kVmaCluster;
            size_t n = static_cast<size_t>(std::min<uint64_t>(kVmaCluster, disk.size() - off));
            std::memcpy(buf, disk.data() + off, n);
            for (size_t k = 0; k < n; ++k)
              if (buf[k]) return true;
            return false;
          }};
}

Bytes write_vma(const std::vector<VmaSource>& sources, double percent, uint64_t seed,
                const Uuid& uuid = random_uuid_v4()) {
  Bytes out;
  write_vma_stream([&](const unsigned char* p, size_t n) { out.insert(out.end(), p, p + n); }, uuid,
                   1772326800, {{"qemu-server.conf", "name: t\n"}}, sources,
                   random_guest_writes(sources, percent, seed));
  return out;
}

// Feeds bytes to read_vma through a pipe (as qmrestore reads a decompressor's output).
VmaContents read_bytes(const Bytes& vma, const std::string& dir) {
  int p[2];
  EXPECT_EQ(pipe(p), 0);
  std::string err;
  VmaContents c;
  std::thread writer([&] {
    size_t off = 0;
    while (off < vma.size()) {
      ssize_t n = write(p[1], vma.data() + off, std::min<size_t>(65536, vma.size() - off));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(p[1]);
  });
  try {
    c = read_vma(p[0], dir);
  } catch (...) {
    // drain so the writer thread ends, then rethrow
    char buf[65536];
    while (read(p[0], buf, sizeof buf) > 0) {
    }
    close(p[0]);
    writer.join();
    throw;
  }
  char buf[65536];
  while (read(p[0], buf, sizeof buf) > 0) {
  }
  close(p[0]);
  writer.join();
  return c;
}

std::string temp_dir() {
  std::string t = testing::TempDir() + "/pvesim-vma-XXXXXX";
  EXPECT_NE(mkdtemp(t.data()), nullptr);
  return t;
}

uint32_t be32(const Bytes& b, size_t at) {
  return static_cast<uint32_t>(b[at]) << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3];
}

TEST(PvesimVma, RoundTripOddSizesOutOfOrder) {
  Bytes a = make_disk(1000000, 1), b = make_disk(3 * 65536 + 5 * 4096 + 100, 2),
        c = make_disk(540672, 3);
  std::vector<VmaSource> src = {source("drive-scsi0", a), source("drive-sata1", b),
                                source("drive-efidisk0", c)};
  std::string dir = temp_dir();
  for (double pct : {0.0, 10.0, 50.0}) {
    VmaContents got = read_bytes(write_vma(src, pct, 9), dir);
    ASSERT_EQ(got.devices.size(), 3u);
    EXPECT_EQ(got.devices[0].sha256, sha256(a));
    EXPECT_EQ(got.devices[1].sha256, sha256(b));
    EXPECT_EQ(got.devices[2].sha256, sha256(c));
    EXPECT_EQ(got.devices[2].name, "drive-efidisk0");
    EXPECT_EQ(got.ctime, 1772326800);
    ASSERT_EQ(got.configs.size(), 1u);
    EXPECT_EQ(got.configs[0],
              (std::pair<std::string, std::string>{"qemu-server.conf", "name: t\n"}));
    if (pct == 0)
      EXPECT_EQ(got.out_of_order, 0u);
    else
      EXPECT_GT(got.out_of_order, 0u);
  }
  rmdir(dir.c_str());
}

TEST(PvesimVma, HeaderLayoutAsPveWritesIt) {
  Bytes disk = make_disk(58 * 65536, 4);  // 58 clusters: one full extent
  Uuid u{};
  ASSERT_TRUE(parse_uuid("0b5e7a3c-1111-4222-8333-444455556666", u));
  Bytes out;
  VmaWriter w([&](const unsigned char* p, size_t n) { out.insert(out.end(), p, p + n); }, u, 42);
  w.add_config("qemu-server.conf", std::string(700, 'x'));  // the table grows to 512 + 1024
  int id = w.add_device("drive-scsi0", disk.size());
  EXPECT_EQ(id, 1);
  Bytes cl(kVmaCluster);
  for (uint64_t k = 0; k < 58; ++k) {
    std::memcpy(cl.data(), disk.data() + k * kVmaCluster, kVmaCluster);
    w.write_cluster(id, k, cl.data());
  }
  w.finish();
  EXPECT_EQ(be32(out, 48), 12288u);                          // blob buffer offset
  EXPECT_EQ(be32(out, 52), 1u + 2 + 17 + 2 + 700 + 2 + 12);  // used length, from offset 1
  EXPECT_EQ(be32(out, 56), 12288u + 1536);                   // PVE's growth steps
  EXPECT_EQ(be32(out, 2044), 1u);                            // first name at offset 1
  EXPECT_EQ(be32(out, 4096 + 32), 1u + 2 + 17 + 2 + 700);    // dev 1's name after the config
  EXPECT_EQ(w.extents(), 1u);
  std::string dir = temp_dir();
  EXPECT_EQ(read_bytes(out, dir).devices.at(0).sha256, sha256(disk));
  rmdir(dir.c_str());
  // Without any disk, the final flush writes the header and an extent without clusters.
  Bytes bare;
  VmaWriter w2([&](const unsigned char* p, size_t n) { bare.insert(bare.end(), p, p + n); }, u, 42);
  w2.add_config("qemu-server.conf", "name: t\n");
  w2.finish();
  ASSERT_EQ(bare.size(), be32(bare, 56) + 512u);
  size_t last = bare.size() - 512;
  EXPECT_EQ(std::memcmp(bare.data() + last, "VMAE", 4), 0);
  EXPECT_EQ(bare[last + 6], 0);
  EXPECT_EQ(bare[last + 7], 0);
  EXPECT_EQ(std::memcmp(bare.data() + last + 8, u.data(), 16), 0);
  EXPECT_EQ(read_bytes(bare, "").extents, 1u);
}

TEST(PvesimVma, ReaderReportsDamageInVmaWords) {
  Bytes disk = make_disk(200 * 65536, 5);
  std::vector<VmaSource> src = {source("drive-scsi0", disk)};
  Bytes good = write_vma(src, 0, 1);
  size_t h = be32(good, 56);
  size_t first = 512 + (static_cast<size_t>(good[h + 6]) << 8 | good[h + 7]) * 4096;
  size_t second = h + first;
  size_t second_len = 512 + (static_cast<size_t>(good[second + 6]) << 8 | good[second + 7]) * 4096;
  auto expect = [&](Bytes bad, const std::string& words) {
    try {
      read_bytes(bad, "");
      ADD_FAILURE() << "accepted: " << words;
    } catch (const VmaError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  Bytes b = good;
  b[100] ^= 1;
  expect(b, "wrong vma header chechsum");
  b = good;
  b[h + 30] ^= 1;
  expect(b, "wrong vma extent header chechsum");
  b = good;
  b.erase(b.begin() + static_cast<long>(second),
          b.begin() + static_cast<long>(second + second_len));
  expect(b, "detected missing cluster 58 for stream drive-scsi0");
  b = good;
  b.insert(b.end(), good.begin() + static_cast<long>(h), good.begin() + static_cast<long>(second));
  expect(b, "found duplicated cluster 0 for stream drive-scsi0");
  b = good;
  b.resize(b.size() - 1000);
  expect(b, "short vma extent");
  b = good;
  b[0] = 'X';
  expect(b, "not a vma file - wrong magic number");
  // Another archive's extent: its uuid differs (and so its MD5 is valid for that header).
  Bytes other = write_vma(src, 0, 1);
  b = good;
  std::copy(other.begin() + static_cast<long>(second),
            other.begin() + static_cast<long>(second + 512), b.begin() + static_cast<long>(second));
  expect(b, "wrong vma extent uuid");
}

TEST(PvesimGuestDisks, OrderNamesAndSizes) {
  std::map<std::string, std::string> cfg = {
      {"virtio1", "local-lvm:vm-100-disk-1,size=64G"},
      {"scsi0", "local-lvm:vm-100-disk-0,iothread=1,size=32G"},
      {"ide2", "local:iso/debian.iso,media=cdrom,size=600M"},
      {"sata0", "local-lvm:vm-100-disk-4,backup=0,size=8G"},
      {"tpmstate0", "local-lvm:vm-100-disk-3,size=4M,version=v2.0"},
      {"efidisk0", "local-lvm:vm-100-disk-2,efitype=4m,size=528K"}};
  std::vector<std::string> excluded;
  auto d = guest_disks("qemu", cfg, 100ull << 20, &excluded);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].devname, "drive-scsi0");
  EXPECT_EQ(d[1].devname, "drive-virtio1");
  EXPECT_EQ(d[2].devname, "drive-efidisk0");
  EXPECT_EQ(d[3].devname, "drive-tpmstate0-backup");
  EXPECT_EQ(d[2].size, 540672u);
  EXPECT_EQ(d[3].size, 4u << 20);
  EXPECT_NEAR(static_cast<double>(d[1].size) / static_cast<double>(d[0].size), 2.0, 0.1);
  uint64_t total = 0;
  for (const auto& x : d) total += x.size;
  EXPECT_LE(total, 100ull << 20);
  EXPECT_EQ(excluded, std::vector<std::string>{"sata0 'local-lvm:vm-100-disk-4' (backup=no)"});
  EXPECT_EQ(d[0].storage, "local-lvm");
  EXPECT_EQ(d[0].format, "raw");
}

TEST(PvesimFsModel, DeterministicAndNextDayWritesAreTheChanges) {
  FsModel a(77, 48ull << 20, DiskRole::kSystem), b(77, 48ull << 20, DiskRole::kSystem);
  a.advance_to(30);
  b.advance_to(29);
  std::vector<uint32_t> writes = b.next_day_writes();
  std::vector<uint64_t> before = b.cids();
  b.advance_to(30);
  EXPECT_EQ(a.cids(), b.cids());
  std::set<uint32_t> w(writes.begin(), writes.end());
  uint64_t changed = 0;
  for (uint32_t k = 0; k < before.size(); ++k) {
    if (before[k] == b.cid(k)) continue;
    ++changed;
    EXPECT_TRUE(w.count(k)) << "block " << k << " changed but was not among the writes";
    EXPECT_NE(b.cid(k), 0u) << "a written block became zero";
  }
  double rate = static_cast<double>(changed) / static_cast<double>(b.used_blocks());
  EXPECT_GT(rate, 0.005);
  EXPECT_LT(rate, 0.05);
  FsModel other(78, 48ull << 20, DiskRole::kSystem);
  other.advance_to(30);
  EXPECT_NE(other.cids(), a.cids());
}

TEST(PvesimContent, RenderedBlocksAreDistinctAndOnlyIdZeroIsZero) {
  Bytes x(kBlockSize), y(kBlockSize), zero(kBlockSize, 0);
  for (int k = 1; k <= 9; ++k) {
    auto kind = static_cast<BlockKind>(k);
    render_block(make_cid(kind, 0, 1001), x.data());
    render_block(make_cid(kind, 0, 1002), y.data());
    EXPECT_NE(x, zero) << k;
    EXPECT_NE(x, y) << k;
    Bytes again(kBlockSize);
    render_block(make_cid(kind, 0, 1001), again.data());
    EXPECT_EQ(x, again) << k;
  }
  render_block(make_cid(BlockKind::kLog, 100, 5), x.data());
  EXPECT_EQ(Bytes(x.begin() + 100, x.end()), Bytes(kBlockSize - 100, 0));
  render_block(0, x.data());
  EXPECT_EQ(x, zero);
}

}  // namespace
}  // namespace pvesim
