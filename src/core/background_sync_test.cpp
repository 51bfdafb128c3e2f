#include "core/background_sync.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace pvesafe {
namespace {

struct TempFile {
  std::string path;
  int fd = -1;
  TempFile() {
    char tmpl[] = "/var/tmp/pvesafe-bgsync-XXXXXX";
    fd = ::mkstemp(tmpl);
    path = tmpl;
  }
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    ::unlink(path.c_str());
  }
};

// Waits (up to a minute: this is about what happens, not how fast) for `n` syncs.
bool wait_for_syncs(const BackgroundSync& s, uint64_t n) {
  for (int i = 0; i < 6000 && s.syncs() < n; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return s.syncs() >= n;
}

// Pages of the file's first `bytes` that are in the page cache.
size_t resident_pages(int fd, size_t bytes) {
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) return SIZE_MAX;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((bytes + page - 1) / page);
  size_t n = SIZE_MAX;
  if (::mincore(map, bytes, vec.data()) == 0) {
    n = 0;
    for (unsigned char v : vec) n += v & 1;
  }
  ::munmap(map, bytes);
  return n;
}

TEST(BackgroundSync, NothingHappensBelowTheInterval) {
  TempFile f;
  ASSERT_GE(f.fd, 0);
  BackgroundSync sync(f.fd, 1 << 20);
  std::vector<uint8_t> data(4096, 7);
  for (int i = 0; i < 255; ++i) {
    ASSERT_EQ(::write(f.fd, data.data(), data.size()), 4096);
    sync.wrote(data.size(), (i + 1) * 4096ull);
  }
  EXPECT_EQ(sync.stop(), 0);
  EXPECT_EQ(sync.syncs(), 0u);
}

TEST(BackgroundSync, SyncsWhileWritingAndDropsWhatItSynced) {
  TempFile f;
  ASSERT_GE(f.fd, 0);
  constexpr size_t kMiB = 1 << 20, kTotal = 8 * kMiB;
  BackgroundSync sync(f.fd, kTotal);
  std::vector<uint8_t> data(kMiB, 0x5a);
  for (size_t off = 0; off < kTotal; off += kMiB) {
    ASSERT_EQ(::write(f.fd, data.data(), data.size()), static_cast<ssize_t>(kMiB));
    if (off == 0) {
      ASSERT_GT(resident_pages(f.fd, kMiB), 0u) << "written through the page cache";
    }
    sync.wrote(kMiB, off + kMiB);
  }
  ASSERT_TRUE(wait_for_syncs(sync, 1));
  EXPECT_EQ(sync.stop(), 0);
  // Synced and dropped: the data is on the device, not held in memory (tmpfs has no device).
  struct statfs fs {};
  ASSERT_EQ(::fstatfs(f.fd, &fs), 0);
  if (fs.f_type != TMPFS_MAGIC) {
    EXPECT_EQ(resident_pages(f.fd, kTotal), 0u);
  }
  // Later writes do not start another sync after stop().
  sync.wrote(kTotal, 2 * kTotal);
  EXPECT_EQ(sync.syncs(), 1u);
}

TEST(BackgroundSync, TheFirstFailedSyncIsReported) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  BackgroundSync sync(p[1], 1);  // fdatasync on a pipe: EINVAL
  sync.wrote(1, 1);
  ASSERT_TRUE(wait_for_syncs(sync, 1));
  sync.wrote(1, 2);  // no new sync after a failure
  EXPECT_EQ(sync.stop(), EINVAL);
  EXPECT_EQ(sync.syncs(), 1u);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(BackgroundSync, StopWithoutAnyWriteIsImmediate) {
  BackgroundSync sync(-1, 1 << 20);
  EXPECT_EQ(sync.stop(), 0);
  EXPECT_EQ(sync.stop(), 0);
}

}  // namespace
}  // namespace pvesafe
