// Parsing of PVE replies and identifiers, against the recorded samples in
// ../shared/pve-api-samples/.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "pve/client.h"
#include "pve/guest.h"
#include "pve/provision.h"
#include "pve/ssh.h"
#include "pve/vzdump.h"

namespace pvesafe::pve {
namespace {

nlohmann::json sample(const std::string& name) {
  std::ifstream in(std::string(PVESAFE_SHARED_DIR) + "/pve-api-samples/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str())["data"];
}

TEST(Upid, ParsesVzdumpWithEmptyId) {
  Upid u = Upid::parse("UPID:pve1:0000ABCD:0012F00D:66F1A2B3:vzdump::root@pam:");
  EXPECT_EQ(u.node, "pve1");
  EXPECT_EQ(u.pid, 0xABCDu);
  EXPECT_EQ(u.pstart, 0x12F00Du);
  EXPECT_EQ(u.starttime, 0x66F1A2B3);
  EXPECT_EQ(u.type, "vzdump");
  EXPECT_EQ(u.id, "");
  EXPECT_EQ(u.user, "root@pam");
}

TEST(Upid, ParsesTokenUserAndNinehexPstart) {
  Upid u = Upid::parse("UPID:pve-02:00001A2B:1A2B3C4D5:6745F0A1:qmrestore:100:root@pam!pvesafe:");
  EXPECT_EQ(u.node, "pve-02");
  EXPECT_EQ(u.pstart, 0x1A2B3C4D5ull);
  EXPECT_EQ(u.type, "qmrestore");
  EXPECT_EQ(u.id, "100");
  EXPECT_EQ(u.user, "root@pam!pvesafe");
}

TEST(Upid, RejectsGarbage) {
  for (const char* bad : {"", "UPID:", "TASK:pve1:0000ABCD:0012F00D:66F1A2B3:vzdump::root@pam:",
                          "UPID:pve1:zzzz:0012F00D:66F1A2B3:vzdump::root@pam:",
                          "UPID:pve1:0000ABCD:0012F00D:66F1A2B3"}) {
    try {
      Upid::parse(bad);
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::kRemote) << bad;
    }
  }
}

TEST(Fingerprint, NormalisesForms) {
  std::string hex = "3fa2194b00112233445566778899aabbccddeeff00112233445566778899aabb";
  std::string want =
      "3F:A2:19:4B:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:"
      "AA:BB";
  EXPECT_EQ(normalize_fingerprint(hex), want);
  EXPECT_EQ(normalize_fingerprint("sha256:" + want), want);
  EXPECT_EQ(normalize_fingerprint(want), want);
  EXPECT_THROW(normalize_fingerprint("3F:A2"), Error);
  EXPECT_THROW(normalize_fingerprint(std::string(64, 'x')), Error);
}

TEST(Guests, ParsesRecordedClusterResources) {
  auto guests = parse_guests(sample("cluster_resources.json"));
  ASSERT_EQ(guests.size(), 4u);
  GuestInfo g = find_guest(guests, "100");
  EXPECT_EQ(g.type, "qemu");
  EXPECT_EQ(g.node, "node2");
  EXPECT_EQ(g.status, "running");
  EXPECT_EQ(g.maxdisk_bytes, 34359738368ull);
  EXPECT_FALSE(g.is_template);
  EXPECT_TRUE(find_guest(guests, "101").is_template);
  EXPECT_EQ(find_guest(guests, "102").tags, (std::vector<std::string>{"go-proxmox+cloud-init"}));
  EXPECT_EQ(guests_with_tag(guests, "go-proxmox+cloud-init").size(), 1u);
  EXPECT_TRUE(guests_with_tag(guests, "critical").empty());
  try {
    find_guest(guests, "999");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kNotFound);
    EXPECT_NE(std::string(e.what()).find("guest 999"), std::string::npos);
  }
}

TEST(Guests, SelectsByNodeSkippingTemplates) {
  auto guests = parse_guests(sample("cluster_resources.json"));
  auto on1 = select_guests(guests, "node1", "");
  ASSERT_EQ(on1.size(), 2u);  // 101 is a template
  EXPECT_EQ(on1[0].vmid, "102");
  EXPECT_EQ(on1[1].vmid, "200");
  EXPECT_TRUE(select_guests(guests, "node9", "").empty());
  EXPECT_EQ(select_guests(guests, "", "").size(), 3u);
}

TEST(Nodes, ParsesClusterStatusAndResources) {
  auto nodes = parse_nodes(sample("cluster_status.json"));
  ASSERT_EQ(nodes.size(), 4u);
  for (const auto& n : nodes) {
    EXPECT_FALSE(n.name.empty());
    EXPECT_FALSE(n.ip.empty()) << n.name;
  }
  auto from_resources = parse_nodes(sample("cluster_resources.json"));
  ASSERT_EQ(from_resources.size(), 4u);
  EXPECT_EQ(from_resources[0].name, "node1");
  EXPECT_TRUE(from_resources[0].online);
}

TEST(Vzdump, FindsArchiveInTaskLog) {
  std::vector<std::string> log = {
      "INFO: starting new backup job: vzdump 100 --storage local --mode snapshot --compress zstd",
      "INFO: Starting Backup of VM 100 (qemu)",
      "INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-qemu-100-2026_11_26-01_00_00.vma.zst'",
      "INFO: Finished Backup of VM 100 (00:00:10)", "TASK OK"};
  EXPECT_EQ(archive_path_from_log(log).value(),
            "/var/lib/vz/dump/vzdump-qemu-100-2026_11_26-01_00_00.vma.zst");
  EXPECT_FALSE(archive_path_from_log({"TASK OK"}).has_value());
}

TEST(Archive, KindFromVzdumpNames) {
  auto k = archive_kind("vzdump-qemu-100-2026_11_24-01_00_00.vma.zst");
  EXPECT_EQ(k.type, "qemu");
  EXPECT_EQ(k.vmid, "100");
  EXPECT_EQ(k.extension, "vma.zst");
  k = archive_kind("/var/lib/vz/dump/vzdump-lxc-101-2026_11_24-01_00_00.tar.zst");
  EXPECT_EQ(k.type, "lxc");
  EXPECT_EQ(k.extension, "tar.zst");
  try {
    archive_kind("disk.img");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kUnsupported);
  }
}

TEST(Misc, HostPortAndVmid) {
  auto a = parse_host_port("127.0.0.1:2222");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 2222);
  a = parse_host_port("[::1]:22");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 22);
  a = parse_host_port("pve-01");
  EXPECT_EQ(a.port, 0);
  EXPECT_EQ(check_vmid("100"), "100");
  EXPECT_THROW(check_vmid("99"), Error);
  EXPECT_THROW(check_vmid("10a"), Error);
  EXPECT_THROW(check_vmid(""), Error);
}

TEST(ClientOptions, RefusesTokenWithoutSecretAndBadId) {
  ClientOptions o;
  o.host = "127.0.0.1";
  o.token_id = "root@pam!pvesafe";
  try {
    Client c(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kConfig);
  }
  o.token_id = "pvesafe";
  o.token_secret = Secret("x");
  EXPECT_THROW(Client{o}, Error);
}

}  // namespace
}  // namespace pvesafe::pve

#include "pve/drill.h"

namespace pvesafe::pve {
namespace {

TEST(Drill, UnionOfOverlappingIntervals) {
  EXPECT_DOUBLE_EQ(union_seconds({}), 0);
  EXPECT_DOUBLE_EQ(union_seconds({{0, 1}, {0.5, 2}, {3, 4}}), 3);
  EXPECT_DOUBLE_EQ(union_seconds({{3, 4}, {0, 1}, {1, 2}}), 3);
  EXPECT_DOUBLE_EQ(union_seconds({{0, 10}, {2, 3}}), 10);
}

TEST(Drill, RtoAndPrediction) {
  DrillStages s;
  s.lookup = 1;
  s.fetch = 2;
  s.decrypt_verify = 3;
  s.provision = 4;
  s.boot = 5;
  s.health = 6;
  s.cleanup = 100;
  EXPECT_DOUBLE_EQ(s.rto(), 21);  // cleanup is not part of the RTO
  // 1 GiB snapshot, half of it fetched, 10 GiB disk at 125 MB/s (1 Gbit/s).
  auto p = predict_rto(s, 1ull << 30, 1ull << 29, 10ull << 30, 125e6);
  EXPECT_NEAR(p.fetch, (5.0 * (1ull << 30)) / 125e6, 1e-6);
  EXPECT_DOUBLE_EQ(p.decrypt_verify, 30);
  EXPECT_DOUBLE_EQ(p.provision, 40);
  EXPECT_NEAR(p.rto, 1 + p.fetch + 30 + 40 + 5 + 6, 1e-9);
  auto q = predict_rto(s, 1ull << 30, 1ull << 29, 10ull << 30, 0);
  EXPECT_DOUBLE_EQ(q.fetch, 20);
  EXPECT_EQ(format_seconds(275), "4m35s");
  EXPECT_EQ(format_seconds(3723), "1h02m03s");
}

}  // namespace
}  // namespace pvesafe::pve
