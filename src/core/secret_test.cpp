#include "core/secret.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/error.h"

namespace pvesafe {
namespace {

std::string write_file(const std::string& content, mode_t mode) {
  char tmpl[] = "/tmp/pvesafe-secret-XXXXXX";
  int fd = mkstemp(tmpl);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(fd);
  chmod(tmpl, mode);
  return tmpl;
}

TEST(Secret, CopyMoveAndView) {
  Secret a("hunter2");
  Secret b = a;
  Secret c = std::move(a);
  EXPECT_EQ(b.view(), "hunter2");
  EXPECT_EQ(c.view(), "hunter2");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  c.clear();
  EXPECT_TRUE(c.empty());
}

TEST(Secret, FileFirstLineAndPermissions) {
  std::string p = write_file("s3cret\nsecond line\n", 0600);
  EXPECT_EQ(read_secret_file(p).view(), "s3cret");
  chmod(p.c_str(), 0640);
  try {
    read_secret_file(p);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kConfig);
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos);
  }
  unlink(p.c_str());
}

TEST(Secret, CommandAndSources) {
  EXPECT_EQ(run_secret_command("printf 'abc\\r\\nxyz'").view(), "abc");
  EXPECT_THROW(run_secret_command("exit 3"), Error);
  PassphraseOptions o;
  o.use_prompt = false;
  o.env_var = "PVESAFE_TEST_SECRET_VAR";
  o.credential = "pvesafe-test-credential";
  ::unsetenv("CREDENTIALS_DIRECTORY");
  ::setenv("PVESAFE_TEST_SECRET_VAR", "from-env", 1);
  EXPECT_EQ(read_passphrase(o).view(), "from-env");
  ::unsetenv("PVESAFE_TEST_SECRET_VAR");
  char tmpl[] = "/tmp/pvesafe-cred-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string cred = dir + "/pvesafe-test-credential";
  { std::ofstream(cred) << "from-credential\n"; }
  chmod(cred.c_str(), 0400);
  ::setenv("CREDENTIALS_DIRECTORY", dir.c_str(), 1);
  EXPECT_EQ(read_passphrase(o).view(), "from-credential");
  o.command = "echo from-command";
  EXPECT_EQ(read_passphrase(o).view(), "from-command");
  ::unsetenv("CREDENTIALS_DIRECTORY");
  unlink(cred.c_str());
  rmdir(dir.c_str());
  PassphraseOptions none;
  none.use_prompt = false;
  none.env_var = "PVESAFE_TEST_UNSET_VAR";
  EXPECT_THROW(read_passphrase(none), Error);
}

}  // namespace
}  // namespace pvesafe
