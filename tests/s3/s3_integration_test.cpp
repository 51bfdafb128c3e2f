// The S3 store against a real Ceph RADOS Gateway started by tests/servers/rgw.sh (see
// rgw_integration.sh). Every test works in its own bucket.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include "core/error.h"
#include "store/open_store.h"
#include "store/retry_store.h"
#include "store/s3/s3_store.h"

using namespace pvesafe;
using namespace pvesafe::store;
using namespace pvesafe::store::s3;

namespace {

std::string env(const char* n) {
  const char* v = std::getenv(n);
  return v ? v : "";
}

std::string unique_bucket(const std::string& stem) {
  static std::atomic<int> n{0};
  std::random_device rd;
  return "it-" + stem + "-" + std::to_string(rd() % 100000000) + "-" + std::to_string(n++);
}

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<uint8_t>(v >> (8 * j));
  }
  return out;
}

class RgwTest : public ::testing::Test {
 protected:
  void SetUp() override {
    endpoint_ = env("PVESAFE_TEST_S3_ENDPOINT");
    if (endpoint_.empty()) GTEST_SKIP() << "PVESAFE_TEST_S3_ENDPOINT not set (run rgw_integration.sh)";
  }

  Credentials owner() const {
    return {env("PVESAFE_TEST_S3_ACCESS_KEY"), env("PVESAFE_TEST_S3_SECRET_KEY"), "", std::nullopt,
            "test"};
  }

  std::unique_ptr<S3Store> store(const std::string& bucket, const std::string& prefix = "repo",
                                 std::map<std::string, std::string> extra = {},
                                 std::optional<Credentials> creds = std::nullopt) {
    std::map<std::string, std::string> o{{"s3.endpoint", endpoint_}, {"s3.max-attempts", "2"}};
    for (auto& [k, v] : extra) o[k] = v;
    auto cfg = parse_s3_config("s3://" + bucket + "/" + prefix, o);
    return std::make_unique<S3Store>(cfg, static_credentials(creds.value_or(owner())));
  }

  std::unique_ptr<S3Store> fresh(const std::string& stem, std::map<std::string, std::string> extra = {},
                                 bool lock = false) {
    bucket_ = unique_bucket(stem);
    auto s = store(bucket_, "repo", std::move(extra));
    s->ensure_bucket(lock);
    return s;
  }

  static Error error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return e;
    }
    return Error(Errc::kInternal, "no error was thrown");
  }

  std::string endpoint_;
  std::string bucket_;
};

}  // namespace

TEST_F(RgwTest, PutGetStatRangeRemove) {
  auto s = fresh("basic");
  auto data = random_bytes(100000, 1);
  s->put("data/ab/abcdef", data);
  EXPECT_EQ(s->get("data/ab/abcdef"), data);
  auto info = s->stat("data/ab/abcdef");
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->size_bytes, data.size());
  EXPECT_EQ(info->key, "data/ab/abcdef");
  auto mid = s->get_range("data/ab/abcdef", 1000, 500);
  EXPECT_EQ(mid, std::vector<uint8_t>(data.begin() + 1000, data.begin() + 1500));
  auto tail = s->get_range("data/ab/abcdef", 99990, 100);
  EXPECT_EQ(tail, std::vector<uint8_t>(data.end() - 10, data.end()));
  EXPECT_TRUE(s->get_range("data/ab/abcdef", 200000, 10).empty());
  // Replacing an object.
  auto data2 = random_bytes(10, 2);
  s->put("data/ab/abcdef", data2);
  EXPECT_EQ(s->get("data/ab/abcdef"), data2);
  // Empty objects and odd characters in keys.
  s->put("snapshots/a b+c=d&e", {});
  EXPECT_EQ(s->stat("snapshots/a b+c=d&e")->size_bytes, 0u);
  s->remove("data/ab/abcdef");
  EXPECT_FALSE(s->stat("data/ab/abcdef").has_value());
  Error e = error_of([&] { s->get("data/ab/abcdef"); });
  EXPECT_EQ(e.code(), Errc::kNotFound);
  EXPECT_NE(e.message().find("data/ab/abcdef"), std::string::npos);
  s->remove("data/ab/never-existed");  // not an error
  EXPECT_EQ(s->location(), "s3://" + bucket_ + "/repo");
}

// Virtual-hosted addressing (the AWS default): the gateway serves the DNS name "localhost"
// (tests/servers/rgw.sh), and libcurl resolves BUCKET.localhost to the loopback address. An
// object written through BUCKET.localhost must be the one a path-style client reads: had the
// gateway not taken the bucket from the Host header, the put would have gone to a bucket named
// after the key prefix and failed.
TEST_F(RgwTest, VirtualHostedAddressing) {
  std::string vhost = endpoint_;
  const size_t at = vhost.find("127.0.0.1");
  ASSERT_NE(at, std::string::npos) << endpoint_;
  vhost.replace(at, 9, "localhost");
  bucket_ = unique_bucket("vhost");
  auto cfg = parse_s3_config("s3://" + bucket_ + "/repo", {{"s3.endpoint", vhost}, {"s3.path-style", "false"}});
  EXPECT_EQ(cfg.host_header().rfind(bucket_ + ".localhost:", 0), 0u) << cfg.host_header();
  EXPECT_EQ(cfg.url("repo/k", "").find("/" + bucket_ + "/"), std::string::npos) << cfg.url("repo/k", "");
  auto v = store(bucket_, "repo", {{"s3.endpoint", vhost}, {"s3.path-style", "false"},
                                   {"s3.multipart-threshold", "6291456"}, {"s3.part-size", "5242880"}});
  v->ensure_bucket(false);
  auto small = random_bytes(5000, 11), big = random_bytes(11 << 20, 12);
  v->put("data/aa/small", small);
  v->put("data/bb/big", big);  // multipart, three parts
  auto path = store(bucket_, "repo");
  EXPECT_EQ(path->get("data/aa/small"), small);
  EXPECT_EQ(path->get("data/bb/big"), big);
  EXPECT_EQ(v->get_range("data/bb/big", 7 << 20, 10),
            std::vector<uint8_t>(big.begin() + (7 << 20), big.begin() + (7 << 20) + 10));
  std::set<std::string> keys;
  v->list("data/", [&](const ObjectInfo& o) { keys.insert(o.key); });
  EXPECT_EQ(keys, (std::set<std::string>{"data/aa/small", "data/bb/big"}));
  v->remove_many({"data/aa/small", "data/bb/big"});
  EXPECT_FALSE(path->stat("data/aa/small").has_value());
  EXPECT_FALSE(path->stat("data/bb/big").has_value());
}

TEST_F(RgwTest, ListPaginatesAndBatchDeleteRemovesAll) {
  auto s = fresh("list");
  const int n = 1100;  // more than one page of 1000
  std::atomic<int> next{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&] {
      for (int i; (i = next++) < n;) {
        std::string k = "data/" + std::to_string(i % 16) + "/obj" + std::to_string(i);
        s->put(k, random_bytes(static_cast<size_t>(i % 7), static_cast<uint64_t>(i)));
      }
    });
  }
  for (auto& t : ts) t.join();
  s->put("config", random_bytes(3, 3));
  // The same bucket seen under another prefix must not show these keys.
  auto other = store(bucket_, "repo2");
  other->put("data/x", random_bytes(1, 1));

  std::set<std::string> keys;
  std::vector<std::string> all;
  s->list("data/", [&](const ObjectInfo& info) {
    EXPECT_TRUE(keys.insert(info.key).second) << "listed twice: " << info.key;
    std::string num = info.key.substr(info.key.find("obj") + 3);
    EXPECT_EQ(info.size_bytes, static_cast<uint64_t>(std::stoi(num) % 7));
    all.push_back(info.key);
  });
  EXPECT_EQ(keys.size(), static_cast<size_t>(n));
  // Small pages (s3.list-max-keys) give the same answer.
  auto paged = store(bucket_, "repo", {{"s3.list-max-keys", "97"}});
  size_t count = 0;
  paged->list("data/1", [&](const ObjectInfo& info) {
    ++count;
    EXPECT_TRUE(info.key.starts_with("data/1"));
  });
  size_t expect = 0;
  for (const auto& k : keys) expect += k.starts_with("data/1") ? 1 : 0;
  EXPECT_EQ(count, expect);

  s->remove_many(all);
  size_t left = 0;
  s->list("", [&](const ObjectInfo&) { ++left; });
  EXPECT_EQ(left, 1u);  // config
  EXPECT_TRUE(other->stat("data/x").has_value());
}

TEST_F(RgwTest, MultipartUploadAboveThreshold) {
  auto s = fresh("multipart", {{"s3.multipart-threshold", "6M"}, {"s3.part-size", "5M"}});
  auto data = random_bytes((12u << 20) + 12345, 7);
  s->put("data/big", data);
  EXPECT_EQ(s->multipart_uploads(), 1u);
  EXPECT_EQ(s->multipart_aborts(), 0u);
  EXPECT_EQ(s->stat("data/big")->size_bytes, data.size());
  EXPECT_EQ(s->get("data/big"), data);
  // A range across the first part boundary.
  auto r = s->get_range("data/big", (5u << 20) - 100, 200);
  EXPECT_EQ(r, std::vector<uint8_t>(data.begin() + (5 << 20) - 100, data.begin() + (5 << 20) + 100));
  // Below the threshold: a single PUT.
  s->put("data/small", random_bytes(1 << 20, 8));
  EXPECT_EQ(s->multipart_uploads(), 1u);
}

TEST_F(RgwTest, FailedMultipartUploadIsAborted) {
  std::string proxy = env("PVESAFE_TEST_PROXY_ENDPOINT");
  if (proxy.empty()) GTEST_SKIP() << "no fault proxy";
  auto direct = fresh("mpabort");
  auto s = store(bucket_, "repo", {{"s3.endpoint", proxy}, {"s3.max-attempts", "2"},
                                   {"s3.multipart-threshold", "5M"}, {"s3.part-size", "5M"}});
  // Every upload of part 2 fails; everything else passes.
  ASSERT_EQ(std::system(("curl -sf -X POST '" + proxy + "/__fault__/config?fail_match=partNumber=2' >/dev/null").c_str()), 0);
  Error e = error_of([&] { s->put("data/big", random_bytes(11u << 20, 3)); });
  ASSERT_EQ(std::system(("curl -sf -X POST '" + proxy + "/__fault__/config?fail_match=' >/dev/null").c_str()), 0);
  EXPECT_EQ(e.code(), Errc::kTransient) << e.what();
  EXPECT_EQ(s->multipart_uploads(), 1u);
  EXPECT_EQ(s->multipart_aborts(), 1u);
  EXPECT_FALSE(direct->stat("data/big").has_value());
  // No upload is left open in the bucket.
  std::string cmd = "/usr/bin/aws --endpoint-url " + endpoint_ + " s3api list-multipart-uploads --bucket " +
                    bucket_ + " --output json > " + ::testing::TempDir() + "/mpu.json";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  FILE* f = fopen((::testing::TempDir() + "/mpu.json").c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  fclose(f);
  EXPECT_EQ(out.find("\"UploadId\""), std::string::npos) << out;
  // The same store works again once the fault is gone.
  auto data = random_bytes(11u << 20, 4);
  s->put("data/big", data);
  EXPECT_EQ(direct->get("data/big"), data);
}

TEST_F(RgwTest, ParallelCallersFromManyThreads) {
  auto s = fresh("parallel", {{"s3.connections", "4"}});
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 12; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        std::string k = "data/t" + std::to_string(t) + "/" + std::to_string(i);
        auto d = random_bytes(static_cast<size_t>(1000 + i * 100), static_cast<uint64_t>(t * 100 + i));
        s->put(k, d);
        if (s->get(k) != d) ++bad;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(RgwTest, WrongSecretKeyIsAnAuthErrorWithoutTheSecret) {
  auto s = fresh("wrongkeys");
  Credentials bad = owner();
  bad.secret_access_key = "ThisIsNotTheSecretKey0000000000000000000";
  auto w = store(bucket_, "repo", {}, bad);
  Error e = error_of([&] { w->put("x", random_bytes(10, 1)); });
  EXPECT_EQ(e.code(), Errc::kAuth) << e.what();
  EXPECT_NE(std::string(e.what()).find("SignatureDoesNotMatch"), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).find(bad.secret_access_key), std::string::npos);
  Credentials unknown{"NOSUCHACCESSKEY00000", "whatever", "", std::nullopt, "test"};
  Error e2 = error_of([&] { store(bucket_, "repo", {}, unknown)->get("x"); });
  EXPECT_EQ(e2.code(), Errc::kAuth) << e2.what();
  EXPECT_NE(std::string(e2.what()).find("InvalidAccessKeyId"), std::string::npos) << e2.what();
  EXPECT_NE(std::string(e2.what()).find("NOSUCHACCESSKEY00000"), std::string::npos) << e2.what();
}

TEST_F(RgwTest, MissingBucketIsNotFound) {
  auto s = store(unique_bucket("missing"));
  Error e = error_of([&] { s->put("config", random_bytes(3, 1)); });
  EXPECT_EQ(e.code(), Errc::kNotFound) << e.what();
  EXPECT_NE(std::string(e.what()).find("NoSuchBucket"), std::string::npos) << e.what();
  Error l = error_of([&] { s->list("", [](const ObjectInfo&) {}); });
  EXPECT_EQ(l.code(), Errc::kNotFound) << l.what();
}

TEST_F(RgwTest, AnotherUsersBucketIsAccessDeniedNamingActionAndKey) {
  auto s = fresh("denied");
  s->put("config", random_bytes(3, 1));
  Credentials outsider{env("PVESAFE_TEST_S3_OUTSIDER_ACCESS_KEY"),
                       env("PVESAFE_TEST_S3_OUTSIDER_SECRET_KEY"), "", std::nullopt, "test"};
  auto o = store(bucket_, "repo", {}, outsider);
  Error e = error_of([&] { o->get("config"); });
  EXPECT_EQ(e.code(), Errc::kAuth) << e.what();
  std::string m = e.what();
  EXPECT_NE(m.find("access denied"), std::string::npos) << m;
  EXPECT_NE(m.find("s3:GetObject"), std::string::npos) << m;
  EXPECT_NE(m.find(outsider.access_key_id), std::string::npos) << m;
  EXPECT_NE(m.find("s3://" + bucket_ + "/repo/config"), std::string::npos) << m;
  Error p = error_of([&] { o->put("data/x", random_bytes(3, 1)); });
  EXPECT_EQ(p.code(), Errc::kAuth);
  EXPECT_NE(std::string(p.what()).find("s3:PutObject"), std::string::npos) << p.what();
}

TEST_F(RgwTest, ClockSkewIsAConfigErrorWithTheDifference) {
  auto s = fresh("skew");
  auto skewed = store(bucket_, "repo", {{"s3.clock-offset-seconds", "-3600"}});
  Error e = error_of([&] { skewed->put("x", random_bytes(3, 1)); });
  EXPECT_EQ(e.code(), Errc::kConfig) << e.what();
  std::string m = e.what();
  auto at = m.find("differs from the server's by ");
  ASSERT_NE(at, std::string::npos) << m;
  long secs = std::stol(m.substr(at + 29));
  EXPECT_GE(secs, 3590) << m;
  EXPECT_LE(secs, 3610) << m;
  EXPECT_NE(m.find("sync time (chrony)"), std::string::npos) << m;
}

TEST_F(RgwTest, UnreachableEndpointIsTransientAfterBoundedRetries) {
  // A port that was free a moment ago.
  StoreOptions o{{{"s3.endpoint", "http://127.0.0.1:" + env("PVESAFE_TEST_CLOSED_PORT")},
                  {"s3.max-attempts", "3"}}};
  if (env("PVESAFE_TEST_CLOSED_PORT").empty()) GTEST_SKIP();
  auto s = open_store("s3://nobucket/x", o);
  Error e = error_of([&] { s->get("config"); });
  EXPECT_EQ(e.code(), Errc::kTransient) << e.what();
  EXPECT_NE(std::string(e.what()).find("cannot reach S3 endpoint 127.0.0.1:"), std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find("after 3 attempts"), std::string::npos) << e.what();
  auto* retry = dynamic_cast<RetryStore*>(s.get());
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(retry->retries(), 2u);
}

TEST_F(RgwTest, TlsCertificateMismatchNamesHostAndCaBundleOption) {
  std::string tls = env("PVESAFE_TEST_TLS_ENDPOINT");
  if (tls.empty()) GTEST_SKIP() << "no TLS listener";
  // Self-signed and not trusted.
  auto a = store("tlsbucket", "x", {{"s3.endpoint", tls}});
  Error e = error_of([&] { a->get("config"); });
  EXPECT_EQ(e.code(), Errc::kConfig) << e.what();
  std::string m = e.what();
  EXPECT_NE(m.find(tls.substr(8)), std::string::npos) << m;
  EXPECT_NE(m.find("s3.ca-bundle"), std::string::npos) << m;
  // Trusted, but issued for another name.
  auto b = store("tlsbucket", "x", {{"s3.endpoint", tls}, {"s3.ca-bundle", env("PVESAFE_TEST_TLS_CERT")}});
  Error e2 = error_of([&] { b->get("config"); });
  EXPECT_EQ(e2.code(), Errc::kConfig) << e2.what();
  EXPECT_NE(std::string(e2.what()).find(tls.substr(8)), std::string::npos) << e2.what();
}

TEST_F(RgwTest, HttpsWithCaBundleAndUnsignedPayload) {
  std::string https = env("PVESAFE_TEST_HTTPS_ENDPOINT");
  if (https.empty()) GTEST_SKIP() << "no HTTPS proxy";
  auto s = fresh("https");
  auto t = store(bucket_, "repo", {{"s3.endpoint", https}, {"s3.ca-bundle", env("PVESAFE_TEST_HTTPS_CA")}});
  auto data = random_bytes(300000, 9);
  t->put("data/tls", data);
  EXPECT_EQ(t->get("data/tls"), data);
  auto u = store(bucket_, "repo", {{"s3.endpoint", https}, {"s3.ca-bundle", env("PVESAFE_TEST_HTTPS_CA")},
                                   {"s3.unsigned-payload", "true"}});
  u->put("data/unsigned", data);
  EXPECT_EQ(s->get("data/unsigned"), data);
  // Without the CA bundle the same endpoint is refused.
  auto n = store(bucket_, "repo", {{"s3.endpoint", https}});
  EXPECT_EQ(error_of([&] { n->get("data/tls"); }).code(), Errc::kConfig);
}

TEST_F(RgwTest, ObjectLockRetentionIsSetAndRespectedByRemove) {
  auto s = fresh("lock", {}, /*lock=*/true);
  ASSERT_TRUE(s->object_lock_enabled());
  PutOptions keep;
  keep.retain_until = std::chrono::system_clock::now() + std::chrono::hours(24);
  s->put("data/locked", random_bytes(100, 1), keep);
  s->put("data/free", random_bytes(100, 2));
  Error e = error_of([&] { s->remove("data/locked"); });
  EXPECT_EQ(e.code(), Errc::kRemote) << e.what();
  EXPECT_NE(std::string(e.what()).find("Object Lock"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("data/locked"), std::string::npos) << e.what();
  EXPECT_TRUE(s->stat("data/locked").has_value());
  // The batch removes what is free and reports what is not.
  Error b = error_of([&] { s->remove_many({"data/free", "data/locked"}); });
  EXPECT_EQ(b.code(), Errc::kRemote) << b.what();
  EXPECT_NE(std::string(b.what()).find("1 of 2"), std::string::npos) << b.what();
  EXPECT_FALSE(s->stat("data/free").has_value());
  EXPECT_TRUE(s->stat("data/locked").has_value());
  // Store-wide retention from the settings.
  auto d = store(bucket_, "repo", {{"s3.retention-days", "1"}, {"s3.lock-mode", "governance"}});
  d->put("data/bydefault", random_bytes(10, 3));
  EXPECT_EQ(error_of([&] { d->remove("data/bydefault"); }).code(), Errc::kRemote);
}

TEST_F(RgwTest, OpenStoreWithEnvironmentCredentials) {
  auto s = fresh("factory");
  StoreOptions o{{{"s3.endpoint", endpoint_}}};
  auto st = open_store("s3://" + bucket_ + "/pve/", o);
  EXPECT_EQ(st->location(), "s3://" + bucket_ + "/pve");
  EXPECT_EQ(st->preferred_parallelism(), 8);
  st->put("config", random_bytes(5, 5));
  auto direct = store(bucket_, "pve");
  EXPECT_EQ(direct->get("config"), random_bytes(5, 5));
  // s3.create-bucket creates a missing bucket.
  std::string nb = unique_bucket("created");
  StoreOptions c{{{"s3.endpoint", endpoint_}, {"s3.create-bucket", "true"}}};
  auto cs = open_store("s3://" + nb, c);
  cs->put("x", random_bytes(1, 1));
  EXPECT_TRUE(cs->stat("x").has_value());
}
