#include "core/line_diff.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

namespace pvesafe {
namespace {

TEST(LineDiff, EqualTextsGiveNothing) {
  EXPECT_EQ(unified_diff("a\nb\n", "a\nb\n", "x", "y"), "");
  EXPECT_EQ(unified_diff("", "", "x", "y"), "");
}

TEST(LineDiff, OneChangedLine) {
  std::string d = unified_diff("a\nb\nc\n", "a\nB\nc\n", "old", "new");
  EXPECT_EQ(d, "--- old\n+++ new\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
}

TEST(LineDiff, AddedAndRemovedAtTheEnds) {
  EXPECT_EQ(unified_diff("", "x\n", "a", "b"), "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n");
  EXPECT_EQ(unified_diff("x\n", "", "a", "b"), "--- a\n+++ b\n@@ -1,1 +0,0 @@\n-x\n");
}

// The hunks apply: GNU patch turns A into B with them, for random edits of random texts.
TEST(LineDiff, PatchAppliesItForRandomEdits) {
  if (std::system("command -v patch >/dev/null 2>&1") != 0) GTEST_SKIP() << "patch not installed";
  std::mt19937 rng(7);
  for (int round = 0; round < 30; ++round) {
    std::string a, b;
    int n = static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      std::string line = "line " + std::to_string(rng() % 20);
      a += line + "\n";
      switch (rng() % 5) {
        case 0:
          break;  // deleted
        case 1:
          b += line + "\n" + "new " + std::to_string(rng() % 9) + "\n";
          break;
        case 2:
          b += "changed " + std::to_string(i) + "\n";
          break;
        default:
          b += line + "\n";
      }
    }
    std::string d = unified_diff(a, b, "a.txt", "b.txt");
    char dir[] = "/tmp/linediff.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    std::string base = dir;
    std::ofstream(base + "/a.txt") << a;
    std::ofstream(base + "/p.diff") << d;
    std::string cmd = "cd " + base + " && patch -s a.txt p.diff >/dev/null 2>&1";
    if (a != b) {
      ASSERT_EQ(std::system(cmd.c_str()), 0) << d;
    } else {
      EXPECT_EQ(d, "");
    }
    std::ifstream in(base + "/a.txt");
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, b) << d;
    std::system(("rm -rf " + base).c_str());
  }
}

}  // namespace
}  // namespace pvesafe
