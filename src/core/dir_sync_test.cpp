#include "core/dir_sync.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace pvesafe {
namespace {

TEST(DirSync, SyncsExistingDirectoriesAndReportsMissingOnes) {
  char tmpl[] = "/tmp/pvesafe-dirsync-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  EXPECT_EQ(sync_directory(dir), 0);
  EXPECT_EQ(sync_directory(dir + "/missing"), ENOENT);
  std::filesystem::remove_all(dir);
}

TEST(DirSync, HookSeesEachDirectoryAndCanFailIt) {
  std::vector<std::string> seen;
  set_sync_directory_hook([&](const std::string& d) {
    seen.push_back(d);
    return d == "/" ? EIO : 0;
  });
  EXPECT_EQ(sync_directory("/tmp"), 0);
  EXPECT_EQ(sync_directory("/"), EIO);
  set_sync_directory_hook({});
  EXPECT_EQ(seen, (std::vector<std::string>{"/tmp", "/"}));
  EXPECT_EQ(sync_directory("/"), 0);
}

TEST(DirSync, ParentDirectory) {
  EXPECT_EQ(parent_directory("a"), ".");
  EXPECT_EQ(parent_directory("/a"), "/");
  EXPECT_EQ(parent_directory("/srv/backup/a.img"), "/srv/backup");
  EXPECT_EQ(parent_directory("rel/a.img"), "rel");
}

}  // namespace
}  // namespace pvesafe
