// FileSink as a restore target: links are never followed, files and devices are not replaced
// without force, a device reports what reached it, and the rename is made durable.
#include "repo/stream.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "core/dir_sync.h"
#include "core/error.h"

namespace pvesafe::repo {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/pvesafe-sink-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

void spit(const std::string& path, const std::string& s) {
  std::ofstream f(path, std::ios::binary);
  f << s;
}

void restore_text(const std::string& target, const std::string& text, FileSinkOptions o = {}) {
  FileSink sink(target, o);
  sink.write(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  sink.finish();
}

Error error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error";
  return Error(Errc::kInternal, "no error");
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

TEST(FileSink, SymbolicLinkAtTheTargetIsRefusedEvenWithForce) {
  TempDir d;
  spit(d.path + "/victim", "precious");
  ASSERT_EQ(::symlink((d.path + "/victim").c_str(), (d.path + "/out").c_str()), 0);
  for (bool force : {false, true}) {
    Error e = error_of([&] { restore_text(d.path + "/out", "restored", {.force = force}); });
    EXPECT_EQ(e.code(), Errc::kUsage);
    EXPECT_NE(std::string(e.what()).find("is a symbolic link, which pvesafe does not follow"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(slurp(d.path + "/victim"), "precious");
  EXPECT_FALSE(std::filesystem::exists(d.path + "/out.pvesafe-partial"));
}

// Someone plants links under the partial file's name (to a file they want overwritten, or to a
// path they want created): the restore removes them and writes its own file.
TEST(FileSink, LinksPlantedAtThePartialNameAreNotWrittenThrough) {
  TempDir d;
  spit(d.path + "/victim", "precious");
  ASSERT_EQ(::symlink((d.path + "/victim").c_str(), (d.path + "/a.pvesafe-partial").c_str()), 0);
  restore_text(d.path + "/a", "restored a");
  EXPECT_EQ(slurp(d.path + "/victim"), "precious");
  EXPECT_TRUE(is_regular_file(d.path + "/a"));
  EXPECT_EQ(slurp(d.path + "/a"), "restored a");

  ASSERT_EQ(::symlink((d.path + "/created-through-link").c_str(),
                      (d.path + "/b.pvesafe-partial").c_str()),
            0);
  restore_text(d.path + "/b", "restored b");
  EXPECT_FALSE(std::filesystem::exists(d.path + "/created-through-link"));
  EXPECT_TRUE(is_regular_file(d.path + "/b"));
  EXPECT_FALSE(
      std::filesystem::exists(std::filesystem::symlink_status(d.path + "/b.pvesafe-partial")));
}

TEST(FileSink, ExistingFileIsReplacedOnlyWithForce) {
  TempDir d;
  const std::string out = d.path + "/disk.img";
  spit(out, "yesterday");
  Error e = error_of([&] { restore_text(out, "today"); });
  EXPECT_EQ(e.code(), Errc::kUsage);
  EXPECT_EQ(std::string(e.what()),
            "restore target " + out +
                " already exists; add --force to replace it, or choose another name");
  EXPECT_EQ(slurp(out), "yesterday");
  EXPECT_FALSE(std::filesystem::exists(out + ".pvesafe-partial"));
  restore_text(out, "today", {.force = true});
  EXPECT_EQ(slurp(out), "today");
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Without force, a file that shows up under the target name while the restore runs is kept.
TEST(FileSink, FileAppearingDuringTheRestoreIsNotReplaced) {
  TempDir d;
  const std::string out = d.path + "/late";
  {
    FileSink sink(out);
    sink.write(reinterpret_cast<const uint8_t*>("restored"), 8);
    spit(out, "someone else's");
    Error e = error_of([&] { sink.finish(); });
    EXPECT_EQ(e.code(), Errc::kUsage);
    EXPECT_NE(std::string(e.what()).find("appeared during the restore"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(slurp(out), "someone else's");
  EXPECT_FALSE(std::filesystem::exists(out + ".pvesafe-partial"));
}

// After the rename, the directory holding the file is synced (the rename is already visible when
// it is), and a failure to sync it fails the restore.
TEST(FileSink, DirectoryIsSyncedAfterTheRename) {
  TempDir d;
  const std::string out = d.path + "/r.img";
  std::vector<std::string> synced;
  bool renamed_before_sync = false;
  set_sync_directory_hook([&](const std::string& dir) {
    synced.push_back(dir);
    renamed_before_sync =
        is_regular_file(out) && !std::filesystem::exists(out + ".pvesafe-partial");
    return 0;
  });
  restore_text(out, "data");
  EXPECT_EQ(synced, std::vector<std::string>{d.path});
  EXPECT_TRUE(renamed_before_sync);

  set_sync_directory_hook([&](const std::string&) { return EIO; });
  Error e = error_of([&] { restore_text(d.path + "/s.img", "data"); });
  set_sync_directory_hook({});
  EXPECT_EQ(e.code(), Errc::kIo);
  EXPECT_NE(std::string(e.what()).find("cannot sync directory " + d.path), std::string::npos)
      << e.what();
}

// Character devices: /dev/null needs no force; any other needs it, is written in place, and
// counts what it took.
TEST(FileSink, CharacterDevicesNeedForceExceptTheNullDevice) {
  restore_text("/dev/null", "discarded");
  TempDir d;
  const std::string dev = d.path + "/zero";
  if (::mknod(dev.c_str(), S_IFCHR | 0600, makedev(1, 5)) != 0) GTEST_SKIP() << "cannot mknod here";
  Error e = error_of([&] { restore_text(dev, "x"); });
  EXPECT_EQ(e.code(), Errc::kUsage);
  EXPECT_EQ(std::string(e.what()),
            "restore target " + dev +
                " is a character device; add --force to overwrite it with the snapshot");
  FileSink sink(dev, {.force = true});
  std::vector<uint8_t> buf(100000, 7);
  sink.write(buf.data(), buf.size());
  EXPECT_EQ(sink.device_bytes_written(), std::optional<uint64_t>(100000));
  sink.finish();
  EXPECT_FALSE(std::filesystem::exists(dev + ".pvesafe-partial"));

  Error full = error_of([&] {
    FileSink f("/dev/full", {.force = true});
    f.write(buf.data(), buf.size());
  });
  EXPECT_EQ(full.code(), Errc::kIo);
  EXPECT_NE(std::string(full.what()).find("disk full writing /dev/full"), std::string::npos);
}

// A block device (a loop device over a 1 MiB file) smaller than what is restored onto it: the
// sink stops at its end and says how much it wrote; the device holds exactly that much.
TEST(FileSink, BlockDeviceCountsWhatItTookBeforeFailing) {
  TempDir d;
  const std::string backing = d.path + "/backing";
  { std::ofstream(backing).close(); }
  ASSERT_EQ(::truncate(backing.c_str(), 1 << 20), 0);
  std::string cmd = "losetup -f --show " + backing + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  char name[64] = {};
  bool got = p && std::fgets(name, sizeof name, p) != nullptr;
  if (p) ::pclose(p);
  std::string dev = got ? std::string(name, std::strlen(name) - 1) : "";
  struct stat st {};
  if (dev.empty() || ::stat(dev.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
    GTEST_SKIP() << "no loop device here (losetup needs root)";
  }
  struct Detach {  // also when an assertion ends the test early
    std::string dev;
    ~Detach() {
      if (!dev.empty()) {
        EXPECT_EQ(std::system(("losetup -d " + dev).c_str()), 0);
      }
    }
  } detach{dev};
  Error refused = error_of([&] { restore_text(dev, "x"); });
  EXPECT_EQ(refused.code(), Errc::kUsage);
  EXPECT_NE(std::string(refused.what()).find("is a block device"), std::string::npos);
  {  // held exclusively (as a mounted file system holds its device): not written, even with force
    int held = ::open(dev.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
    ASSERT_GE(held, 0);
    Error busy = error_of([&] { restore_text(dev, "x", {.force = true}); });
    ::close(held);
    EXPECT_EQ(busy.code(), Errc::kIo);
    EXPECT_NE(std::string(busy.what()).find("is in use (mounted"), std::string::npos)
        << busy.what();
  }

  std::vector<uint8_t> buf(1536 * 1024, 0x5a);
  std::optional<uint64_t> written;
  Error e = error_of([&] {
    FileSink sink(dev, {.force = true});
    try {
      sink.write(buf.data(), 512 * 1024);
      sink.write(buf.data(), buf.size() - 512 * 1024);
    } catch (...) {
      written = sink.device_bytes_written();
      throw;
    }
  });
  EXPECT_EQ(e.code(), Errc::kIo);
  EXPECT_NE(std::string(e.what()).find("disk full writing " + dev), std::string::npos) << e.what();
  EXPECT_EQ(written, std::optional<uint64_t>(1 << 20));
  EXPECT_EQ(std::system(("losetup -d " + dev).c_str()), 0);
  detach.dev.clear();
  const std::string back = slurp(backing);
  EXPECT_EQ(back, std::string(1 << 20, '\x5a'));
}

}  // namespace
}  // namespace pvesafe::repo
