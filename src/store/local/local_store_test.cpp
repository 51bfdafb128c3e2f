#include "store/local/local_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <vector>

#include "core/dir_sync.h"
#include "core/error.h"

namespace pvesafe::store {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(LocalStore, PutGetListRemove) {
  char tmpl[] = "/tmp/pvesafe-local-XXXXXX";
  std::string root = mkdtemp(tmpl);
  LocalStore s(root + "/repo");
  s.put("config", bytes("{}"));
  s.put("data/ab/ab01", bytes("hello"));
  s.put("data/cd/cd02", bytes("world!"));
  s.put("snapshots/x", bytes("1"));
  s.put("data/ab/ab01", bytes("HELLO"));  // replace
  auto got = s.get("data/ab/ab01");
  EXPECT_EQ(std::string(got.begin(), got.end()), "HELLO");
  auto part = s.get_range("data/cd/cd02", 2, 100);
  EXPECT_EQ(std::string(part.begin(), part.end()), "rld!");
  std::set<std::string> keys;
  s.list("data/", [&](const ObjectInfo& o) { keys.insert(o.key + ":" + std::to_string(o.size_bytes)); });
  EXPECT_EQ(keys, (std::set<std::string>{"data/ab/ab01:5", "data/cd/cd02:6"}));
  keys.clear();
  s.list("data/a", [&](const ObjectInfo& o) { keys.insert(o.key); });
  EXPECT_EQ(keys, (std::set<std::string>{"data/ab/ab01"}));
  EXPECT_TRUE(s.stat("snapshots/x"));
  EXPECT_FALSE(s.stat("snapshots/y"));
  try {
    s.get("snapshots/y");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kNotFound);
  }
  // A leftover temporary file of an interrupted put is invisible.
  { FILE* f = fopen((root + "/repo/data/ab/ab03.tmp-1-2-3").c_str(), "w"); fclose(f); }
  size_t n = 0;
  s.list("data/", [&](const ObjectInfo&) { ++n; });
  EXPECT_EQ(n, 2u);
  struct stat st {};
  ASSERT_EQ(::stat((root + "/repo/data/ab/ab01").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((root + "/repo/data/ab").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  s.remove("data/ab/ab01");
  s.remove("data/ab/ab01");  // missing: not an error
  EXPECT_FALSE(s.stat("data/ab/ab01"));
  EXPECT_ANY_THROW(s.put("../escape", bytes("x")));
  std::filesystem::remove_all(root);
}

// Temporary files of interrupted puts go once they are old enough; young ones (a put in
// progress) and objects stay.
TEST(LocalStore, RemovesAbandonedTemporariesOnly) {
  char tmpl[] = "/tmp/pvesafe-local-XXXXXX";
  std::string root = mkdtemp(tmpl);
  LocalStore s(root);
  s.put("data/ab/ab01", bytes("kept"));
  auto touch = [&](const std::string& rel, time_t age) {
    std::string path = root + "/" + rel;
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fclose(f);
    struct timeval tv[2] = {{time(nullptr) - age, 0}, {time(nullptr) - age, 0}};
    ASSERT_EQ(utimes(path.c_str(), tv), 0);
  };
  touch("data/ab/ab02.tmp-1-2-3", 3 * 86400);
  touch("data/ab/ab03.tmp-4-5-6", 10);
  touch("config.tmp-7-8-9", 2 * 86400);
  EXPECT_EQ(s.remove_abandoned(std::chrono::hours(24), true), 2u);  // dry run: counts only
  EXPECT_TRUE(std::filesystem::exists(root + "/data/ab/ab02.tmp-1-2-3"));
  EXPECT_EQ(s.remove_abandoned(std::chrono::hours(24), false), 2u);
  EXPECT_FALSE(std::filesystem::exists(root + "/data/ab/ab02.tmp-1-2-3"));
  EXPECT_FALSE(std::filesystem::exists(root + "/config.tmp-7-8-9"));
  EXPECT_TRUE(std::filesystem::exists(root + "/data/ab/ab03.tmp-4-5-6"));
  EXPECT_TRUE(s.stat("data/ab/ab01"));
  EXPECT_EQ(s.remove_abandoned(std::chrono::hours(24), false), 0u);
  std::filesystem::remove_all(root);
}

// Every directory entry a put creates is made durable: the object's name in its directory, and
// each new directory's name in its parent.
TEST(LocalStore, PutSyncsTheDirectoriesOfEveryNewEntry) {
  char tmpl[] = "/tmp/pvesafe-local-XXXXXX";
  std::string base = mkdtemp(tmpl);
  std::vector<std::string> synced;
  set_sync_directory_hook([&](const std::string& d) {
    synced.push_back(d);
    return 0;
  });
  LocalStore s(base + "/repo");
  s.put("data/ab/ab01", bytes("x"));
  std::set<std::string> got(synced.begin(), synced.end());
  EXPECT_EQ(got, (std::set<std::string>{base, base + "/repo", base + "/repo/data",
                                        base + "/repo/data/ab"}));
  synced.clear();
  s.put("data/ab/ab02", bytes("y"));  // directories exist: only the object's own directory
  EXPECT_EQ(synced, (std::vector<std::string>{base + "/repo/data/ab"}));
  synced.clear();
  s.prepare_prefixes({"data/00/", "data/01/", "data/02/"});  // one sync of data/ for all three
  EXPECT_EQ(synced, (std::vector<std::string>{base + "/repo/data"}));
  set_sync_directory_hook({});
  std::filesystem::remove_all(base);
}

// A directory sync that fails fails the put, naming the directory: the caller must not believe
// the object is stored.
TEST(LocalStore, FailedDirectorySyncFailsThePut) {
  char tmpl[] = "/tmp/pvesafe-local-XXXXXX";
  std::string root = mkdtemp(tmpl);
  LocalStore s(root);
  s.put("data/ab/ab01", bytes("x"));
  for (const std::string& bad : {root + "/data/ab", root + "/data"}) {
    set_sync_directory_hook([&](const std::string& d) { return d == bad ? EIO : 0; });
    const std::string key = bad == root + "/data" ? "data/cd/cd01" : "data/ab/ab02";
    try {
      s.put(key, bytes("y"));
      ADD_FAILURE() << "put succeeded although syncing " << bad << " failed";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kIo);
      EXPECT_NE(std::string(e.what()).find("cannot sync directory " + bad), std::string::npos)
          << e.what();
    }
  }
  set_sync_directory_hook([&](const std::string&) { return EIO; });
  EXPECT_THROW(s.prepare_prefixes({"data/ef/"}), Error);
  set_sync_directory_hook({});
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace pvesafe::store
