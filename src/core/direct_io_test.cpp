#include "core/direct_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace pvesafe {
namespace {

std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  uint32_t x = 2463534242u;
  for (auto& b : v) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return v;
}

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// A fresh directory under `base`, or "" when there is none to be made there.
std::string temp_dir(const std::string& base) {
  std::string tmpl = base + "/pvesafe-direct-XXXXXX";
  return ::mkdtemp(tmpl.data()) ? tmpl : std::string();
}

// Writes `data` in pieces of `piece` bytes through a DirectWriter with `staging` bytes and checks
// the file holds exactly the data, and that the descriptor is back in its original mode.
// With `aligned`, the data comes from an AlignedBuffer (the path that writes without staging).
void roundtrip(const std::string& dir, size_t size, size_t piece, size_t staging, bool aligned = false) {
  SCOPED_TRACE("size " + std::to_string(size) + " piece " + std::to_string(piece) + " staging " +
               std::to_string(staging) + (aligned ? " aligned" : "") + " in " + dir);
  auto data = pattern(size);
  AlignedBuffer source(size);
  std::copy(data.begin(), data.end(), source.data());
  const uint8_t* from = aligned ? source.data() : data.data();
  std::string path = dir + "/f";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const int flags = ::fcntl(fd, F_GETFL);
  {
    DirectWriter w(fd, staging);
    for (size_t off = 0; off < size; off += piece) {
      ASSERT_EQ(w.write(from + off, std::min(piece, size - off)), 0);
    }
    ASSERT_EQ(w.finish(), 0);
    EXPECT_EQ(::fcntl(fd, F_GETFL), flags);
  }
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
  EXPECT_EQ(slurp(path), data);
}

TEST(DirectWriter, AnySizeComesOutExact) {
  // /var/tmp is usually a disk file system (direct writes), /dev/shm a tmpfs (the page cache
  // fallback on kernels that refuse O_DIRECT there).
  for (std::string base : {"/var/tmp", "/dev/shm"}) {
    const std::string dir = temp_dir(base);
    if (dir.empty()) continue;
    const size_t m = 1 << 20;
    for (size_t size : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{4097}, m - 1, m,
                        m + 1, 3 * m + 5}) {
      roundtrip(dir, size, size ? size : 1, m);  // one write
      roundtrip(dir, size, 1000, 64 * 1024);     // many small, unaligned writes
      roundtrip(dir, size, 4096 * 3, 8192);      // aligned pieces larger than the staging buffer
      roundtrip(dir, size, size ? size : 1, m, true);        // aligned memory: no staging
      roundtrip(dir, size, 4096 * 5, 8192, true);            // aligned memory in aligned pieces
    }
    std::filesystem::remove_all(dir);
  }
}

TEST(DirectWriter, SkipLeavesHolesThatReadAsZeros) {
  for (std::string base : {"/var/tmp", "/dev/shm"}) {
    const std::string dir = temp_dir(base);
    if (dir.empty()) continue;
    const std::string path = dir + "/f";
    const auto data = pattern(3 * 4096 + 100);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    {
      DirectWriter w(fd, 8192);
      ASSERT_EQ(w.write(data.data(), 4096), 0);        // staged, flushed by the skip
      ASSERT_EQ(w.skip(64 * 1024), 0);
      ASSERT_EQ(w.write(data.data() + 4096, 100), 0);  // staged, not a whole block
      EXPECT_EQ(w.skip(4096), EINVAL);                 // a skip must start block-aligned
      ASSERT_EQ(w.write(data.data() + 4196, 4096 - 100), 0);
      ASSERT_EQ(w.skip(1 << 20), 0);                   // a hole at the end
      ASSERT_EQ(w.finish(), 0);
    }
    ::close(fd);
    std::vector<uint8_t> want(data.begin(), data.begin() + 4096);
    want.resize(4096 + 64 * 1024, 0);
    want.insert(want.end(), data.begin() + 4096, data.begin() + 8192);
    want.resize(want.size() + (1 << 20), 0);
    EXPECT_EQ(slurp(path), want) << base;
    std::filesystem::remove_all(dir);
  }
}

TEST(DirectWriter, ReportsTheErrnoOfAFailedWrite) {
  int fd = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  if (fd < 0) GTEST_SKIP() << "no /dev/full";
  auto data = pattern(10000);
  DirectWriter w(fd, 4096);
  int e = w.write(data.data(), data.size());
  if (!e) e = w.finish();
  EXPECT_EQ(e, ENOSPC);
  ::close(fd);
}

}  // namespace
}  // namespace pvesafe
