#include "cli/config_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace pvesafe::cli {
namespace {

// A command line shaped like pvesafe's: global flags, commands with shared and own flags.
struct Cli {
  CLI::App app{"test"};
  std::string repo, catalog, config;
  std::vector<std::string> options;
  bool json = false;
  std::string backup_host, backup_pass, backup_known_hosts, exporter_host,
      exporter_listen = "127.0.0.1:9221";
  std::string exporter_mode = "node", phase;
  int exporter_port = 8006;
  std::vector<std::string> targets;
  double timeout = 30;

  Cli() {
    app.fallthrough();
    app.add_option("-r,--repo", repo)->envname("PVESAFE_TEST_REPOSITORY");
    app.add_option("--config", config);
    app.add_option("--catalog", catalog);
    app.add_option("-o,--option", options);
    app.add_flag("--json", json);
    auto* b = app.add_subcommand("backup");
    b->add_option("--pve-host", backup_host)->envname("PVESAFE_TEST_PVE_HOST");
    b->add_option("--passphrase-file", backup_pass);
    b->add_option("--ssh-known-hosts", backup_known_hosts);
    b->add_option("--pve-timeout", timeout);
    auto* e = app.add_subcommand("exporter");
    e->add_option("--pve-host", exporter_host)->envname("PVESAFE_TEST_PVE_HOST");
    e->add_option("--pve-port", exporter_port);
    e->add_option("--listen", exporter_listen);
    e->add_option("--mode", exporter_mode)->check(CLI::IsMember({"node", "central"}));
    e->add_option("--target", targets);
    auto* h = app.add_subcommand("vzdump-hook");
    h->add_option("phase", phase);
    h->add_option("--passphrase-file", backup_pass);
  }
};

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pvesafe-config-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    ::unsetenv("PVESAFE_TEST_REPOSITORY");
    ::unsetenv("PVESAFE_TEST_PVE_HOST");
    ::unsetenv("PVESAFE_CONFIG");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& text, mode_t mode = 0644) {
    std::string p = (dir_ / "pvesafe.toml").string();
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }
  void parse(Cli& c, std::vector<const char*> args) {
    args.insert(args.begin(), "pvesafe");
    c.app.parse(static_cast<int>(args.size()), const_cast<char**>(args.data()));
  }
  // The message of the kConfig error apply_config_file throws for `text`.
  std::string error_of(const std::string& text, mode_t mode = 0644) {
    Cli c;
    try {
      apply_config_file(c.app, {write(text, mode), true});
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kConfig);
      return e.what();
    }
    ADD_FAILURE() << "no error for:\n" << text;
    return "";
  }
  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, FindsTheFileFromFlagEnvironmentOrDefault) {
  const char* a1[] = {"pvesafe", "backup", "--config", "/x.toml", "f"};
  EXPECT_EQ(find_config(5, a1).path, "/x.toml");
  EXPECT_TRUE(find_config(5, a1).explicit_);
  const char* a2[] = {"pvesafe", "--config=/y.toml", "backup"};
  EXPECT_EQ(find_config(3, a2).path, "/y.toml");
  const char* a3[] = {"pvesafe", "backup", "--", "--config", "/z.toml"};
  std::string def = write("");
  EXPECT_EQ(find_config(5, a3, def).path, def);
  EXPECT_FALSE(find_config(5, a3, def).explicit_);
  EXPECT_EQ(find_config(5, a3, (dir_ / "absent.toml").string()).path, "");
  ::setenv("PVESAFE_CONFIG", "/env.toml", 1);
  EXPECT_EQ(find_config(5, a3, def).path, "/env.toml");
  EXPECT_TRUE(find_config(5, a3, def).explicit_);
}

TEST_F(ConfigFileTest, ValuesReachGlobalSharedAndCommandFlags) {
  Cli c;
  apply_config_file(c.app, {write(R"(
repository = "s3://bucket/cluster"
passphrase_file = "/etc/pvesafe/credentials/passphrase"
option = ["s3.endpoint=https://s3.example", "s3.region=eu-west-1"]
json = true

[pve]
host = "pve-01.example"
timeout = 12.5

[ssh]
known-hosts = "/etc/pvesafe/known_hosts"

[exporter]
pve-host = "pve-02.example"
listen = "0.0.0.0:9221"
mode = "central"
target = ["prod=pve-01:8006", "lab=pve-09"]
pve-port = 8007
)"),
                            true});
  parse(c, {"exporter"});
  EXPECT_EQ(c.repo, "s3://bucket/cluster");
  EXPECT_EQ(c.options,
            (std::vector<std::string>{"s3.endpoint=https://s3.example", "s3.region=eu-west-1"}));
  EXPECT_TRUE(c.json);
  EXPECT_EQ(c.backup_pass, "/etc/pvesafe/credentials/passphrase");
  EXPECT_EQ(c.backup_host, "pve-01.example");  // [pve] for every command with --pve-host
  EXPECT_EQ(c.timeout, 12.5);
  EXPECT_EQ(c.backup_known_hosts, "/etc/pvesafe/known_hosts");
  EXPECT_EQ(c.exporter_host, "pve-02.example");  // [exporter] wins over [pve]
  EXPECT_EQ(c.exporter_listen, "0.0.0.0:9221");
  EXPECT_EQ(c.exporter_mode, "central");
  EXPECT_EQ(c.exporter_port, 8007);
  EXPECT_EQ(c.targets, (std::vector<std::string>{"prod=pve-01:8006", "lab=pve-09"}));
}

TEST_F(ConfigFileTest, EnvironmentBeatsFileAndFlagsBeatBoth) {
  std::string p = write(
      "repository = \"/from/file\"\n[pve]\nhost = \"file-host\"\n[exporter]\nlisten = "
      "\"file:1\"\ntarget = [\"a=b\"]\n");
  {
    Cli c;
    ::setenv("PVESAFE_TEST_REPOSITORY", "/from/env", 1);
    ::setenv("PVESAFE_TEST_PVE_HOST", "env-host", 1);
    apply_config_file(c.app, {p, true});
    parse(c, {"exporter"});
    EXPECT_EQ(c.repo, "/from/env");
    EXPECT_EQ(c.exporter_host, "env-host");
    EXPECT_EQ(c.exporter_listen, "file:1");
  }
  {
    Cli c;
    apply_config_file(c.app, {p, true});
    parse(c, {"exporter", "--repo", "/from/flag", "--pve-host", "flag-host", "--listen", "flag:2",
              "--target", "x=y"});
    EXPECT_EQ(c.repo, "/from/flag");
    EXPECT_EQ(c.exporter_host, "flag-host");
    EXPECT_EQ(c.exporter_listen, "flag:2");
    EXPECT_EQ(c.targets, std::vector<std::string>{"x=y"});  // replaced, not appended
  }
  ::unsetenv("PVESAFE_TEST_REPOSITORY");
  ::unsetenv("PVESAFE_TEST_PVE_HOST");
  {
    Cli c;
    apply_config_file(c.app, {p, true});
    parse(c, {"exporter"});
    EXPECT_EQ(c.repo, "/from/file");
    EXPECT_EQ(c.exporter_host, "file-host");
  }
}

TEST_F(ConfigFileTest, MissingFiles) {
  Cli c;
  apply_config_file(c.app, {(dir_ / "absent.toml").string(), false});  // the default: optional
  try {
    apply_config_file(c.app, {(dir_ / "absent.toml").string(), true});
    FAIL() << "an explicit missing file was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kConfig);
    EXPECT_NE(std::string(e.what()).find("absent.toml: No such file"), std::string::npos)
        << e.what();
  }
}

TEST_F(ConfigFileTest, BadFilesNameTheKeyAndLine) {
  // A top-level key must be a flag of some command (listen is one: the exporter's).
  EXPECT_NE(error_of("repository = \"x\"\nlistne = \"y\"\n")
                .find("line 2: key 'listne': no command has a flag --listne"),
            std::string::npos);
  EXPECT_NE(
      error_of("[exporter]\nlistne = \"y\"\n").find("key 'listne': exporter has no flag --listne"),
      std::string::npos);
  EXPECT_NE(error_of("[restore]\nx = 1\n").find("[restore] is not a command"), std::string::npos);
  EXPECT_NE(error_of("[exporter]\nmode = \"both\"\n").find("key 'mode'"), std::string::npos);
  EXPECT_NE(error_of("[exporter]\nlisten = [\"a\", \"b\"]\n").find("takes one value, not an array"),
            std::string::npos);
  EXPECT_NE(error_of("[exporter]\npve-port = \"many\"\n").find("key 'pve-port'"),
            std::string::npos);
  EXPECT_NE(
      error_of("[vzdump-hook]\nphase = \"backup-end\"\n").find("is an argument of 'vzdump-hook'"),
      std::string::npos);
  EXPECT_NE(error_of("config = \"/other.toml\"\n").find("cannot be set in the config file"),
            std::string::npos);
  EXPECT_NE(error_of("repository = \n").find("line 1:"), std::string::npos);
  EXPECT_NE(error_of("repository = \"x\"\n", 0666).find("writable by other users"),
            std::string::npos);
}

}  // namespace
}  // namespace pvesafe::cli
