#include "core/block_source.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"

namespace pvesafe {
namespace {

std::string temp_path() {
  char tmpl[] = "/tmp/pvesafe-block-XXXXXX";
  int fd = mkstemp(tmpl);
  EXPECT_GE(fd, 0);
  ::close(fd);
  return tmpl;
}

TEST(FileBlockSource, ReadsRangesAndReportsHoles) {
  std::string path = temp_path();
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> data(1 << 20, 0xab);
  // 1 MiB of data, a 4 MiB hole, 1 MiB of data, a 2 MiB hole at the end.
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), 5 << 20), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::ftruncate(fd, 8 << 20), 0);
  ::close(fd);

  FileBlockSource src(path);
  EXPECT_EQ(src.size(), 8u << 20);
  std::vector<uint8_t> buf(3 << 20);
  src.read((1 << 20) - 10, buf.data(), 20);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(buf[i], 0xab);
  for (int i = 10; i < 20; ++i) EXPECT_EQ(buf[i], 0);
  EXPECT_EQ(src.fetched_bytes(), 20u);

  auto ex = src.extents(0, src.size());
  uint64_t pos = 0, zero = 0;
  for (const auto& e : ex) {
    EXPECT_EQ(e.offset, pos);
    pos += e.length;
    if (e.zero) zero += e.length;
  }
  EXPECT_EQ(pos, src.size());
  // tmpfs and ext4 both report the two holes (allocation granularity may round them).
  EXPECT_GE(zero, 5u << 20);
  EXPECT_FALSE(ex.front().zero);
  EXPECT_TRUE(ex.back().zero);

  EXPECT_THROW(src.read(src.size() - 1, buf.data(), 2), Error);
  ::unlink(path.c_str());
}

TEST(FileBlockSource, MissingFileIsNotFound) {
  try {
    FileBlockSource src("/nonexistent/pvesafe-disk.raw");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kNotFound);
  }
}

}  // namespace
}  // namespace pvesafe
