#include "exporter/backup_freshness.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "exporter/exporter.h"
#include "exporter/repository_job.h"

namespace pvesafe::exporter {
namespace {

using nlohmann::json;

repo::SnapshotInfo snap(const std::string& id, const std::string& node, const std::string& guest,
                        const std::string& type, double epoch, uint64_t size = 1000) {
  repo::SnapshotInfo s;
  s.id = id;
  s.node = node;
  s.guest_id = guest;
  s.guest_type = type;
  s.size_bytes = size;
  s.time = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(epoch)));
  return s;
}

const json kVms = json::parse(R"([
  {"id":"qemu/100","type":"qemu","vmid":100,"node":"pve-02","name":"web","status":"running"},
  {"id":"lxc/101","type":"lxc","vmid":101,"node":"pve-01","name":"db","status":"running"},
  {"id":"qemu/105","type":"qemu","vmid":105,"node":"pve-03","name":"new","status":"stopped"}])");
const json kNodes = json::parse(R"([{"node":"pve-01"},{"node":"pve-02"},{"node":"pve-03"}])");
const json kNotBackedUp = json::parse(R"([{"vmid":105,"name":"new","type":"qemu"}])");

std::vector<repo::SnapshotInfo> history() {
  return {
      snap("a1", "pve-01", "100", "qemu", 1000),        // before the migration, on pve-01
      snap("a2", "pve-02", "100", "qemu", 2000, 4096),  // after it, on pve-02
      snap("b1", "pve-01", "101", "lxc", 1500),
      snap("x1", "pve-07", "101", "lxc", 9000),   // another cluster's guest 101
      snap("x2", "pve-01", "101", "qemu", 9500),  // same id, other type: not this guest
      snap("f1", "", "105", "", 50),              // guessed from nothing: guest id only
  };
}

TEST(BackupFreshness, JoinsEveryNodesSnapshotsWithTheClusterGuests) {
  ClusterView v = parse_cluster_view(kVms, kNodes, kNotBackedUp);
  ASSERT_EQ(v.guests.size(), 3u);
  EXPECT_TRUE(v.not_backed_up_known);
  auto rows = join_backups(history(), v);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].guest.vmid, "100");
  EXPECT_EQ(rows[0].snapshots, 2);
  EXPECT_EQ(rows[0].last_time, 2000);
  EXPECT_EQ(rows[0].last_node, "pve-02");
  EXPECT_EQ(rows[0].last_snapshot, "a2");
  EXPECT_EQ(rows[0].last_size_bytes, 4096u);
  EXPECT_EQ(rows[1].snapshots, 1);  // b1 only
  EXPECT_EQ(rows[1].last_time, 1500);
  EXPECT_EQ(rows[2].snapshots, 1);
  EXPECT_FALSE(rows[2].in_backup_job);
  EXPECT_TRUE(rows[0].in_backup_job);
}

TEST(BackupFreshness, OneSeriesPerGuestAndZeroForNeverBackedUp) {
  ClusterView v = parse_cluster_view(kVms, kNodes, kNotBackedUp);
  auto snaps = history();
  snaps.pop_back();  // 105 never backed up
  MetricSet m;
  backup_freshness_metrics(join_backups(snaps, v), v, m);
  std::string t = m.text();
  EXPECT_NE(t.find("pvesafe_guest_backup_last_timestamp_seconds{guest=\"100\",type=\"qemu\"} 2000"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("pvesafe_guest_backup_snapshots{guest=\"105\",type=\"qemu\"} 0"),
            std::string::npos);
  EXPECT_EQ(t.find("pvesafe_guest_backup_last_timestamp_seconds{guest=\"105\""), std::string::npos);
  EXPECT_NE(t.find("pvesafe_guest_backup_not_in_job{guest=\"105\",type=\"qemu\"} 1"),
            std::string::npos);
  EXPECT_NE(t.find("pvesafe_guest_backup_not_in_job{guest=\"100\",type=\"qemu\"} 0"),
            std::string::npos);
  EXPECT_NE(t.find("pvesafe_repository_snapshots 3"), std::string::npos);
  EXPECT_EQ(t.find("node="), std::string::npos) << "a migration must not start a new series";
}

TEST(BackupFreshness, UnknownNotBackedUpAndBadAnswers) {
  ClusterView v = parse_cluster_view(kVms, kNodes, json());
  EXPECT_FALSE(v.not_backed_up_known);
  MetricSet m;
  backup_freshness_metrics(join_backups(history(), v), v, m);
  EXPECT_EQ(m.text().find("pvesafe_guest_backup_not_in_job"), std::string::npos);
  EXPECT_THROW(parse_cluster_view(json::object(), kNodes, json()), std::runtime_error);
}

TEST(RepositoryJob, ReportsFreshnessAndFailures) {
  std::atomic<bool> fail{false};
  SnapshotLister list = [&] {
    if (fail) throw std::runtime_error("store unreachable");
    return history();
  };
  ApiGet get = [](const std::string& path) -> json {
    if (path == "/cluster/resources?type=vm") return kVms;
    if (path == "/nodes") return kNodes;
    if (path == "/cluster/backup-info/not-backed-up") throw std::runtime_error("403");
    throw std::runtime_error("unexpected " + path);
  };
  {
    RepositoryJob job(list, {{"lab", get}}, std::chrono::seconds(3600));
    ASSERT_TRUE(job.wait_for_rounds(1, std::chrono::seconds(10)));
    auto r = job.result("lab");
    EXPECT_TRUE(r.ran && r.ok) << r.error;
    std::string t = r.metrics.text();
    EXPECT_NE(t.find("pvesafe_guest_backup_snapshots{guest=\"100\",type=\"qemu\"} 2"),
              std::string::npos)
        << t;
    EXPECT_NE(t.find("pvesafe_repository_last_read_timestamp_seconds"), std::string::npos);
    EXPECT_FALSE(job.result("other").ran);
  }
  fail = true;
  RepositoryJob job(list, {{"lab", get}}, std::chrono::seconds(3600));
  ASSERT_TRUE(job.wait_for_rounds(1, std::chrono::seconds(10)));
  auto r = job.result("lab");
  EXPECT_TRUE(r.ran);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("store unreachable"), std::string::npos);
  EXPECT_EQ(r.metrics.text().find("pvesafe_guest_backup"), std::string::npos) << "no stale values";
}

TEST(RepositoryJob, TheTargetScrapeCarriesItAsSourceRepository) {
  ExporterOptions o;
  o.targets["lab"] = [](const std::string& path) -> json {
    if (path == "/cluster/resources?type=vm") return kVms;
    if (path == "/nodes") return kNodes;
    throw std::runtime_error("not here: " + path);
  };
  o.pve.node_details = false;
  o.pve.ceph = false;
  o.list_snapshots = [] { return history(); };
  o.repository_interval = std::chrono::seconds(3600);
  Exporter ex(std::move(o));
  std::string t;
  for (int i = 0; i < 100; ++i) {
    t = ex.scrape("lab", std::chrono::milliseconds(2000));
    if (t.find("pvesafe_guest_backup_snapshots") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(t.find("pvesafe_source_up{source=\"repository\"} 1"), std::string::npos) << t;
  EXPECT_NE(t.find("pvesafe_guest_backup_last_timestamp_seconds{guest=\"101\",type=\"lxc\"} 1500"),
            std::string::npos);
}

}  // namespace
}  // namespace pvesafe::exporter
