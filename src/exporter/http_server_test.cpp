// The exporter's HTTP server under hostile clients (raw sockets on 127.0.0.1): oversize and slow
// requests, methods it does not serve, more connections than it takes, and the scrape cache.
// Behaviour only: statuses, closed connections and counters, never durations (the figures are
// in bench/exporter/limits.sh).
#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"

namespace pvesafe::exporter {
namespace {

using nlohmann::json;

json sample(const std::string& name) {
  std::ifstream in(std::string(PVESAFE_SHARED_DIR) + "/pve-api-samples/" + name);
  EXPECT_TRUE(in.good()) << name;
  return json::parse(in)["data"];
}

// A PVE API answering /cluster/resources and /cluster/status from recorded samples (the other
// sources fail, which the scrape reports and which does not matter here). Counts the calls of
// /cluster/resources; with `hold`, that call waits until released.
struct CountingApi {
  std::atomic<int> resources_calls{0};
  std::promise<void> entered;
  std::shared_future<void> release;
  bool hold = false;
  ApiGet get() {
    return [this](const std::string& path) -> json {
      if (path == "/cluster/resources") {
        if (++resources_calls == 1 && hold) {
          entered.set_value();
          release.wait();
        }
        return sample("cluster_resources.json");
      }
      if (path == "/cluster/status") return sample("cluster_status.json");
      throw Error(Errc::kNotFound, "no " + path);
    };
  }
};

// A raw TCP client: sends bytes, reads what the server answers until it closes the connection
// (or 20 s pass, a safety net only).
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{20, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  void send(const std::string& s) { (void)::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  // Everything until the server closes.
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  // Until `marker` has been received.
  std::string read_until(const std::string& marker) {
    std::string out;
    char buf[4096];
    while (out.find(marker) == std::string::npos) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class ExporterHttp : public ::testing::Test {
 protected:
  void start(HttpLimits limits, std::chrono::milliseconds cache_ttl = std::chrono::seconds(60)) {
    ExporterOptions o;
    o.targets["c"] = api_.get();
    o.pve.ceph = false;
    o.pve.node_details = false;
    o.cache_ttl = cache_ttl;
    exporter_ = std::make_unique<Exporter>(o);
    server_ = std::make_unique<HttpServer>(*exporter_, limits);
    port_ = server_->bind("127.0.0.1", 0);
    thread_ = std::thread([this] { server_->serve(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  // Waits (without a bound on the test's duration other than ctest's) until cond holds.
  template <class F>
  void wait_until(F cond) {
    for (int i = 0; i < 2000 && !cond(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_TRUE(cond());
  }
  httplib::Result get(const std::string& path) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(20, 0);
    return c.Get(path.c_str());
  }

  CountingApi api_;
  std::unique_ptr<Exporter> exporter_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST(ScrapeBudget, FromPrometheusHeaderWithinRange) {
  EXPECT_EQ(scrape_budget("").count(), 9500);
  EXPECT_EQ(scrape_budget("10").count(), 9500);
  EXPECT_EQ(scrape_budget("1").count(), 750);
  EXPECT_EQ(scrape_budget("2.5").count(), 2000);
  // Out of range or not a number: ignored, so no overflow into a negative or huge budget.
  for (const char* bad : {"1e308", "nan", "inf", "-5", "0", "abc", "5x", "3601"}) {
    EXPECT_EQ(scrape_budget(bad).count(), 9500) << bad;
  }
}

TEST_F(ExporterHttp, BodyOverTheLimitIsRefusedOnItsLengthBeforeItIsSent) {
  HttpLimits l;
  l.max_request_bytes = 4096;
  start(l);
  // 100 MiB announced, none of it sent: the answer comes on the headers alone.
  RawClient get(port_);
  get.send("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n");
  EXPECT_EQ(get.read_all().substr(0, 12), "HTTP/1.1 413");
  RawClient post(port_);
  post.send(
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n"
      "Expect: 100-continue\r\n\r\n");
  EXPECT_EQ(post.read_all().substr(0, 12), "HTTP/1.1 405");
  RawClient chunked(port_);
  chunked.send("GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(chunked.read_all().substr(0, 12), "HTTP/1.1 411");
  EXPECT_EQ(server_->stats().refused_too_large.load(), 1u);
  EXPECT_EQ(server_->stats().refused_method.load(), 2u);
  EXPECT_EQ(api_.resources_calls.load(), 0);
}

TEST_F(ExporterHttp, HeadersOverTheLimitAre431) {
  HttpLimits l;
  l.max_request_bytes = 4096;
  start(l);
  RawClient c(port_);
  std::string req = "GET /-/healthy HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 100; ++i)
    req += "X-Filler-" + std::to_string(i) + ": " + std::string(60, 'f') + "\r\n";
  c.send(req + "\r\n");
  EXPECT_EQ(c.read_all().substr(0, 12), "HTTP/1.1 431");
  // An endless header line without a line end: refused once it passes the limit.
  RawClient endless(port_);
  endless.send("GET /-/healthy HTTP/1.1\r\nX-Long: " + std::string(8000, 'x'));
  EXPECT_EQ(endless.read_all().substr(0, 12), "HTTP/1.1 431");
  EXPECT_EQ(server_->stats().refused_too_large.load(), 2u);
  // Within the limit, served.
  auto r = get("/-/healthy");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ExporterHttp, SlowRequestIs408AndDoesNotHoldOthersUp) {
  HttpLimits l;
  l.read_timeout = std::chrono::milliseconds(500);
  start(l);
  RawClient slow(port_);
  slow.send("GET /metr");  // and nothing more
  wait_until([&] { return server_->stats().open_connections.load() == 1; });
  auto r = get("/-/healthy");  // served meanwhile, on its own thread
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "ok\n");
  EXPECT_EQ(slow.read_all().substr(0, 12), "HTTP/1.1 408");
  EXPECT_EQ(server_->stats().refused_timeout.load(), 1u);
  // A connection that never sends anything is closed without an answer.
  RawClient silent(port_);
  EXPECT_EQ(silent.read_all(), "");
}

TEST_F(ExporterHttp, ConnectionsOverTheCapAre503) {
  HttpLimits l;
  l.max_connections = 2;
  start(l);
  {
    RawClient a(port_), b(port_);
    wait_until([&] { return server_->stats().open_connections.load() == 2; });
    RawClient c(port_);
    ASSERT_TRUE(c.connected());
    std::string answer = c.read_all();
    EXPECT_EQ(answer.substr(0, 12), "HTTP/1.1 503") << answer;
    EXPECT_NE(answer.find("too many connections"), std::string::npos) << answer;
    EXPECT_EQ(server_->stats().refused_busy.load(), 1u);
  }
  wait_until([&] { return server_->stats().open_connections.load() == 0; });
  auto r = get("/-/healthy");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ExporterHttp, KeepAliveAndPipelinedRequestsAreServedInOrder) {
  start({});
  RawClient c(port_);
  c.send(
      "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\nHEAD /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /nothing-here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string all = c.read_all();
  size_t first = all.find("HTTP/1.1 200");
  size_t second = all.find("HTTP/1.1 200", first + 1);
  size_t third = all.find("HTTP/1.1 404");
  EXPECT_NE(first, std::string::npos) << all;
  EXPECT_NE(second, std::string::npos) << all;
  EXPECT_NE(third, std::string::npos) << all;
  EXPECT_LT(second, third) << all;
  EXPECT_EQ(server_->stats().connections_total.load(), 1u);
}

TEST_F(ExporterHttp, ScrapesWithinTheCacheTtlShareOneCollection) {
  start({});
  auto a = get("/metrics?target=c");
  auto b = get("/metrics?target=c");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(api_.resources_calls.load(), 1);
  EXPECT_EQ(exporter_->cache_hits(), 1u);
  EXPECT_NE(b->body.find("\npvesafe_exporter_scrape_cache_hits_total 1\n"), std::string::npos);
  EXPECT_NE(a->body.find("pvesafe_guest_info"), std::string::npos);
  // The cached answer carries the same samples; only the server's own counters differ.
  auto samples = [](const std::string& text) {
    return text.substr(0, text.find("# HELP pvesafe_exporter_http_"));
  };
  EXPECT_EQ(samples(a->body), samples(b->body));
}

TEST_F(ExporterHttp, ScrapesDuringACollectionWaitForIt) {
  api_.hold = true;
  std::promise<void> release;
  api_.release = release.get_future().share();
  start({});
  auto first = std::async(std::launch::async, [&] { return get("/metrics?target=c"); });
  api_.entered.get_future().wait();  // the first scrape is collecting
  auto second = std::async(std::launch::async, [&] { return get("/metrics?target=c"); });
  wait_until([&] { return exporter_->cache_hits() == 1; });  // the second waits for it
  release.set_value();
  auto a = first.get();
  auto b = second.get();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(b->status, 200);
  EXPECT_EQ(api_.resources_calls.load(), 1);
}

TEST_F(ExporterHttp, WithoutCacheEveryScrapeCollects) {
  start({}, std::chrono::milliseconds(0));
  ASSERT_TRUE(get("/metrics?target=c"));
  ASSERT_TRUE(get("/metrics?target=c"));
  EXPECT_EQ(api_.resources_calls.load(), 2);
  EXPECT_EQ(exporter_->cache_hits(), 0u);
}

}  // namespace
}  // namespace pvesafe::exporter
