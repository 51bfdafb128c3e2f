// Unit tests of the small repository pieces: manifests, vzdump names, locks, catalog,
// and an in-memory round trip through backup/restore with a local store.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "core/direct_io.h"
#include "core/error.h"
#include "repo/backup.h"
#include "repo/catalog.h"
#include "repo/lock.h"
#include "repo/restore.h"
#include "repo/stream.h"
#include "repo/verify.h"
#include "store/local/local_store.h"

namespace pvesafe::repo {
namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/pvesafe-repo-test-XXXXXX";
  return mkdtemp(tmpl);
}

// A disk-like byte string: random bytes with zero runs of many lengths and alignments, one of
// them at the end.
std::vector<uint8_t> with_zero_runs() {
  std::mt19937_64 rng(5);
  std::vector<uint8_t> v;
  for (size_t run : {70000, 5000, 32768, 200000, 1, 65536 + 4096, 100000, 40000}) {
    const size_t random_bytes = 3000 + rng() % 50000;
    for (size_t k = 0; k < random_bytes; ++k) v.push_back(static_cast<uint8_t>(rng() | 1));
    v.resize(v.size() + run, 0);
  }
  return v;
}

// Writes `data` through a FileSink in pieces of random size; returns the bytes allocated.
uint64_t sink_file(const std::string& path, const std::vector<uint8_t>& data, bool sparse) {
  std::mt19937_64 rng(9);
  FileSink sink(path, {.sparse = sparse});
  for (size_t off = 0; off < data.size();) {
    const size_t n = std::min<size_t>(data.size() - off, 1 + rng() % 90000);
    sink.write(data.data() + off, n);
    off += n;
  }
  sink.finish();
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), data.size());
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {}) == data) << path;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

TEST(FileSink, SparseFilesReadBackTheSameBytesWithHoles) {
  const auto data = with_zero_runs();
  for (std::string base : {"/var/tmp", "/dev/shm"}) {  // a disk file system (direct) and tmpfs
    std::string tmpl = base + "/pvesafe-sink-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) continue;
    const std::string dir = buf.data();
    const uint64_t sparse = sink_file(dir + "/sparse", data, true);
    const uint64_t full = sink_file(dir + "/full", data, false);
    // The aligned all-zero 32 KiB blocks are the holes; everything else is allocated.
    uint64_t holes = 0;
    for (size_t off = 0; off + FileSink::kSparseBlock <= data.size(); off += FileSink::kSparseBlock) {
      if (all_zero({data.data() + off, FileSink::kSparseBlock})) holes += FileSink::kSparseBlock;
    }
    ASSERT_GE(holes, 10u * FileSink::kSparseBlock);
    EXPECT_GE(full, data.size()) << base;
    // (the file system allocates whole 4 KiB blocks: up to one more at each end of a data run)
    EXPECT_LE(sparse, data.size() - holes + 16 * 4096) << base;
    std::filesystem::remove_all(dir);
  }
}

TEST(Manifest, Format1StillParses) {
  std::string text = "{\n  \"format\": 1,\n  \"id\": \"0123456789abcdef0123456789abcdef\",\n"
                     "  \"time\": \"2026-11-26T01:00:00Z\",\n  \"hostname\": \"pve-01\",\n  \"node\": \"pve-01\",\n"
                     "  \"guest_id\": \"100\",\n  \"guest_type\": \"qemu\",\n  \"file_name\": \"x.vma.zst\",\n"
                     "  \"size_bytes\": 2001,\n  \"tags\": {},\n  \"chunk_count\": 2,\n  \"chunks\": [\n"
                     "    {\"id\": \"" + std::string(64, 'a') + "\", \"size\": 1000},\n"
                     "    {\"id\": \"" + std::string(64, 'b') + "\", \"size\": 1001}\n  ]\n}\n";
  Manifest m = manifest_from_json(text, "snapshots/x");
  EXPECT_EQ(m.format, 1);
  EXPECT_EQ(m.info.kind, "stream");
  EXPECT_EQ(m.info.commit_ns, 0);
  ASSERT_EQ(m.stream.inline_chunks.size(), 2u);
  EXPECT_EQ(m.stream.inline_chunks[1].size_bytes, 1001u);
  // Sizes that do not add up are an integrity error.
  auto bad = text;
  bad.replace(bad.find("2001"), 4, "2002");
  try {
    manifest_from_json(bad, "snapshots/x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kIntegrity);
  }
}

TEST(Manifest, Format2RoundTripWithOneListPerLine) {
  Manifest m;
  m.info.id = "0123456789abcdef0123456789abcdef";
  m.info.time = *parse_utc("2026-11-26T01:00:00.000042Z");
  m.info.time_utc = format_utc_micros(m.info.time);
  EXPECT_EQ(m.info.time_utc, "2026-11-26T01:00:00.000042Z");
  m.info.commit_ns = 17;
  m.info.kind = "vma";
  m.info.file_name = "vzdump-qemu-100-2026_11_26-01_00_00.vma";
  m.info.tags = {{"env", "prod"}, {"quote", "a\"b"}};
  m.info.received = ReceivedArchive{"vzdump-qemu-100-2026_11_26-01_00_00.vma.zst", "zstd", 123, std::string(64, 'f')};
  m.vma_uuid = std::string(32, 'e');
  m.stream = {3000, 2, {{std::string(64, '1'), 150, 2}}, {}};
  m.configs.push_back({"qemu-server.conf", std::string(64, '2'), 321});
  DiskPart d;
  d.name = "drive-scsi0";
  d.dev_id = 1;
  d.size_bytes = 1 << 30;
  d.chunk_bytes = 256 * 1024;
  d.chunk_count = 5;
  d.data_bytes = 5 * 256 * 1024;
  d.lists = {{std::string(64, '3'), 400, 3}, {std::string(64, '4'), 300, 2}};
  m.disks.push_back(d);
  m.info.size_bytes = 1 << 20;
  std::string text = manifest_to_json(m);
  EXPECT_NE(text.find("\n    {\"list\": \"" + std::string(64, '3') + "\", \"of\": \"drive-scsi0\""), std::string::npos) << text;
  EXPECT_NE(text.find("\n    {\"config\": \"qemu-server.conf\", \"id\": \"" + std::string(64, '2')), std::string::npos);
  Manifest back = manifest_from_json(text, "snapshots/x");
  EXPECT_EQ(back.info.time, m.info.time);
  EXPECT_EQ(back.info.commit_ns, 17);
  EXPECT_EQ(back.info.tags, m.info.tags);
  ASSERT_TRUE(back.info.received);
  EXPECT_EQ(back.info.received->compression, "zstd");
  ASSERT_EQ(back.disks.size(), 1u);
  EXPECT_EQ(back.disks[0].lists.size(), 2u);
  EXPECT_EQ(back.disks[0].lists[1].entries, 2u);
  EXPECT_EQ(back.stream.lists.size(), 1u);
  EXPECT_EQ(manifest_to_json(back), text);
}

TEST(Manifest, SameSecondSnapshotsKeepTheirOrder) {
  SnapshotInfo a, b, c;
  a.time = b.time = c.time = *parse_utc("2026-11-26T01:00:00Z");
  a.commit_ns = 3, b.commit_ns = 1, c.commit_ns = 2;
  a.id = "a", b.id = "b", c.id = "c";
  std::vector<SnapshotInfo> v{a, b, c};
  std::sort(v.begin(), v.end(), snapshot_before);
  EXPECT_EQ(v[0].id, "b");
  EXPECT_EQ(v[2].id, "a");
  SnapshotInfo later = b;
  later.time += std::chrono::microseconds(1);
  later.commit_ns = 0;
  EXPECT_TRUE(snapshot_before(a, later));
}

TEST(VzdumpName, Parses) {
  auto v = parse_vzdump_name("/var/lib/vz/dump/vzdump-qemu-100-2026_11_24-01_00_00.vma.zst");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->guest_type, "qemu");
  EXPECT_EQ(v->guest_id, "100");
  EXPECT_EQ(v->time_utc, "2026-11-24T01:00:00Z");
  EXPECT_EQ(v->extension, "vma.zst");
  v = parse_vzdump_name("vzdump-lxc-101-2026_01_02-03_04_05.tar.zst");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->guest_type, "lxc");
  EXPECT_EQ(v->guest_id, "101");
  EXPECT_TRUE(parse_vzdump_name("vzdump-qemu-100-2026_11_24-01_00_00.vma.lzo"));
  EXPECT_TRUE(parse_vzdump_name("vzdump-qemu-100-2026_11_24-01_00_00.vma.gz"));
  EXPECT_FALSE(parse_vzdump_name("disk.img"));
  EXPECT_FALSE(parse_vzdump_name("vzdump-qemu-abc-2026_11_24-01_00_00.vma.zst"));
  BackupOptions o;
  o.guest_id = "999";
  auto c = complete_options(o, "vzdump-lxc-101-2026_01_02-03_04_05.tar.zst");
  EXPECT_EQ(c.guest_id, "999");  // flags win
  EXPECT_EQ(c.guest_type, "lxc");
}

TEST(Catalog, RecordAndQuery) {
  std::string dir = temp_dir();
  {
    auto cat = Catalog::open(dir + "/sub/catalog.db");
    CatalogEvent e;
    e.kind = "backup";
    e.guest_id = "100";
    e.node = "pve-01";
    e.size_bytes = 1000;
    e.time_utc = "2026-11-25T01:00:00Z";
    cat.record(e);
    e.kind = "restore";
    e.time_utc = "2026-11-26T01:00:00Z";
    cat.record(e);
    e.kind = "backup";
    e.guest_id = "101";
    e.result = "error";
    e.error = "disk full";
    e.time_utc = "2026-11-26T02:00:00Z";
    cat.record(e);
    auto all = cat.query({});
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].guest_id, "101");  // newest first
    EXPECT_EQ(all[0].error, "disk full");
    CatalogQuery q;
    q.kind = "backup";
    EXPECT_EQ(cat.query(q).size(), 2u);
    q.guest_id = "100";
    EXPECT_EQ(cat.query(q).size(), 1u);
    CatalogQuery since;
    since.since = "2026-11-26T00:00:00Z";
    EXPECT_EQ(cat.query(since).size(), 2u);
  }
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/sub/catalog.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
  std::filesystem::remove_all(dir);
}

class VectorSource : public ByteSource {
 public:
  explicit VectorSource(const std::vector<uint8_t>& d) : d_(d) {}
  size_t read(uint8_t* buf, size_t n) override {
    n = std::min(n, std::min<size_t>(d_.size() - off_, 777777));  // odd read sizes
    std::copy(d_.begin() + off_, d_.begin() + off_ + n, buf);
    off_ += n;
    return n;
  }
  std::string name() const override { return "vzdump-qemu-100-2026_11_24-01_00_00.vma.zst"; }

 private:
  const std::vector<uint8_t>& d_;
  size_t off_ = 0;
};

class VectorSink : public ByteSink {
 public:
  void write(const uint8_t* b, size_t n) override { data.insert(data.end(), b, b + n); }
  void finish() override { finished = true; }
  std::vector<uint8_t> data;
  bool finished = false;
};

// Day 2 changes a few regions of day 1: its restore reads day 1's pack as one run although the
// changed chunks (in day 2's pack) come between, so the requests do not grow with the number of
// changed regions.
TEST(Repository, RestoreReadsAPacksRunInOneRequestAcrossOtherPacksChunks) {
  std::string dir = temp_dir();
  Secret pass("ranges");
  InitOptions io;
  io.chunker = {4096, 16384, 65536};
  auto repo = Repository::init(store::make_local_store(dir), pass, io);
  std::mt19937_64 rng(11);
  std::vector<uint8_t> day1(8 << 20);
  for (auto& b : day1) b = static_cast<uint8_t>(rng());
  auto day2 = day1;
  for (size_t k = 1; k <= 12; ++k) {  // twelve changed regions, spread over the image
    for (size_t j = 0; j < 100; ++j) day2[k * (day2.size() / 13) + j] ^= 0x5a;
  }
  BackupOptions bo;
  bo.threads = 2;
  VectorSource s1(day1);
  backup(repo, s1, bo);
  VectorSource s2(day2);
  bo.time = std::chrono::system_clock::now() + std::chrono::seconds(5);
  auto r2 = backup(repo, s2, bo);
  ASSERT_GE(r2.new_chunks, 12u);
  const auto before = repo.store().requests();
  VectorSink sink;
  restore(repo, r2.snapshot_id, sink);
  const auto req = repo.store().requests() - before;
  EXPECT_EQ(sink.data, day2);
  // Manifest, lists, index objects and the two packs' runs; before, each changed region split
  // day 1's run (about 2 x 12 + 1 ranges).
  EXPECT_LE(req.gets, 12u) << req.gets << " GETs";
  std::filesystem::remove_all(dir);
}

TEST(Repository, BackupRestoreVerifyRoundTrip) {
  std::string dir = temp_dir();
  Secret pass("correct horse");
  InitOptions io;
  io.chunker = {4096, 16384, 65536};  // small chunks: many per test
  {
    auto repo = Repository::init(store::make_local_store(dir + "/r"), pass, io);
    EXPECT_EQ(repo.list_snapshots().size(), 0u);
  }
  EXPECT_THROW(Repository::init(store::make_local_store(dir + "/r"), pass, io), Error);
  try {
    Repository::open(store::make_local_store(dir + "/r"), Secret("wrong"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kAuth);
  }
  auto repo = Repository::open(store::make_local_store(dir + "/r"), pass);
  std::mt19937_64 rng(9);
  std::vector<uint8_t> data(1 << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = (i / 100000) % 2 ? 0 : static_cast<uint8_t>(rng());
  VectorSource src(data);
  BackupOptions bo;
  bo.threads = 3;
  auto r = backup(repo, src, bo);
  EXPECT_EQ(r.size_bytes, data.size());
  EXPECT_EQ(r.snapshot.guest_id, "100");
  EXPECT_EQ(r.snapshot.guest_type, "qemu");
  EXPECT_GT(r.new_chunks, 10u);
  VectorSink sink;
  auto rr = restore(repo, r.snapshot_id.substr(0, 6), sink);
  EXPECT_TRUE(sink.finished);
  EXPECT_EQ(sink.data, data);
  EXPECT_EQ(rr.size_bytes, data.size());
  // Second backup: everything deduplicated.
  VectorSource src2(data);
  bo.time = std::chrono::system_clock::now() + std::chrono::seconds(5);  // strictly newer
  auto r2 = backup(repo, src2, bo);
  EXPECT_EQ(r2.new_chunks, 0u);
  EXPECT_EQ(repo.resolve_snapshot("latest"), r2.snapshot_id);
  EXPECT_TRUE(verify(repo, VerifyOptions{true}).ok());
  // Damage one pack: verify --read-data names it, restore fails with kIntegrity.
  std::vector<std::string> packs;
  repo.store().list("packs/", [&](const store::ObjectInfo& o) { packs.push_back(o.key); });
  ASSERT_FALSE(packs.empty());
  std::sort(packs.begin(), packs.end());
  auto obj = repo.store().get(packs[0]);
  obj[obj.size() / 3] ^= 1;
  repo.store().put(packs[0], obj);
  auto v = verify(repo, VerifyOptions{true});
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.problems[0].key, packs[0]);
  VectorSink sink2;
  try {
    restore(repo, r.snapshot_id, sink2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kIntegrity);
    EXPECT_NE(std::string(e.what()).find("chunk"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(sink2.finished);
  std::filesystem::remove_all(dir);
}

TEST(Repository, LocksConflict) {
  std::string dir = temp_dir();
  Secret pass("pw");
  auto repo = Repository::init(store::make_local_store(dir), pass);
  {
    auto a = RepositoryLock::acquire(repo, LockKind::kShared, "backup");
    auto b = RepositoryLock::acquire(repo, LockKind::kShared, "backup");
    try {
      RepositoryLock::acquire(repo, LockKind::kExclusive, "gc");
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kLocked);
      EXPECT_NE(std::string(e.what()).find("pvesafe unlock"), std::string::npos);
    }
    EXPECT_EQ(list_locks(repo).size(), 2u);
  }
  EXPECT_EQ(list_locks(repo).size(), 0u);
  auto x = RepositoryLock::acquire(repo, LockKind::kExclusive, "gc");
  EXPECT_THROW(RepositoryLock::acquire(repo, LockKind::kShared, "backup"), Error);
  x->release();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pvesafe::repo
