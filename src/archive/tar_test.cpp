// TarWriter and TarReader against GNU tar: what pvesafe writes, tar extracts (long names, links,
// modes); what tar writes, pvesafe reads; hostile names and damaged headers are refused.
#include "archive/tar.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/memory_stream.h"

namespace pvesafe::archive {
namespace {

namespace fs = std::filesystem;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct TempDir {
  TempDir() {
    char t[] = "/tmp/pvesafe-tar-test.XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

bool have_tar() { return std::system("tar --version >/dev/null 2>&1") == 0; }

TarEntry file(const std::string& path, const std::string& data, uint32_t mode = 0644) {
  TarEntry e;
  e.path = path;
  e.data = data;
  e.mode = mode;
  e.mtime = 1700000000;
  return e;
}

TEST(Tar, GnuTarExtractsWhatWeWrite) {
  if (!have_tar()) GTEST_SKIP() << "no tar";
  TempDir d;
  const std::string long_name = "pve/nodes/" + std::string(120, 'n') + "/qemu-server/100.conf";
  MemorySink sink;
  TarWriter w(sink);
  TarEntry dir;
  dir.path = "pve";
  dir.type = TarEntry::Type::kDirectory;
  dir.mode = 0755;
  w.add(dir);
  w.add(file("pve/storage.cfg", "dir: local\n\tpath /var/lib/vz\n"));
  w.add(file("pve/priv/token.cfg", "root@pam!x 123\n", 0600));
  w.add(file(long_name, std::string(70000, 'x')));
  TarEntry link;
  link.path = "pve/local";
  link.type = TarEntry::Type::kSymlink;
  link.link_target = "nodes/pve-01";
  w.add(link);
  w.finish();
  ASSERT_TRUE(sink.finished());
  std::ofstream(d.path + "/a.tar", std::ios::binary) << sink.data();
  ASSERT_EQ(std::system(("tar -xf " + d.path + "/a.tar -C " + d.path).c_str()), 0);
  EXPECT_EQ(read_all(d.path + "/pve/storage.cfg"), "dir: local\n\tpath /var/lib/vz\n");
  EXPECT_EQ(read_all(d.path + "/" + long_name), std::string(70000, 'x'));
  EXPECT_EQ(fs::read_symlink(d.path + "/pve/local").string(), "nodes/pve-01");
  struct stat st {};
  ASSERT_EQ(::stat((d.path + "/pve/priv/token.cfg").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_mtime, 1700000000);
}

TEST(Tar, ReadsWhatGnuTarWrites) {
  if (!have_tar()) GTEST_SKIP() << "no tar";
  TempDir d;
  const std::string deep = std::string(110, 'd') + "/" + std::string(60, 'e');
  fs::create_directories(d.path + "/t/" + deep);
  std::ofstream(d.path + "/t/" + deep + "/f.txt") << "deep file\n";
  std::ofstream(d.path + "/t/small") << "small\n";
  ::chmod((d.path + "/t/small").c_str(), 0640);
  fs::create_symlink(std::string(150, 'l'), d.path + "/t/link");
  for (const char* format : {"gnu", "pax"}) {
    std::string cmd =
        "tar --format=" + std::string(format) + " -cf " + d.path + "/b.tar -C " + d.path + " t";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << format;
    MemorySource src(read_all(d.path + "/b.tar"), "b.tar");
    TarReader r(src);
    std::map<std::string, TarEntry> got;
    while (auto e = r.next()) got[e->path] = *e;
    ASSERT_TRUE(got.count("t/" + deep + "/f.txt")) << format;
    EXPECT_EQ(got["t/" + deep + "/f.txt"].data, "deep file\n");
    EXPECT_EQ(got["t/small"].mode, 0640u);
    EXPECT_EQ(got["t/link"].type, TarEntry::Type::kSymlink);
    EXPECT_EQ(got["t/link"].link_target, std::string(150, 'l'));
    EXPECT_EQ(got["t"].type, TarEntry::Type::kDirectory);
  }
}

TEST(Tar, RefusesNamesThatLeaveTheDirectory) {
  for (const char* bad : {"/etc/passwd", "../x", "a/../../x", "a//b", ""}) {
    EXPECT_FALSE(safe_relative_path(bad)) << bad;
  }
  EXPECT_TRUE(safe_relative_path("pve/storage.cfg"));
  if (!have_tar()) GTEST_SKIP() << "no tar";
  TempDir d;
  std::ofstream(d.path + "/x") << "x\n";
  // GNU tar stores the name as given with -P.
  ASSERT_EQ(std::system(("cd " + d.path + " && tar -P -cf b.tar ../" +
                         fs::path(d.path).filename().string() + "/x 2>/dev/null")
                            .c_str()),
            0);
  MemorySource src(read_all(d.path + "/b.tar"), "b.tar");
  TarReader r(src);
  EXPECT_THROW(
      {
        while (r.next()) {
        }
      },
      Error);
}

TEST(Tar, RefusesADamagedHeader) {
  MemorySink sink;
  TarWriter w(sink);
  w.add(file("a.txt", "hello\n"));
  w.finish();
  std::string data = sink.take();
  data[10] ^= 0x20;  // inside the name: the checksum no longer matches
  MemorySource src(data, "bad.tar");
  TarReader r(src);
  try {
    r.next();
    FAIL() << "a damaged header was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kIntegrity);
  }
}

TEST(Tar, RefusesATruncatedArchive) {
  MemorySink sink;
  TarWriter w(sink);
  w.add(file("a.txt", std::string(5000, 'a')));
  w.finish();
  std::string data = sink.take().substr(0, 2048);
  MemorySource src(data, "cut.tar");
  TarReader r(src);
  EXPECT_THROW(r.next(), Error);
}

}  // namespace
}  // namespace pvesafe::archive
