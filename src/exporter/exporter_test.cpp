#include "exporter/exporter.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "exporter/audit_job.h"
#include "exporter/catalog_collector.h"
#include "exporter/corosync_collector.h"
#include "exporter/metric_set.h"
#include "exporter/pve_collector.h"
#include "exporter/status_page.h"

namespace pvesafe::exporter {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

json sample(const std::string& name) {
  std::ifstream in(std::string(PVESAFE_SHARED_DIR) + "/pve-api-samples/" + name);
  EXPECT_TRUE(in.good()) << name;
  return json::parse(in)["data"];
}

TEST(MetricSet, RendersHelpTypeAndEscapedLabels) {
  MetricSet m;
  m.gauge("pvesafe_x", "Help with \\ backslash", {{"a", "q\"uote\nnl\\"}}, 1.5);
  m.add("pvesafe_y_total", MetricType::kCounter, "Count", {}, 3);
  m.gauge("pvesafe_x", "ignored", {{"a", "q\"uote\nnl\\"}}, 2);  // same series: last value wins
  EXPECT_EQ(m.text(),
            "# HELP pvesafe_x Help with \\\\ backslash\n# TYPE pvesafe_x gauge\n"
            "pvesafe_x{a=\"q\\\"uote\\nnl\\\\\"} 2\n"
            "# HELP pvesafe_y_total Count\n# TYPE pvesafe_y_total counter\npvesafe_y_total 3\n");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(sanitize_name("a-b.c"), "a_b_c");
}

TEST(MetricSet, LabelSetsRoundTripThroughTheRenderedForm) {
  LabelSet l{{"node", "pve-01"}, {"name", "we\"ird\\name\nx"}, {"empty", ""}};
  EXPECT_EQ(l.text(), "{node=\"pve-01\",name=\"we\\\"ird\\\\name\\nx\",empty=\"\"}");
  Labels back = parse_labels(l.text());
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[1].second, "we\"ird\\name\nx");
  EXPECT_EQ(back[2].second, "");
  EXPECT_TRUE(parse_labels("").empty());
  EXPECT_EQ(LabelSet().text(), "");
  EXPECT_EQ(LabelSet(Labels{{"a", "1"}}).text(), "{a=\"1\"}");
}

TEST(MetricSet, StreamedChunksEqualTheWholeText) {
  MetricSet m;
  for (int i = 0; i < 3000; ++i) {
    LabelSet l{{"guest", std::to_string(100 + i)}};
    m.gauge("pvesafe_a", "A", l, i);
    m.add("pvesafe_b_total", MetricType::kCounter, "B", l, i * 0.5);
  }
  m.describe("pvesafe_empty", MetricType::kGauge, "no samples: no HELP/TYPE lines");
  std::string whole = m.text();
  std::string streamed, chunk;
  size_t cursor = 0, pieces = 0;
  while (m.render_chunk(cursor, chunk, 1000)) {
    EXPECT_EQ(chunk.back(), '\n');  // whole lines only
    streamed += chunk;
    ++pieces;
  }
  EXPECT_EQ(streamed, whole);
  EXPECT_GT(pieces, 50u);
  EXPECT_EQ(whole.find("pvesafe_empty"), std::string::npos);
  EXPECT_FALSE(m.has("pvesafe_empty"));
  EXPECT_EQ(m.sample_count(), 6000u);
  EXPECT_EQ(m.value("pvesafe_b_total", {{"guest", "2099"}}), 999.5);
}

TEST(MetricSet, DedupesAcrossMergesAndKeepsTheLastValue) {
  MetricSet a, b, c;
  a.gauge("pvesafe_x", "X", {{"n", "1"}}, 1);
  a.gauge("pvesafe_x", "X", {{"n", "2"}}, 2);
  b.gauge("pvesafe_x", "X", {{"n", "2"}}, 20);  // same series as in a
  b.gauge("pvesafe_x", "X", {{"n", "3"}}, 3);
  b.gauge("pvesafe_y", "Y", {}, 7);
  a.merge(std::move(b));
  EXPECT_EQ(a.sample_count(), 4u);
  EXPECT_EQ(a.value("pvesafe_x", {{"n", "2"}}), 20);
  EXPECT_EQ(a.value("pvesafe_y", {}), 7);
  // Series moved in still dedupe against later adds (their hash slots moved with them).
  a.gauge("pvesafe_x", "X", {{"n", "3"}}, 30);
  EXPECT_EQ(a.value("pvesafe_x", {{"n", "3"}}), 30);
  EXPECT_EQ(a.sample_count(), 4u);
  // Copying merge with extra labels prepended.
  c.merge(a, {{"cluster", "c1"}});
  EXPECT_EQ(c.value("pvesafe_x", {{"cluster", "c1"}, {"n", "1"}}), 1);
  EXPECT_EQ(c.value("pvesafe_y", {{"cluster", "c1"}}), 7);
  EXPECT_EQ(c.text().find("pvesafe_x{n="), std::string::npos);
  auto hit = c.find("pvesafe_x", "n", "3");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->second, 30);
  EXPECT_EQ(label(hit->first, "cluster"), "c1");
  EXPECT_FALSE(c.find("pvesafe_x", "n", "9").has_value());
  EXPECT_TRUE(c.find("pvesafe_y", "nodes", "").has_value());  // absent label reads as ""
}

TEST(MetricSet, SamplesOfOneEntityShareTheirRenderedLabels) {
  // Ten figures per guest as the resources collector adds them: the label set is stored once
  // per guest, so 20,000 samples cost far less than 20,000 label strings.
  MetricSet m;
  std::vector<size_t> fams;
  for (int f = 0; f < 10; ++f)
    fams.push_back(m.family("pvesafe_f" + std::to_string(f), MetricType::kGauge, "F"));
  for (int g = 0; g < 2000; ++g) {
    LabelSet l{{"node", "pve-" + std::to_string(g % 100)},
               {"guest", std::to_string(100 + g)},
               {"type", "qemu"}};
    for (size_t f : fams) m.add(f, l, g);
  }
  EXPECT_EQ(m.sample_count(), 20000u);
  EXPECT_LT(m.memory_bytes(), 20000u * 40);  // 16-byte samples, hash slots, one label copy each
  EXPECT_EQ(m.value("pvesafe_f9", {{"node", "pve-5"}, {"guest", "205"}, {"type", "qemu"}}), 105);
}

TEST(PveCollector, ClusterStatusSample) {
  MetricSet m;
  collect_cluster_status(sample("cluster_status.json"), m);
  EXPECT_EQ(m.value("pvesafe_cluster_quorate", {}), 1);
  EXPECT_EQ(m.value("pvesafe_cluster_nodes", {}), 4);
  EXPECT_EQ(m.value("pvesafe_node_online", {{"node", "node3"}}), 1);
  EXPECT_EQ(m.samples("pvesafe_node_online").size(), 4u);
}

TEST(PveCollector, ClusterResourcesSample) {
  MetricSet m;
  collect_cluster_resources(sample("cluster_resources.json"), m);
  Labels g100{{"node", "node2"}, {"guest", "100"}, {"type", "qemu"}};
  EXPECT_EQ(m.value("pvesafe_guest_running", g100), 1);
  EXPECT_EQ(m.value("pvesafe_guest_memory_total_bytes", g100), 1073741824);
  EXPECT_EQ(m.value("pvesafe_guest_network_receive_bytes_total", g100), 2456116121);
  EXPECT_EQ(
      m.value("pvesafe_guest_running", {{"node", "node1"}, {"guest", "101"}, {"type", "qemu"}}), 0);
  EXPECT_EQ(m.value("pvesafe_node_memory_total_bytes", {{"node", "node3"}}), 16668827648);
  EXPECT_EQ(m.value("pvesafe_storage_total_bytes", {{"node", "node3"}, {"storage", "local-zfs"}}),
            479730032640);
}

TEST(PveCollector, HaStatusSample) {
  MetricSet m;
  collect_ha_status(sample("cluster_ha_status_current.pve9.json"), m);
  EXPECT_EQ(m.value("pvesafe_ha_quorate", {}), 1);
  EXPECT_EQ(m.value("pvesafe_ha_crm_master_info", {{"node", "pve-node-b1"}, {"state", "active"}}),
            1);
  EXPECT_EQ(m.value("pvesafe_ha_lrm_info", {{"node", "pve-node-c1"}, {"state", "maintenance"}}), 1);
  EXPECT_EQ(m.value("pvesafe_ha_lrm_info", {{"node", "pve-node-a2"}, {"state", "active"}}), 1);
  EXPECT_EQ(m.value("pvesafe_ha_fencing_armed", {{"node", "pve-node-b1"}}), 1);
  EXPECT_EQ(m.value("pvesafe_ha_resource_problem",
                    {{"sid", "vm:100"}, {"guest", "100"}, {"node", "pve-node-a2"}}),
            0);
  EXPECT_EQ(parse_ha_daemon_state("old timestamp - dead?"), "dead");
  EXPECT_EQ(parse_ha_daemon_state("n1 (wait_for_agent_lock, x)"), "wait_for_agent_lock");
}

TEST(PveCollector, CephSample) {
  MetricSet m;
  collect_ceph_status(sample("cluster_ceph_status.json"), m);
  EXPECT_EQ(m.value("pvesafe_ceph_health_status", {{"status", "HEALTH_WARN"}}), 1);
  EXPECT_EQ(m.value("pvesafe_ceph_health_status", {{"status", "HEALTH_OK"}}), 0);
  EXPECT_EQ(m.value("pvesafe_ceph_osds", {}), 21);
  EXPECT_EQ(m.value("pvesafe_ceph_osds_up", {}), 21);
  EXPECT_EQ(m.value("pvesafe_ceph_health_check_info",
                    {{"check", "POOL_NEARFULL"}, {"severity", "HEALTH_WARN"}}),
            1);
}

TEST(PveCollector, NodeStatusSample) {
  MetricSet m;
  collect_node_status("node1", sample("nodes_node_status.pve7.json"), m);
  EXPECT_EQ(m.value("pvesafe_node_package_info",
                    {{"node", "node1"}, {"package", "pve-manager"}, {"version", "7.4-16"}}),
            1);
  EXPECT_EQ(m.value("pvesafe_node_kernel_info", {{"node", "node1"}, {"release", "5.15.108-1-pve"}}),
            1);
}

// A fake API built from the recorded samples, with injectable failures.
struct FakeApi {
  std::map<std::string, json> answers;
  std::map<std::string, std::function<json()>> special;
  ApiGet get() {
    auto self = std::make_shared<FakeApi>(*this);
    return [self](const std::string& path) -> json {
      if (auto s = self->special.find(path); s != self->special.end()) return s->second();
      auto it = self->answers.find(path);
      if (it == self->answers.end()) throw pvesafe::Error(Errc::kNotFound, "404 " + path);
      return it->second;
    };
  }
};

FakeApi recorded_api() {
  FakeApi api;
  api.answers["/cluster/status"] = sample("cluster_status.json");
  api.answers["/cluster/resources"] = sample("cluster_resources.json");
  api.answers["/cluster/ha/status/current"] = sample("cluster_ha_status_current.pve9.json");
  api.answers["/cluster/ceph/status"] = sample("cluster_ceph_status.trimmed.json");
  // GET /nodes (no recording: the documented fields, the nodes of the recorded cluster status).
  api.answers["/nodes"] = json::array();
  for (const char* n : {"node1", "node2", "node3", "node4"}) {
    api.answers["/nodes"].push_back({{"node", n}, {"status", "online"}, {"type", "node"}});
  }
  for (const char* n : {"node1", "node2", "node3", "node4"}) {
    api.answers[std::string("/nodes/") + n + "/status"] = sample("nodes_node_status.pve7.json");
    api.answers[std::string("/nodes/") + n + "/apt/versions"] = json::array(
        {{{"Package", "corosync"}, {"Version", "3.1.7-pve3"}, {"CurrentState", "Installed"}},
         {{"Package", "vim"}, {"Version", "9"}, {"CurrentState", "Installed"}}});
  }
  return api;
}

TEST(PveCollector, AllSourcesUp) {
  FakeApi api = recorded_api();
  MetricSet m;
  ScrapeReport r;
  collect_pve(api.get(), {}, Clock::now() + std::chrono::seconds(5), m, r);
  EXPECT_TRUE(r.all_ok());
  EXPECT_EQ(r.results().size(), 6u);
  EXPECT_EQ(m.value("pvesafe_node_package_info",
                    {{"node", "node4"}, {"package", "corosync"}, {"version", "3.1.7-pve3"}}),
            1);
  EXPECT_THROW(m.value("pvesafe_node_package_info",
                       {{"node", "node4"}, {"package", "vim"}, {"version", "9"}}),
               std::out_of_range);
}

TEST(PveCollector, UnauthorizedSourceIsDownOthersStayUp) {
  FakeApi api = recorded_api();
  api.special["/cluster/resources"] = []() -> json {
    throw pvesafe::Error(Errc::kAuth, "token rejected (401)");
  };
  MetricSet m;
  ScrapeReport r;
  collect_pve(api.get(), {}, Clock::now() + std::chrono::seconds(5), m, r);
  bool saw = false;
  for (const auto& s : r.results()) {
    if (s.source == "cluster_resources") {
      saw = true;
      EXPECT_FALSE(s.ok);
      EXPECT_NE(s.error.find("401"), std::string::npos);
    } else {
      EXPECT_TRUE(s.ok) << s.source;
    }
  }
  EXPECT_TRUE(saw);
  EXPECT_FALSE(m.has("pvesafe_guest_running"));  // nothing stale or partial from that source
  EXPECT_TRUE(m.has("pvesafe_cluster_quorate"));
}

TEST(PveCollector, SlowApiDoesNotHoldTheScrape) {
  FakeApi api = recorded_api();
  auto release = std::make_shared<std::atomic<bool>>(false);
  api.special["/cluster/ha/status/current"] = [release]() -> json {
    for (int i = 0; i < 300 && !*release; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return json::array();
  };
  MetricSet m;
  ScrapeReport r;
  auto deadline = Clock::now() + std::chrono::milliseconds(300);
  collect_pve(api.get(), {}, deadline, m, r);
  // The call that cannot finish before the deadline is reported, never waited for.
  EXPECT_LT(Clock::now(), deadline + std::chrono::seconds(2));
  for (const auto& s : r.results())
    if (s.source == "ha") {
      EXPECT_FALSE(s.ok);
      EXPECT_NE(s.error.find("deadline"), std::string::npos);
    }
  EXPECT_FALSE(m.has("pvesafe_ha_quorate"));
  *release = true;
}

TEST(PveCollector, MalformedAnswerIsAFailedSource) {
  FakeApi api = recorded_api();
  api.answers["/cluster/status"] = json("<html>proxy error</html>");
  api.answers["/cluster/ceph/status"] = json::array({1, 2});
  MetricSet m;
  ScrapeReport r;
  collect_pve(api.get(), {}, Clock::now() + std::chrono::seconds(5), m, r);
  int failed = 0;
  for (const auto& s : r.results())
    if (!s.ok) {
      ++failed;
      EXPECT_TRUE(s.source == "cluster_status" || s.source == "ceph") << s.source;
    }
  EXPECT_EQ(failed, 2);
  EXPECT_FALSE(m.has("pvesafe_cluster_quorate"));
  EXPECT_FALSE(m.has("pvesafe_ceph_osds"));
  // Round 2 falls back to /cluster/resources for the node list.
  EXPECT_TRUE(m.has("pvesafe_node_kernel_info"));
}

TEST(FetchAll, ConvertsEachAnswerAndReleasesIt) {
  ApiGet get = [](const std::string& path) -> json {
    if (path == "/b") return json("not an array");
    if (path == "/c") throw pvesafe::Error(Errc::kNotFound, "404 /c");
    return json::array({1, 2, 3});
  };
  Convert convert = [](size_t i, const json& data, MetricSet& m) {
    if (!data.is_array()) throw std::runtime_error("expected an array");
    m.gauge("pvesafe_items", "Items", {{"i", std::to_string(i)}}, static_cast<double>(data.size()));
  };
  auto r = fetch_all(get, {"/a", "/b", "/c"}, Clock::now() + std::chrono::seconds(5), 2, convert);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0].ok);
  EXPECT_TRUE(r[0].data.is_null());  // released once converted
  EXPECT_EQ(r[0].metrics.value("pvesafe_items", {{"i", "0"}}), 3);
  EXPECT_TRUE(r[1].ok);  // the call worked, the answer was not usable
  EXPECT_NE(r[1].convert_error.find("expected an array"), std::string::npos);
  EXPECT_EQ(r[1].metrics.sample_count(), 0u);
  EXPECT_FALSE(r[2].ok);
  EXPECT_EQ(r[2].error_code, static_cast<int>(Errc::kNotFound));
  // Without a Convert the answers come back as they are.
  auto plain = fetch_all(get, {"/a"}, Clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(plain[0].data.size(), 3u);
}

TEST(PveCollector, CephNotInstalledIsNotAFailure) {
  FakeApi api = recorded_api();
  api.special["/cluster/ceph/status"] = []() -> json {
    throw pvesafe::Error(
        Errc::kRemote,
        "PVE API GET /cluster/ceph/status failed: binary not installed: /usr/bin/ceph-mon (500)");
  };
  MetricSet m;
  ScrapeReport r;
  collect_pve(api.get(), {}, Clock::now() + std::chrono::seconds(5), m, r);
  EXPECT_TRUE(r.all_ok());
  EXPECT_EQ(m.value("pvesafe_ceph_configured", {}), 0);
}

TEST(SourceTracker, LogsOncePerFailureAndCountsErrors) {
  std::vector<std::string> lines;
  SourceTracker t("c1", [&](const std::string& l) { lines.push_back(l); });
  for (int i = 0; i < 3; ++i) {
    ScrapeReport r;
    r.fail("cluster_status", "connection refused", 0.1);
    r.ok("ha", 0.1);
    MetricSet m;
    t.finish(r, m);
    EXPECT_EQ(m.value("pvesafe_source_up", {{"source", "cluster_status"}}), 0);
    EXPECT_EQ(m.value("pvesafe_source_errors_total", {{"source", "cluster_status"}}), i + 1);
    EXPECT_EQ(m.value("pvesafe_source_up", {{"source", "ha"}}), 1);
  }
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("cluster_status"), std::string::npos);
  ScrapeReport ok;
  ok.ok("cluster_status", 0.1);
  MetricSet m;
  t.finish(ok, m);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("recovered"), std::string::npos);
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pvesafe-exporter-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "catalog.db").string();
    sqlite3* db;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    const char* sql =
        "CREATE TABLE events (id INTEGER PRIMARY KEY, time_utc TEXT, kind TEXT, repository TEXT,"
        " snapshot_id TEXT, node TEXT, guest_id TEXT, guest_type TEXT, file_name TEXT,"
        " size_bytes INTEGER, stored_bytes INTEGER, duration_seconds REAL,"
        " throughput_bytes_per_second REAL, dedup_ratio REAL, result TEXT, error TEXT,"
        " details_json TEXT);"
        "INSERT INTO events (time_utc,kind,node,guest_id,guest_type,size_bytes,stored_bytes,"
        " duration_seconds,dedup_ratio,result) VALUES"
        " ('2026-11-24T01:00:00Z','backup','pve1','100','qemu',1000,100,10,3.5,'ok'),"
        " ('2026-11-26T01:00:00Z','backup','pve1','100','qemu',0,0,1,0,'error'),"
        " ('2026-11-25T02:00:00Z','backup','pve2','200','lxc',500,50,5,2,'ok');"
        "INSERT INTO events (time_utc,kind,node,guest_id,guest_type,size_bytes,stored_bytes,"
        " duration_seconds,dedup_ratio,result,details_json) VALUES"
        " ('2026-11-25T01:00:00Z','backup','pve1','100','qemu',2000,200,20,4.5,'ok',"
        " '{\"requests\":{\"total\":42,\"put\":30,\"per_gib\":12.5}}');"
        "INSERT INTO events (time_utc,kind,node,guest_id,guest_type,duration_seconds,result,"
        " details_json) VALUES ('2026-11-25T03:00:00Z','drill','pve1','100','qemu',300,'error',"
        " '{\"rto_seconds\":412.5,\"sla_seconds\":300,\"stages\":{\"fetch\":100,\"restore\":250}}')"
        ","
        " ('2026-11-25T04:00:00Z','drill','pve1','100','qemu',40,'ok',"
        " '{\"mode\":\"instant\",\"rto_seconds\":40,\"sla_seconds\":300,\"background_copy_"
        "seconds\":310,"
        "\"stages\":{\"export\":1,\"health\":30}}'),"
        " ('2026-11-25T05:00:00Z','drill','pve1','100','qemu',0,'error','not json');"
        "INSERT INTO events (time_utc,kind,node,duration_seconds,result,details_json) VALUES"
        " ('2026-11-25T06:00:00Z','site-drill','site-b',700,'ok',"
        " '{\"sla_seconds\":900,\"predicted_rto_seconds\":1234.5,\"jobs\":4,\"restored\":20}'),"
        " ('2026-11-26T06:00:00Z','site-drill','site-b',950,'error',"
        " '{\"sla_seconds\":900,\"predicted_rto_seconds\":2000,\"jobs\":2,\"restored\":19}');";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_close(db);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(CatalogTest, NewestBackupAndDrillPerGuest) {
  MetricSet m;
  collect_catalog(path_, m);
  Labels g100{{"guest", "100"}, {"node", "pve1"}, {"type", "qemu"}};
  EXPECT_EQ(m.value("pvesafe_backup_last_success_timestamp_seconds", g100),
            parse_iso8601_utc("2026-11-25T01:00:00Z"));
  EXPECT_EQ(m.value("pvesafe_backup_last_size_bytes", g100), 2000);
  EXPECT_EQ(m.value("pvesafe_backup_last_dedup_ratio", g100), 4.5);
  EXPECT_EQ(m.value("pvesafe_backup_last_requests", g100), 42);
  EXPECT_EQ(m.value("pvesafe_backup_last_requests_per_gib", g100), 12.5);
  EXPECT_THROW(m.value("pvesafe_backup_last_requests",
                       {{"guest", "200"}, {"node", "pve2"}, {"type", "lxc"}}),
               std::out_of_range);
  EXPECT_EQ(m.value("pvesafe_backup_last_attempt_success", g100), 0);
  EXPECT_EQ(m.value("pvesafe_backup_last_attempt_success",
                    {{"guest", "200"}, {"node", "pve2"}, {"type", "lxc"}}),
            1);
  // Drills: the newest per guest and mode. The newest row overall is not JSON: a restore drill
  // (rows without a mode are), so it replaces the restore drill and leaves the instant one.
  Labels restore = g100, instant = g100;
  restore.emplace_back("mode", "restore");
  instant.emplace_back("mode", "instant");
  EXPECT_EQ(m.value("pvesafe_drill_last_success", restore), 0);
  EXPECT_EQ(m.value("pvesafe_drill_last_rto_seconds", restore), 0);
  EXPECT_EQ(m.value("pvesafe_drill_last_success", instant), 1);
  EXPECT_EQ(m.value("pvesafe_drill_last_rto_seconds", instant), 40);
  EXPECT_EQ(m.value("pvesafe_drill_rto_sla_seconds", instant), 300);
  EXPECT_EQ(m.value("pvesafe_drill_last_background_copy_seconds", instant), 310);
  Labels stage = instant;
  stage.emplace_back("stage", "health");
  EXPECT_EQ(m.value("pvesafe_drill_last_stage_duration_seconds", stage), 30);
  EXPECT_EQ(parse_iso8601_utc("1970-01-01T00:01:00.5Z"), 60.5);
  // Site drills: the newest per target cluster.
  Labels site{{"cluster", "site-b"}};
  EXPECT_EQ(m.value("pvesafe_site_drill_last_rto_seconds", site), 950);
  EXPECT_EQ(m.value("pvesafe_site_drill_last_success", site), 0);
  EXPECT_EQ(m.value("pvesafe_site_drill_rto_sla_seconds", site), 900);
  EXPECT_EQ(m.value("pvesafe_site_drill_predicted_rto_seconds", site), 2000);
  EXPECT_EQ(m.value("pvesafe_site_drill_guests", site), 19);
  EXPECT_EQ(m.value("pvesafe_site_drill_last_timestamp_seconds", site),
            parse_iso8601_utc("2026-11-26T06:00:00Z"));
}

TEST_F(CatalogTest, MissingCatalogIsAnErrorNotEmpty) {
  MetricSet m;
  EXPECT_THROW(collect_catalog((dir_ / "nope.db").string(), m), pvesafe::Error);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "nope.db"));  // read-only: never created
}

cluster::CorosyncRuntime three_nodes() {
  cluster::CorosyncRuntime rt;
  rt.cluster_name = "lab";
  rt.local_nodeid = 1;
  rt.quorate = true;
  rt.expected_votes = 3;
  rt.total_votes = 2;
  rt.quorum = 2;
  rt.members = 2;
  rt.nodes.push_back({1, "n1", true, true, true, 1, {}});
  rt.nodes.push_back({2, "n2", false, true, true, 1, {{0, true, 0.0003, 0}, {1, true, 0.0004, 0}}});
  rt.nodes.push_back({3, "n3", false, false, false, 0, {{0, false, -1, 2}, {1, false, -1, 1}}});
  return rt;
}

TEST(CorosyncCollector, PeersAndLinks) {
  MetricSet m;
  collect_corosync(three_nodes(), m);
  EXPECT_EQ(m.value("pvesafe_corosync_quorate", {{"observer", "n1"}}), 1);
  EXPECT_EQ(m.value("pvesafe_corosync_link_connected",
                    {{"node", "n3"}, {"nodeid", "3"}, {"link", "1"}, {"observer", "n1"}}),
            0);
  EXPECT_EQ(m.value("pvesafe_corosync_link_connected",
                    {{"node", "n2"}, {"nodeid", "2"}, {"link", "0"}, {"observer", "n1"}}),
            1);
  EXPECT_EQ(m.value("pvesafe_corosync_node_member",
                    {{"node", "n3"}, {"nodeid", "3"}, {"observer", "n1"}}),
            0);
  EXPECT_EQ(m.value("pvesafe_corosync_link_down_total",
                    {{"node", "n3"}, {"nodeid", "3"}, {"link", "0"}, {"observer", "n1"}}),
            2);
}

TEST(Exporter, NodeModeCorosyncDownKeepsServing) {
  ExporterOptions o;
  o.node_mode = true;
  o.corosync = true;
  std::vector<std::string> logs;
  o.log = [&](const std::string& l) { logs.push_back(l); };
  o.corosync_reader = []() -> cluster::CorosyncRuntime {
    throw pvesafe::Error(Errc::kTransient, "corosync: cmap_initialize failed (cs_error 2)");
  };
  Exporter ex(o);
  for (int i = 0; i < 2; ++i) {
    MetricSet m = ex.collect("", std::chrono::seconds(2));
    EXPECT_EQ(m.value("pvesafe_source_up", {{"source", "corosync"}}), 0);
    EXPECT_EQ(m.value("pvesafe_source_errors_total", {{"source", "corosync"}}), i + 1);
    EXPECT_FALSE(m.has("pvesafe_corosync_quorate"));
  }
  EXPECT_EQ(logs.size(), 1u);
  EXPECT_THROW(ex.collect("nope", std::chrono::seconds(1)), pvesafe::Error);
}

TEST(Exporter, CentralTargetAndStatusPage) {
  ExporterOptions o;
  o.targets["c1"] = recorded_api().get();
  Exporter ex(o);
  MetricSet m = ex.collect("c1", std::chrono::seconds(5));
  EXPECT_EQ(m.value("pvesafe_source_up", {{"source", "cluster_resources"}}), 1);
  std::string html = render_status_page("t", m, 1.8e9);
  EXPECT_NE(html.find("<td>node4</td>"), std::string::npos);
  EXPECT_NE(html.find("quorate"), std::string::npos);
  EXPECT_EQ(format_age(3 * 86400 + 7200), "3d 2h");
}

// The background audit: a scrape of a target carries the findings of the latest audit, the
// same figures `pvesafe audit` computes from the same API answers.
TEST(AuditJob, ReportsTheLatestAuditOfEachTarget) {
  FakeApi api = recorded_api();
  cluster::AuditOptions opts;
  const auto expect = cluster::run_audit(api.get(), opts);
  AuditJob job({{"c1", api.get()}}, opts, std::chrono::hours(1));
  ASSERT_TRUE(job.wait_for_rounds(1, std::chrono::seconds(30)));
  MetricSet m = job.metrics("c1");
  EXPECT_EQ(m.value("pvesafe_audit_up", {}), 1);
  EXPECT_EQ(m.value("pvesafe_audit_worst_severity", {}), static_cast<double>(expect.worst()));
  ASSERT_FALSE(expect.checks.empty());
  for (const auto& run : expect.checks) {
    EXPECT_EQ(m.value("pvesafe_audit_check_severity", {{"check", run.check}}),
              static_cast<double>(run.worst))
        << run.check;
  }
  EXPECT_GT(m.value("pvesafe_audit_last_run_timestamp_seconds", {}), 1.7e9);
  EXPECT_TRUE(job.metrics("other").samples("pvesafe_audit_up").empty());
}

// An audit that cannot run at all (no node list) is reported as down, without findings.
TEST(AuditJob, AFailedAuditIsDown) {
  FakeApi api = recorded_api();
  api.answers.erase("/nodes");
  std::vector<std::string> logged;
  std::mutex mu;
  AuditJob job({{"c1", api.get()}}, cluster::AuditOptions{}, std::chrono::hours(1),
               [&](const std::string& line) {
                 std::lock_guard lk(mu);
                 logged.push_back(line);
               });
  ASSERT_TRUE(job.wait_for_rounds(1, std::chrono::seconds(30)));
  MetricSet m = job.metrics("c1");
  EXPECT_EQ(m.value("pvesafe_audit_up", {}), 0);
  EXPECT_FALSE(m.has("pvesafe_audit_findings"));
  std::lock_guard lk(mu);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("audit of c1 failed"), std::string::npos);
}

TEST(Exporter, CentralScrapeAddsTheBackgroundAudit) {
  ExporterOptions o;
  o.targets["c1"] = recorded_api().get();
  o.audit_interval = std::chrono::hours(1);
  Exporter ex(o);
  // The first audit runs at start; poll until a scrape carries it.
  MetricSet m;
  for (int i = 0; i < 300; ++i) {
    m = ex.collect("c1", std::chrono::seconds(5));
    if (m.has("pvesafe_audit_up")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(m.has("pvesafe_audit_up"));
  EXPECT_TRUE(m.has("pvesafe_audit_findings"));
  EXPECT_EQ(m.value("pvesafe_source_up", {{"source", "cluster_resources"}}), 1);
  // Off by default.
  ExporterOptions off;
  off.targets["c1"] = recorded_api().get();
  Exporter quiet(off);
  EXPECT_FALSE(quiet.collect("c1", std::chrono::seconds(5)).has("pvesafe_audit_up"));
}

}  // namespace
}  // namespace pvesafe::exporter
