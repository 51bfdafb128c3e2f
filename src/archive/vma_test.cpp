#include "archive/vma.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "archive/input.h"
#include "archive/vma_test_writer.h"
#include "core/error.h"

namespace pvesafe::archive {
namespace {

using testing::TestVma;
using testing::write_test_vma;

class VecSource : public ByteSource {
 public:
  explicit VecSource(std::vector<uint8_t> v, size_t step = 100000) : v_(std::move(v)), step_(step) {}
  size_t read(uint8_t* buf, size_t n) override {
    n = std::min({n, step_, v_.size() - pos_});
    std::memcpy(buf, v_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  std::string name() const override { return "test.vma"; }

 private:
  std::vector<uint8_t> v_;
  size_t step_, pos_ = 0;
};

class VecSink : public ByteSink {
 public:
  void write(const uint8_t* b, size_t n) override { out.insert(out.end(), b, b + n); }
  void finish() override {}
  std::vector<uint8_t> out;
};

// Disk content with zero clusters, zero 4 KiB blocks inside data clusters, and data.
std::vector<uint8_t> make_disk(size_t size, uint32_t seed) {
  std::vector<uint8_t> d(size, 0);
  std::mt19937 rng(seed);
  for (size_t c = 0; c * 65536 < size; ++c) {
    if (c % 3 == 2) continue;  // a zero cluster
    for (size_t b = 0; b < 16; ++b) {
      size_t start = c * 65536 + b * 4096;
      if (start >= size || b % 5 == 4) continue;  // a zero block
      for (size_t i = start; i < std::min(size, start + 4096); ++i) d[i] = static_cast<uint8_t>(rng());
    }
  }
  return d;
}

// Records what read_vma reports and rebuilds the disks from the clusters.
struct Collect : VmaVisitor {
  VmaHeader h;
  std::vector<uint8_t> structure;
  std::map<uint8_t, std::vector<uint8_t>> disks;
  void header(const VmaHeader& hh) override {
    h = hh;
    structure = hh.bytes;
    vma_strip_header(structure);
    for (const auto& d : h.devices) disks[d.id].assign(d.clusters() * kVmaClusterBytes, 0);
  }
  void extent(uint64_t, std::span<const uint8_t> e) override {
    size_t at = structure.size();
    structure.insert(structure.end(), e.begin(), e.end());
    vma_strip_extent({structure.data() + at, e.size()});
  }
  void cluster(const VmaDevice& dev, uint32_t c, uint16_t, std::span<const uint8_t> data) override {
    std::memcpy(disks[dev.id].data() + uint64_t{c} * kVmaClusterBytes, data.data(), kVmaClusterBytes);
  }
};

TestVma two_disks() {
  TestVma v;
  v.disks.push_back({"drive-scsi0", make_disk(3 * 1024 * 1024 + 12345, 1)});  // last cluster partial
  v.disks.push_back({"drive-efidisk0", make_disk(528 * 1024, 2)});
  return v;
}

TEST(Vma, ReadsDisksConfigsAndRebuildsBitForBit) {
  TestVma v = two_disks();
  // Out of order: a few clusters of disk 0 early (copy-before-write), disks interleaved.
  v.order = {{0, 40}, {0, 7}, {1, 0}};
  for (uint32_t c = 0; c < 49; ++c) {
    if (c != 40 && c != 7) v.order.emplace_back(0, c);
  }
  for (uint32_t c = 1; c < 9; ++c) v.order.emplace_back(1, c);
  auto archive = write_test_vma(v);

  VecSource src(archive);
  Collect col;
  EXPECT_EQ(read_vma(src, col), archive.size());
  ASSERT_EQ(col.h.devices.size(), 2u);
  EXPECT_EQ(col.h.devices[0].name, "drive-scsi0");
  EXPECT_EQ(col.h.devices[1].size_bytes, 528u * 1024);
  ASSERT_EQ(col.h.configs.size(), 1u);
  EXPECT_EQ(std::string(col.h.configs[0].data.begin(), col.h.configs[0].data.end()), v.configs[0].second);
  for (size_t d = 0; d < 2; ++d) {
    auto got = col.disks[static_cast<uint8_t>(d + 1)];
    got.resize(v.disks[d].data.size());
    EXPECT_EQ(got, v.disks[d].data) << "disk " << d;
  }

  VmaUuid uuid;
  std::memcpy(uuid.data(), v.uuid, 16);
  VmaRebuilder rb(col.structure, uuid);
  EXPECT_EQ(rb.archive_bytes(), archive.size());
  VecSink sink;
  rb.write(sink, [&](uint8_t dev, uint32_t c) { return col.disks[dev].data() + uint64_t{c} * kVmaClusterBytes; });
  EXPECT_EQ(sink.out, archive);
}

TEST(Vma, StructureOfTwoBackupsDiffersOnlyInUuidAndMd5) {
  TestVma a = two_disks(), b = two_disks();
  b.uuid[0] = 99;
  VecSource sa(write_test_vma(a)), sb(write_test_vma(b));
  Collect ca, cb;
  read_vma(sa, ca);
  read_vma(sb, cb);
  EXPECT_EQ(ca.structure, cb.structure);  // so the structure dedups from day to day
}

Errc code_of(const std::vector<uint8_t>& archive, std::string* message = nullptr) {
  VecSource src(archive);
  Collect col;
  try {
    read_vma(src, col);
  } catch (const Error& e) {
    if (message) *message = e.message();
    return e.code();
  }
  return Errc::kInternal;
}

TEST(Vma, BadInputIsAnIntegrityErrorNamingTheOffset) {
  TestVma v = two_disks();
  const auto good = write_test_vma(v);
  const size_t header = good.size() - (good.size() - 12288) + 512;  // header is 12288 + 512 here
  std::string msg;

  auto truncated = good;
  truncated.resize(good.size() - 1000);
  EXPECT_EQ(code_of(truncated, &msg), Errc::kIntegrity);
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte"), std::string::npos) << msg;

  auto cut_at_extent = good;  // ends exactly after the header: every cluster missing
  cut_at_extent.resize(header);
  EXPECT_EQ(code_of(cut_at_extent, &msg), Errc::kIntegrity);
  EXPECT_NE(msg.find("never appeared"), std::string::npos) << msg;

  auto bad_header = good;
  bad_header[5000] ^= 1;
  EXPECT_EQ(code_of(bad_header, &msg), Errc::kIntegrity);
  EXPECT_NE(msg.find("header md5"), std::string::npos) << msg;

  auto bad_extent = good;
  bad_extent[header + 45] ^= 1;  // a blockinfo byte of the first extent
  EXPECT_EQ(code_of(bad_extent, &msg), Errc::kIntegrity);
  EXPECT_NE(msg.find("extent md5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte " + std::to_string(header)), std::string::npos) << msg;

  TestVma other_uuid = v;
  // Splice: the header of one archive, the extents of another with a different uuid.
  other_uuid.uuid[3] = 77;
  auto a2 = write_test_vma(other_uuid);
  std::vector<uint8_t> spliced(good.begin(), good.begin() + static_cast<ptrdiff_t>(header));
  spliced.insert(spliced.end(), a2.begin() + static_cast<ptrdiff_t>(header), a2.end());
  EXPECT_EQ(code_of(spliced, &msg), Errc::kIntegrity);
  EXPECT_NE(msg.find("uuid"), std::string::npos) << msg;

  TestVma unknown = v;
  unknown.order = {{0, 0}};
  auto u = write_test_vma(unknown);
  // Rewrite the first blockinfo's device id to 9 and fix the md5, as a broken writer would.
  u[header + 40 + 3] = 9;
  testing::md5_into(u.data() + header, 512, 24);
  EXPECT_EQ(code_of(u, &msg), Errc::kIntegrity);
  EXPECT_NE(msg.find("device id 9"), std::string::npos) << msg;

  TestVma beyond = v;
  beyond.order = {{1, 0}, {1, 200}};
  EXPECT_EQ(code_of(write_test_vma(beyond), &msg), Errc::kIntegrity);
  EXPECT_NE(msg.find("beyond its size"), std::string::npos) << msg;

  TestVma twice = v;
  twice.order = {{1, 0}, {1, 0}};
  EXPECT_EQ(code_of(write_test_vma(twice), &msg), Errc::kIntegrity);
  EXPECT_NE(msg.find("second time"), std::string::npos) << msg;

  std::vector<uint8_t> not_vma(20000, 7);
  EXPECT_EQ(code_of(not_vma, &msg), Errc::kIntegrity);
}

TEST(ArchiveInput, DetectsCompressedArchivesAndPassesOthersThrough) {
  EXPECT_EQ(strip_compression_suffix("vzdump-qemu-100-2026_01_01-00_00_00.vma.zst"),
            "vzdump-qemu-100-2026_01_01-00_00_00.vma");
  EXPECT_EQ(strip_compression_suffix("vzdump-lxc-101-2026_01_01-00_00_00.tar.gz"),
            "vzdump-lxc-101-2026_01_01-00_00_00.tar");
  EXPECT_EQ(strip_compression_suffix("notes.txt.zst"), "notes.txt.zst");
  auto archive = write_test_vma(two_disks());
  VecSource src(archive);
  ArchiveInput in(src);
  EXPECT_EQ(in.content(), Content::kVma);
  EXPECT_EQ(in.compression(), Compression::kNone);
  std::vector<uint8_t> back(archive.size() + 10);
  EXPECT_EQ(read_full(in, back.data(), back.size()), archive.size());
  back.resize(archive.size());
  EXPECT_EQ(back, archive);
}

}  // namespace
}  // namespace pvesafe::archive
