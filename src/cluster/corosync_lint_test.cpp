#include "cluster/corosync_lint.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.h"

namespace pvesafe::cluster {
namespace {

// A three-node PVE 8/9 corosync.conf as `pvecm create` + `pvecm add` write it, with two links.
const char* kThreeNodeTwoLinks = R"(logging {
  debug: off
  to_syslog: yes
}

nodelist {
  node {
    name: pve-01
    nodeid: 1
    quorum_votes: 1
    ring0_addr: 10.10.10.1
    ring1_addr: 10.20.20.1
  }
  node {
    name: pve-02
    nodeid: 2
    quorum_votes: 1
    ring0_addr: 10.10.10.2
    ring1_addr: 10.20.20.2
  }
  node {
    name: pve-03
    nodeid: 3
    quorum_votes: 1
    ring0_addr: 10.10.10.3
    ring1_addr: 10.20.20.3
  }
}

quorum {
  provider: corosync_votequorum
}

totem {
  cluster_name: lab
  config_version: 7
  interface {
    linknumber: 0
  }
  interface {
    linknumber: 1
  }
  ip_version: ipv4-6
  link_mode: passive
  secauth: on
  version: 2
}
)";

std::string node_block(int id, const std::string& ring0, const std::string& ring1 = {}) {
  std::string s = "  node {\n    name: pve-0" + std::to_string(id) +
                  "\n    nodeid: " + std::to_string(id) + "\n    quorum_votes: 1\n    ring0_addr: " +
                  ring0 + "\n";
  if (!ring1.empty()) s += "    ring1_addr: " + ring1 + "\n";
  return s + "  }\n";
}

std::string conf(const std::string& nodes, const std::string& quorum_extra = {},
                 int version = 3, const std::string& totem_extra = {}) {
  return "nodelist {\n" + nodes + "}\nquorum {\n  provider: corosync_votequorum\n" +
         quorum_extra + "}\ntotem {\n  cluster_name: lab\n  config_version: " +
         std::to_string(version) + "\n  secauth: on\n" + totem_extra + "}\n";
}

bool has(const std::vector<Finding>& v, const std::string& check, Severity sev,
         const std::string& text = {}) {
  return std::any_of(v.begin(), v.end(), [&](const Finding& f) {
    return f.check == check && f.severity == sev &&
           (text.empty() || f.message.find(text) != std::string::npos);
  });
}

TEST(CorosyncConf, ParsesThePveLayout) {
  CorosyncConf c = CorosyncConf::parse(kThreeNodeTwoLinks, "corosync.conf");
  EXPECT_EQ(c.cluster_name, "lab");
  ASSERT_TRUE(c.config_version);
  EXPECT_EQ(*c.config_version, 7u);
  ASSERT_EQ(c.nodes.size(), 3u);
  EXPECT_EQ(c.nodes[1].name, "pve-02");
  EXPECT_EQ(*c.nodes[1].nodeid, 2u);
  EXPECT_EQ(c.nodes[2].links.at(1), "10.20.20.3");
  EXPECT_EQ(c.interfaces.size(), 2u);
  EXPECT_EQ(c.quorum_provider, "corosync_votequorum");
  EXPECT_FALSE(c.has_qdevice);
  EXPECT_EQ(c.effective_token_ms(), 1000u + 650u);
}

TEST(CorosyncConf, ReportsUnbalancedBracesWithTheLine) {
  try {
    CorosyncConf::parse("totem {\n  cluster_name: x\n", "bad.conf");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kConfig);
    EXPECT_NE(std::string(e.what()).find("bad.conf"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos);
  }
  EXPECT_THROW(CorosyncConf::parse("}\n", "x"), Error);
  EXPECT_THROW(CorosyncConf::parse("totem {\n  just words\n}\n", "x"), Error);
  EXPECT_THROW(CorosyncConf::parse("totem {\n  token: fast\n}\n", "x"), Error);
}

TEST(CorosyncLint, HealthyThreeNodeTwoLinkClusterIsClean) {
  CorosyncConf c = CorosyncConf::parse(kThreeNodeTwoLinks, "corosync.conf");
  auto findings = lint_corosync(c, {});
  for (const auto& f : findings) ADD_FAILURE() << f.check << ": " << f.message;
}

TEST(CorosyncLint, SingleLinkIsAWarningNamingTheFile) {
  CorosyncConf c = CorosyncConf::parse(
      conf(node_block(1, "10.10.10.1") + node_block(2, "10.10.10.2") + node_block(3, "10.10.10.3")),
      "/etc/pve/corosync.conf");
  auto f = lint_corosync(c, {});
  ASSERT_TRUE(has(f, "corosync.links", Severity::kWarning, "only one corosync link"));
  EXPECT_EQ(f.front().subject, "/etc/pve/corosync.conf");
  EXPECT_FALSE(has(f, "corosync.votes", Severity::kWarning));
}

TEST(CorosyncLint, EvenNodeCountWithoutQDevice) {
  std::string four = node_block(1, "10.10.10.1", "10.20.20.1") +
                     node_block(2, "10.10.10.2", "10.20.20.2") +
                     node_block(3, "10.10.10.3", "10.20.20.3") +
                     node_block(4, "10.10.10.4", "10.20.20.4");
  auto f = lint_corosync(CorosyncConf::parse(conf(four), "c"), {});
  EXPECT_TRUE(has(f, "corosync.votes", Severity::kWarning, "2/2 split"));

  // The same cluster with a QDevice is fine.
  auto g = lint_corosync(
      CorosyncConf::parse(conf(four, "  device {\n    model: net\n    net {\n      host: "
                                     "10.10.10.9\n    }\n  }\n"),
                          "c"),
      {});
  EXPECT_FALSE(has(g, "corosync.votes", Severity::kWarning));

  // Two nodes without two_node or QDevice: losing either node stops the cluster.
  std::string two = node_block(1, "10.10.10.1", "10.20.20.1") + node_block(2, "10.10.10.2", "10.20.20.2");
  EXPECT_TRUE(has(lint_corosync(CorosyncConf::parse(conf(two), "c"), {}), "corosync.votes",
                  Severity::kCritical));
}

TEST(CorosyncLint, TwoNodeMisuse) {
  std::string three = node_block(1, "10.10.10.1", "10.20.20.1") +
                      node_block(2, "10.10.10.2", "10.20.20.2") +
                      node_block(3, "10.10.10.3", "10.20.20.3");
  auto f = lint_corosync(CorosyncConf::parse(conf(three, "  two_node: 1\n"), "c"), {});
  EXPECT_TRUE(has(f, "corosync.two-node", Severity::kCritical, "with 3 nodes"));

  std::string two = node_block(1, "10.10.10.1", "10.20.20.1") + node_block(2, "10.10.10.2", "10.20.20.2");
  auto g = lint_corosync(
      CorosyncConf::parse(conf(two, "  two_node: 1\n  wait_for_all: 0\n"), "c"), {});
  EXPECT_TRUE(has(g, "corosync.two-node", Severity::kCritical, "wait_for_all: 0"));
  EXPECT_FALSE(has(g, "corosync.votes", Severity::kCritical));
}

TEST(CorosyncLint, DuplicateIdsAndAddressesAndTokens) {
  std::string nodes = node_block(1, "10.10.10.1", "10.20.20.1") +
                      node_block(2, "10.10.10.2", "10.20.20.2") +
                      node_block(3, "10.10.10.2", "10.20.20.3");
  // Make node 3 reuse nodeid 2.
  nodes.replace(nodes.rfind("nodeid: 3"), 9, "nodeid: 2");
  auto f = lint_corosync(CorosyncConf::parse(conf(nodes, "", 3, "  token: 300\n"), "c"), {});
  EXPECT_TRUE(has(f, "corosync.nodes", Severity::kCritical, "nodeid 2 is used by pve-02, pve-03"));
  EXPECT_TRUE(has(f, "corosync.nodes", Severity::kCritical, "address 10.10.10.2"));
  EXPECT_TRUE(has(f, "corosync.token", Severity::kWarning, "token 300 ms"));
}

TEST(CorosyncLint, ClusterLinkInsideTheDataNetwork) {
  CorosyncConf c = CorosyncConf::parse(kThreeNodeTwoLinks, "c");
  CorosyncLintOptions o;
  o.data_networks = {"10.20.20.0/24"};
  auto f = lint_corosync(c, o);
  ASSERT_TRUE(has(f, "corosync.data-network", Severity::kWarning, "10.20.20.2 of node pve-02"));
  EXPECT_EQ(std::count_if(f.begin(), f.end(),
                          [](const Finding& x) { return x.check == "corosync.data-network"; }),
            3);
  EXPECT_TRUE(address_in_network("fd00::5", "fd00::/64"));
  EXPECT_FALSE(address_in_network("10.10.10.1", "10.20.20.0/24"));
  EXPECT_FALSE(address_in_network("pve-01", "10.20.20.0/24"));
}

TEST(CorosyncLint, ConfigVersionMismatchNamesTheStaleCopy) {
  std::string nodes = node_block(1, "10.10.10.1", "10.20.20.1") +
                      node_block(2, "10.10.10.2", "10.20.20.2") +
                      node_block(3, "10.10.10.3", "10.20.20.3");
  std::vector<CorosyncConf> copies{
      CorosyncConf::parse(conf(nodes, "", 8), "pve-01:/etc/corosync/corosync.conf"),
      CorosyncConf::parse(conf(nodes, "", 8), "pve-02:/etc/corosync/corosync.conf"),
      CorosyncConf::parse(conf(nodes, "", 7), "pve-03:/etc/corosync/corosync.conf")};
  auto f = lint_config_versions(copies);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, Severity::kCritical);
  EXPECT_EQ(f[0].subject, "pve-03:/etc/corosync/corosync.conf");
  EXPECT_NE(f[0].message.find("config_version 7 is older than 8"), std::string::npos);
  copies.pop_back();
  EXPECT_TRUE(lint_config_versions(copies).empty());
}

}  // namespace
}  // namespace pvesafe::cluster
