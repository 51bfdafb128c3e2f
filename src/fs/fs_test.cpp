#include <zlib.h>

#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "fs/ext4_reader.h"
#include "fs/partition_table.h"
#include "fs/slice_source.h"

namespace pvesafe::fs {
namespace {

class MemSource : public BlockSource {
 public:
  explicit MemSource(size_t n) : d(n, 0) {}
  uint64_t size() const override { return d.size(); }
  void read(uint64_t off, uint8_t* buf, size_t n) override {
    if (off + n > d.size()) throw Error(Errc::kUsage, "beyond the end");
    if (fail_from < fail_to && off < fail_to && off + n > fail_from) {
      throw Error(Errc::kIntegrity, "chunk at " + std::to_string(fail_from) + " failed authentication");
    }
    std::memcpy(buf, d.data() + off, n);
  }
  std::string name() const override { return "mem"; }
  void put32(size_t off, uint32_t v) { for (int i = 0; i < 4; ++i) d[off + i] = static_cast<uint8_t>(v >> (8 * i)); }
  void put64(size_t off, uint64_t v) { put32(off, static_cast<uint32_t>(v)); put32(off + 4, static_cast<uint32_t>(v >> 32)); }
  void str(size_t off, const char* s) { std::memcpy(d.data() + off, s, std::strlen(s)); }
  std::vector<uint8_t> d;
  uint64_t fail_from = 0, fail_to = 0;
};

void mbr_entry(MemSource& m, size_t table, int i, uint8_t type, uint32_t start, uint32_t count) {
  size_t e = table + 446 + 16 * static_cast<size_t>(i);
  m.d[e + 4] = type;
  m.put32(e + 8, start);
  m.put32(e + 12, count);
  m.d[table + 510] = 0x55;
  m.d[table + 511] = 0xaa;
}

TEST(PartitionTable, MbrWithLogicalPartitions) {
  MemSource m(64 << 20);
  mbr_entry(m, 0, 0, 0x83, 2048, 4096);
  mbr_entry(m, 0, 1, 0x05, 8192, 65536);  // extended
  // First EBR at 8192: logical 5 at +2048, next EBR at extended+20480.
  mbr_entry(m, 8192 * 512, 0, 0x83, 2048, 8192);
  mbr_entry(m, 8192 * 512, 1, 0x05, 20480, 16384);
  mbr_entry(m, (8192 + 20480) * 512, 0, 0x8e, 2048, 4096);
  auto t = read_partition_table(m);
  ASSERT_EQ(t.scheme, "mbr");
  ASSERT_EQ(t.partitions.size(), 3u);
  EXPECT_EQ(t.partitions[0].number, 1);
  EXPECT_EQ(t.partitions[0].offset, 2048u * 512);
  EXPECT_EQ(t.partitions[1].number, 5);
  EXPECT_EQ(t.partitions[1].offset, (8192u + 2048) * 512);
  EXPECT_EQ(t.partitions[1].size, 8192u * 512);
  EXPECT_EQ(t.partitions[2].number, 6);
  EXPECT_EQ(t.partitions[2].offset, (8192u + 20480 + 2048) * 512);
  EXPECT_EQ(t.partitions[2].type, "Linux LVM");
}

TEST(PartitionTable, NoTableAndFilesystemBootSectors) {
  MemSource m(1 << 20);
  EXPECT_EQ(read_partition_table(m).scheme, "none");
  // A FAT boot sector ends in 55 AA too: its bytes are no partition table.
  m.d[0] = 0xeb;
  m.str(82, "FAT32   ");
  m.d[446] = 0x12;  // not a boot flag
  m.d[450] = 0x0b;
  m.d[510] = 0x55;
  m.d[511] = 0xaa;
  EXPECT_EQ(read_partition_table(m).scheme, "none");
  EXPECT_EQ(probe_volume(m).filesystem, "vfat");
}

// A GPT with one partition, headers at LBA 1 and the last LBA, entries after each.
void make_gpt(MemSource& m, uint64_t first, uint64_t last) {
  const uint64_t lbas = m.size() / 512;
  std::vector<uint8_t> entries(128 * 128, 0);
  const uint8_t linux_fs[16] = {0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4};
  std::memcpy(entries.data(), linux_fs, 16);
  entries[16] = 1;  // unique guid
  for (int i = 0; i < 8; ++i) entries[32 + i] = static_cast<uint8_t>(first >> (8 * i));
  for (int i = 0; i < 8; ++i) entries[40 + i] = static_cast<uint8_t>(last >> (8 * i));
  entries[56] = 'r';
  entries[58] = 'o';
  const uint32_t ecrc = static_cast<uint32_t>(crc32(0, entries.data(), static_cast<uInt>(entries.size())));
  auto header = [&](uint64_t at, uint64_t entries_at) {
    std::memcpy(m.d.data() + entries_at * 512, entries.data(), entries.size());
    size_t h = at * 512;
    m.str(h, "EFI PART");
    m.put32(h + 8, 0x00010000);
    m.put32(h + 12, 92);
    m.put64(h + 24, at);
    m.put64(h + 72, entries_at);
    m.put32(h + 80, 128);
    m.put32(h + 84, 128);
    m.put32(h + 88, ecrc);
    m.put32(h + 16, 0);
    m.put32(h + 16, static_cast<uint32_t>(crc32(0, m.d.data() + h, 92)));
  };
  header(1, 2);
  header(lbas - 1, lbas - 33);
}

TEST(PartitionTable, GptCheckedAndItsBackupUsed) {
  MemSource m(8 << 20);
  make_gpt(m, 2048, 10239);
  auto t = read_partition_table(m);
  ASSERT_EQ(t.scheme, "gpt");
  ASSERT_EQ(t.partitions.size(), 1u);
  EXPECT_EQ(t.partitions[0].type, "Linux filesystem");
  EXPECT_EQ(t.partitions[0].label, "ro");
  EXPECT_EQ(t.partitions[0].offset, 2048u * 512);
  EXPECT_EQ(t.partitions[0].size, 8192u * 512);
  m.d[512 + 40] ^= 1;  // the primary header no longer matches its CRC: the backup answers
  t = read_partition_table(m);
  ASSERT_EQ(t.partitions.size(), 1u);
  EXPECT_EQ(t.partitions[0].offset, 2048u * 512);
  m.d[m.size() - 512 + 40] ^= 1;  // both damaged
  try {
    read_partition_table(m);
    FAIL() << "a damaged GPT was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kIntegrity);
    EXPECT_NE(std::string(e.what()).find("CRC"), std::string::npos) << e.what();
  }
}

TEST(PartitionTable, ProbesSignatures) {
  MemSource m(1 << 20);
  m.str(0, "XFSB");
  EXPECT_EQ(probe_volume(m).filesystem, "xfs");
  MemSource l(1 << 20);
  l.str(512, "LABELONE");
  l.str(512 + 24, "LVM2 001");
  EXPECT_EQ(probe_volume(l).filesystem, "LVM2_member");
  MemSource n(1 << 20);
  n.str(3, "NTFS    ");
  EXPECT_EQ(probe_volume(n).filesystem, "ntfs");
  MemSource e(1 << 20);
  e.d[1024 + 56] = 0x53;
  e.d[1024 + 57] = 0xef;
  e.put32(1024 + 96, 0x40);  // extents
  e.str(1024 + 120, "root");
  auto p = probe_volume(e);
  EXPECT_EQ(p.filesystem, "ext4");
  EXPECT_EQ(p.label, "root");
}

TEST(SliceSource, TranslatesAndBounds) {
  MemSource m(1 << 20);
  m.d[4096] = 7;
  SliceSource s(m, 4096, 8192, "part");
  uint8_t b = 0;
  s.read(0, &b, 1);
  EXPECT_EQ(b, 7);
  EXPECT_THROW(s.read(8192, &b, 1), Error);
  EXPECT_THROW(SliceSource(m, 1 << 20, 1, "beyond"), Error);
}

TEST(Ext4Reader, RefusesWhatIsNotExt) {
  MemSource m(4 << 20);
  m.str(0, "XFSB");
  try {
    Ext4Reader r(m);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("xfs"), std::string::npos) << e.what();
  }
}

TEST(Ext4Reader, TheSourcesErrorIsReportedNotAShortRead) {
  MemSource m(4 << 20);
  m.fail_from = 0;
  m.fail_to = 8192;  // the superblock's chunk fails authentication
  try {
    Ext4Reader r(m);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kIntegrity);
    EXPECT_NE(std::string(e.what()).find("failed authentication"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pvesafe::fs
