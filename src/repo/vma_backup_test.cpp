// VMA archives through the repository: stored by disk, rebuilt bit for bit, deduplicated from one
// day to the next whatever the uuid and cluster order; compressed archives stored uncompressed;
// bad archives leave nothing behind; gc repacks and every remaining snapshot still restores.
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>

#include "archive/vma_test_writer.h"
#include "core/error.h"
#include "repo/backup.h"
#include "repo/disk_reader.h"
#include "repo/gc.h"
#include "repo/layout.h"
#include "repo/restore.h"
#include "repo/verify.h"
#include "store/local/local_store.h"

namespace pvesafe::repo {
namespace {

using archive::testing::TestVma;
using archive::testing::write_test_vma;

class Bytes : public ByteSource {
 public:
  Bytes(std::vector<uint8_t> d, std::string name) : d_(std::move(d)), name_(std::move(name)) {}
  size_t read(uint8_t* buf, size_t n) override {
    n = std::min(n, std::min<size_t>(d_.size() - off_, 300001));
    std::memcpy(buf, d_.data() + off_, n);
    off_ += n;
    return n;
  }
  std::string name() const override { return name_; }

 private:
  std::vector<uint8_t> d_;
  std::string name_;
  size_t off_ = 0;
};

class Sink : public ByteSink {
 public:
  void write(const uint8_t* b, size_t n) override { data.insert(data.end(), b, b + n); }
  void finish() override { finished = true; }
  std::vector<uint8_t> data;
  bool finished = false;
};

const char* kName = "vzdump-qemu-100-2026_11_24-01_00_00.vma";

struct VmaRepository : ::testing::Test {
  std::string dir;
  Secret pass{"pw"};
  std::unique_ptr<Repository> repo;
  void SetUp() override {
    char tmpl[] = "/tmp/pvesafe-vma-test-XXXXXX";
    dir = mkdtemp(tmpl);
    InitOptions io;
    io.chunker = {16384, 65536, 262144};
    io.pack_bytes = 1 << 20;  // several packs even for small test disks
    repo = std::make_unique<Repository>(Repository::init(store::make_local_store(dir), pass, io));
  }
  void TearDown() override {
    repo.reset();
    std::filesystem::remove_all(dir);
  }
  BackupResult backup_bytes(std::vector<uint8_t> bytes, std::string name = kName,
                            BackupOptions o = {}) {
    Bytes src(std::move(bytes), std::move(name));
    o.threads = 3;
    return backup(*repo, src, o);
  }
  std::vector<uint8_t> restore_all(const std::string& id) {
    Sink s;
    restore(*repo, id, s);
    EXPECT_TRUE(s.finished);
    return s.data;
  }
  std::vector<uint8_t> restore_one_disk(const std::string& id, const std::string& disk) {
    Sink s;
    restore_disk(*repo, id, disk, s);
    return s.data;
  }
  size_t snapshot_count() {
    size_t n = 0;
    repo->store().list("snapshots/", [&](const store::ObjectInfo&) { ++n; });
    return n;
  }
};

// A disk that looks used: data clusters with zero 4 KiB blocks inside, long zero regions.
std::vector<uint8_t> disk(size_t size, uint32_t seed) {
  std::vector<uint8_t> d(size, 0);
  std::mt19937 rng(seed);
  for (size_t c = 0; c * 65536 < size; ++c) {
    if ((c / 16) % 3 == 2) continue;  // 1 MiB zero regions
    for (size_t b = 0; b < 16; ++b) {
      size_t start = c * 65536 + b * 4096;
      if (start >= size || (c + b) % 7 == 0) continue;
      for (size_t i = start; i < std::min(size, start + 4096); ++i)
        d[i] = static_cast<uint8_t>(rng());
    }
  }
  return d;
}

TestVma guest(uint8_t uuid0) {
  TestVma v;
  v.uuid[0] = uuid0;
  v.disks.push_back({"drive-scsi0", disk(12 * 1024 * 1024 + 4096 + 100, 1)});
  v.disks.push_back({"drive-efidisk0", disk(528 * 1024, 2)});
  return v;
}

// A running guest: some clusters of disk 0 come early (copy-before-write).
void out_of_order(TestVma& v, uint32_t seed) {
  std::mt19937 rng(seed);
  const uint32_t n0 = static_cast<uint32_t>((v.disks[0].data.size() + 65535) / 65536);
  std::vector<uint32_t> early;
  for (int i = 0; i < 12; ++i) early.push_back(static_cast<uint32_t>(rng() % n0));
  std::sort(early.begin(), early.end());
  early.erase(std::unique(early.begin(), early.end()), early.end());
  v.order.clear();
  for (uint32_t c : early) v.order.emplace_back(0, c);
  for (uint32_t c = 0; c < n0; ++c) {
    if (!std::binary_search(early.begin(), early.end(), c)) v.order.emplace_back(0, c);
  }
  for (uint32_t c = 0; c < 9; ++c) v.order.emplace_back(1, c);
}

TEST_F(VmaRepository, VmaIsStoredByDiskAndRebuiltBitForBit) {
  TestVma v = guest(1);
  out_of_order(v, 5);
  auto archive = write_test_vma(v);
  auto r = backup_bytes(archive);
  EXPECT_EQ(r.snapshot.kind, "vma");
  EXPECT_EQ(r.size_bytes, archive.size());
  ASSERT_EQ(r.disks.size(), 2u);
  EXPECT_EQ(r.disks[0].name, "drive-scsi0");
  EXPECT_LT(r.disks[0].data_bytes, v.disks[0].data.size());  // zero regions not stored
  EXPECT_EQ(restore_all(r.snapshot_id), archive);
  EXPECT_EQ(restore_one_disk(r.snapshot_id, "drive-scsi0"), v.disks[0].data);
  EXPECT_EQ(restore_one_disk(r.snapshot_id, "drive-efidisk0"), v.disks[1].data);
  SnapshotReader snap(*repo, r.snapshot_id);
  ASSERT_EQ(snap.manifest().configs.size(), 1u);
  auto conf = snap.config(snap.manifest().configs[0]);
  EXPECT_EQ(std::string(conf.begin(), conf.end()), v.configs[0].second);
  try {
    restore_one_disk(r.snapshot_id, "drive-virtio9");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kNotFound);
    EXPECT_NE(e.hint().find("drive-scsi0"), std::string::npos);
  }
  EXPECT_TRUE(verify(*repo, VerifyOptions{true}).ok());
}

TEST_F(VmaRepository, DisksReadAtAnyOffsetFetchingOnlyWhatIsRead) {
  TestVma v = guest(1);
  auto r = backup_bytes(write_test_vma(v));
  auto disk = open_snapshot_disk(*repo, r.snapshot_id, "drive-scsi0");
  const auto& want = v.disks[0].data;
  ASSERT_EQ(disk->size(), want.size());
  std::mt19937 rng(4);
  std::vector<uint8_t> buf(1 << 20);
  for (int k = 0; k < 200; ++k) {
    uint64_t off = rng() % want.size();
    size_t n = std::min<size_t>(1 + rng() % buf.size(), want.size() - off);
    disk->read(off, buf.data(), n);
    ASSERT_TRUE(std::equal(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n),
                           want.begin() + static_cast<ptrdiff_t>(off)))
        << "at " << off << " length " << n;
  }
  // The last bytes (a partial chunk) and reads straddling chunk boundaries.
  disk->read(want.size() - 100, buf.data(), 100);
  EXPECT_TRUE(std::equal(buf.begin(), buf.begin() + 100, want.end() - 100));
  for (uint64_t edge : {uint64_t{65536}, uint64_t{131072}, uint64_t{262144}}) {
    disk->read(edge - 10, buf.data(), 20);
    EXPECT_TRUE(
        std::equal(buf.begin(), buf.begin() + 20, want.begin() + static_cast<ptrdiff_t>(edge) - 10))
        << edge;
  }
  EXPECT_THROW(disk->read(want.size() - 1, buf.data(), 2), Error);
  // Zero regions are reported and cost nothing.
  auto ex = disk->extents(0, disk->size());
  uint64_t zero = 0, pos = 0;
  for (const auto& e : ex) {
    EXPECT_EQ(e.offset, pos);
    pos += e.length;
    if (e.zero) {
      zero += e.length;
      EXPECT_TRUE(std::all_of(want.begin() + static_cast<ptrdiff_t>(e.offset),
                              want.begin() + static_cast<ptrdiff_t>(e.offset + e.length),
                              [](uint8_t b) { return b == 0; }));
    }
  }
  EXPECT_EQ(pos, want.size());
  EXPECT_GT(zero, want.size() / 4);
  // A small read on a fresh reader fetches one chunk, not the disk.
  auto fresh =
      open_snapshot_disk(*repo, r.snapshot_id, "drive-scsi0", DiskReaderOptions{8 << 20, 0, 0});
  fresh->read(5000, buf.data(), 100);
  EXPECT_LT(fresh->fetched_bytes(), 300u * 1024);
  // A damaged chunk fails the read that needs it. (The reader is opened first: the disk's chunk
  // lists live in the same packs.)
  auto hurt =
      open_snapshot_disk(*repo, r.snapshot_id, "drive-scsi0", DiskReaderOptions{8 << 20, 0, 0});
  std::vector<std::string> packs;
  repo->store().list("packs/", [&](const store::ObjectInfo& o) { packs.push_back(o.key); });
  for (const auto& p : packs) {
    auto obj = repo->store().get(p);
    for (size_t at = 100; at < obj.size(); at += 4096) obj[at] ^= 1;  // every chunk of every pack
    repo->store().put(p, obj);
  }
  try {
    hurt->read(0, buf.data(), 4096);
    FAIL() << "a damaged chunk was served";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kIntegrity);
  }
}

TEST_F(VmaRepository, DayTwoStoresWhatChangedWhateverUuidAndOrder) {
  TestVma day1 = guest(1);
  auto r1 = backup_bytes(write_test_vma(day1));
  TestVma day2 = guest(2);  // a fresh uuid
  // Rewrite 4 scattered 64 KiB regions of the data, and let the guest run: other cluster order.
  std::mt19937 rng(3);
  for (uint64_t off : {uint64_t{65536}, uint64_t{3} << 20, uint64_t{7} << 20, uint64_t{11} << 20}) {
    for (size_t i = 0; i < 65536; ++i)
      day2.disks[0].data[off + i] = static_cast<uint8_t>(rng() | 1);
  }
  out_of_order(day2, 9);
  auto archive2 = write_test_vma(day2);
  BackupOptions o;
  o.time = std::chrono::system_clock::now() + std::chrono::seconds(1);
  auto r2 = backup_bytes(archive2, kName, o);
  // 4 changed disk chunks (256 KiB each) plus lists and structure: a small share of day 1.
  EXPECT_LE(r2.new_chunks, 4u + 4u);
  EXPECT_LT(r2.stored_bytes * 5, r1.stored_bytes) << r2.stored_bytes << " vs " << r1.stored_bytes;
  EXPECT_EQ(restore_all(r2.snapshot_id), archive2);
  EXPECT_EQ(restore_all(r1.snapshot_id), write_test_vma(day1));
  EXPECT_EQ(repo->resolve_snapshot("latest"), r2.snapshot_id);
}

TEST_F(VmaRepository, OutOfOrderClustersBeyondTheMemoryBudgetAreStoredAsPieces) {
  TestVma v = guest(1);
  out_of_order(v, 7);
  auto archive = write_test_vma(v);
  BackupOptions o;
  o.vma_pending_budget_bytes = 0;  // every waiting chunk is broken up at once
  auto r = backup_bytes(archive, kName, o);
  EXPECT_EQ(restore_all(r.snapshot_id), archive);
  EXPECT_EQ(restore_one_disk(r.snapshot_id, "drive-scsi0"), v.disks[0].data);
}

std::vector<uint8_t> zstd_compress(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

std::vector<uint8_t> gzip_compress(const std::vector<uint8_t>& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<uint8_t> out(deflateBound(&z, in.size()) + 64);
  z.next_in = const_cast<uint8_t*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST_F(VmaRepository, CompressedArchivesAreStoredUncompressed) {
  TestVma v = guest(1);
  auto archive = write_test_vma(v);
  auto zst = zstd_compress(archive);
  auto r = backup_bytes(zst, std::string(kName) + ".zst");
  EXPECT_EQ(r.snapshot.kind, "vma");
  EXPECT_EQ(r.snapshot.file_name, kName);
  ASSERT_TRUE(r.snapshot.received);
  EXPECT_EQ(r.snapshot.received->compression, "zstd");
  EXPECT_EQ(r.snapshot.received->size_bytes, zst.size());
  EXPECT_EQ(r.snapshot.received->sha256.size(), 64u);
  EXPECT_EQ(restore_all(r.snapshot_id), archive);
  // The same archive gzip-compressed stores nothing new.
  auto r2 = backup_bytes(gzip_compress(archive), std::string(kName) + ".gz");
  EXPECT_EQ(r2.snapshot.received->compression, "gzip");
  EXPECT_EQ(r2.new_chunks, 0u);
  EXPECT_EQ(restore_all(r2.snapshot_id), archive);
  // A compressed file that is not an archive is kept byte for byte.
  std::vector<uint8_t> text(300000, 'x');
  auto ztext = zstd_compress(text);
  auto r3 = backup_bytes(ztext, "notes.txt.zst");
  EXPECT_EQ(r3.snapshot.kind, "stream");
  EXPECT_FALSE(r3.snapshot.received);
  EXPECT_EQ(restore_all(r3.snapshot_id), ztext);
  // Without archive awareness a VMA is a byte stream.
  BackupOptions raw;
  raw.archive_aware = false;
  auto r4 = backup_bytes(archive, kName, raw);
  EXPECT_EQ(r4.snapshot.kind, "stream");
  EXPECT_EQ(restore_all(r4.snapshot_id), archive);
}

TEST_F(VmaRepository, BadArchivesRecordNoSnapshotAndLeaveTheRepositoryValid) {
  auto good = write_test_vma(guest(1));
  auto truncated = good;
  truncated.resize(good.size() - 70000);
  auto flipped = good;
  flipped[13000] ^= 0x40;  // in the first extent header
  for (const auto& bad : {truncated, flipped}) {
    try {
      backup_bytes(bad);
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kIntegrity);
      EXPECT_NE(e.message().find("byte "), std::string::npos) << e.message();
    }
  }
  EXPECT_EQ(snapshot_count(), 0u);
  EXPECT_TRUE(verify(*repo, VerifyOptions{true}).ok());
  // A truncated zstd stream of a good archive: the same.
  auto zst = zstd_compress(good);
  zst.resize(zst.size() / 2);
  EXPECT_THROW(backup_bytes(zst, std::string(kName) + ".zst"), Error);
  EXPECT_EQ(snapshot_count(), 0u);
}

TEST_F(VmaRepository, GcRepacksAndEveryRemainingSnapshotRestores) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> snaps;
  TestVma v = guest(1);
  std::mt19937 rng(11);
  for (int day = 0; day < 6; ++day) {
    // Each day rewrites 2 MiB of the disk: older packs die a little each day.
    for (int k = 0; k < 8; ++k) {
      uint64_t off = (rng() % 40) * 262144;
      for (size_t i = 0; i < 262144 && off + i < v.disks[0].data.size(); ++i)
        v.disks[0].data[off + i] = static_cast<uint8_t>(rng());
    }
    v.uuid[1] = static_cast<uint8_t>(day);
    auto a = write_test_vma(v);
    BackupOptions o;
    o.time = std::chrono::system_clock::now() + std::chrono::seconds(day);
    snaps.emplace_back(backup_bytes(a, kName, o).snapshot_id, a);
  }
  uint64_t before = 0;
  repo->store().list("packs/", [&](const store::ObjectInfo& o) { before += o.size_bytes; });
  for (size_t i = 0; i < snaps.size(); i += 2) repo->remove_snapshot(snaps[i].first);
  GcOptions go;
  go.grace = std::chrono::seconds(0);
  go.repack_below = 0.9;
  auto r = collect_garbage(*repo, go);
  EXPECT_GT(r.removed_packs, 0u);
  EXPECT_GT(r.repacked_packs, 0u);
  uint64_t after = 0;
  repo->store().list("packs/", [&](const store::ObjectInfo& o) { after += o.size_bytes; });
  EXPECT_LT(after, before);
  EXPECT_NEAR(static_cast<double>(before - after), static_cast<double>(r.removed_bytes), 1.0);
  for (size_t i = 1; i < snaps.size(); i += 2)
    EXPECT_EQ(restore_all(snaps[i].first), snaps[i].second);
  EXPECT_TRUE(verify(*repo, VerifyOptions{true}).ok());
  // With the default grace period nothing is removed at first sight.
  repo->remove_snapshot(snaps[1].first);
  GcOptions slow;
  auto r2 = collect_garbage(*repo, slow);
  EXPECT_EQ(r2.removed_packs, 0u);
  EXPECT_GT(r2.pending_chunks, 0u);
  EXPECT_EQ(restore_all(snaps[3].first), snaps[3].second);
}

TEST_F(VmaRepository, AnInterruptedBackupLeavesNoIndexIntoAMissingPack) {
  // A source that fails half way, after several packs were stored.
  class Failing : public ByteSource {
   public:
    explicit Failing(std::vector<uint8_t> d) : d_(std::move(d)) {}
    size_t read(uint8_t* b, size_t n) override {
      if (off_ > d_.size() / 2) throw Error(Errc::kIo, "read error on the test source");
      n = std::min(n, std::min<size_t>(d_.size() - off_, 100000));
      std::memcpy(b, d_.data() + off_, n);
      off_ += n;
      return n;
    }
    std::string name() const override { return "disk.raw"; }

   private:
    std::vector<uint8_t> d_;
    size_t off_ = 0;
  };
  std::vector<uint8_t> data(16 << 20);
  std::mt19937 rng(1);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  Failing src(data);
  EXPECT_THROW(backup(*repo, src, BackupOptions{}), Error);
  EXPECT_EQ(snapshot_count(), 0u);
  // Whatever index exists names only stored packs.
  auto v = verify(*repo, VerifyOptions{true});
  EXPECT_TRUE(v.ok());
  GcOptions go;
  go.grace = std::chrono::seconds(0);
  collect_garbage(*repo, go);
  size_t packs = 0;
  repo->store().list("packs/", [&](const store::ObjectInfo&) { ++packs; });
  EXPECT_EQ(packs, 0u);
}

}  // namespace
}  // namespace pvesafe::repo
