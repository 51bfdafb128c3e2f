// Error mapping and the expired-token refresh of the S3 store, against a scripted fake S3 on
// 127.0.0.1 for the answers a Ceph RGW does not give (AWS region redirects, ExpiredToken,
// SlowDown, NotImplemented). The RGW integration test covers the answers RGW does give.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <sstream>

#include "core/error.h"
#include "fake_http_server.h"
#include "store/s3/s3_store.h"

using namespace pvesafe;
using namespace pvesafe::store::s3;
using pvesafe::test::FakeHttpServer;
using pvesafe::test::FakeRequest;
using pvesafe::test::FakeResponse;

namespace {

const char* kSecret = "fakeSecretKeyThatMustNeverBeShown000000";

// Returns session token "old" until invalidated, then "new".
class RotatingProvider : public CredentialProvider {
 public:
  std::atomic<int> invalidations{0};
  bool refreshable = true;
  Credentials get() override {
    return {"ASIAFAKEKEY", kSecret, invalidations > 0 && refreshable ? "new-token" : "old-token",
            std::nullopt, "test"};
  }
  void invalidate() override { ++invalidations; }
};

std::string error_xml(const std::string& code, const std::string& msg, const std::string& extra = "") {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + code + "</Code><Message>" + msg +
         "</Message>" + extra + "<RequestId>R</RequestId></Error>";
}

std::unique_ptr<S3Store> store_at(const std::string& endpoint,
                                  std::shared_ptr<CredentialProvider> c,
                                  std::map<std::string, std::string> options = {}) {
  options["s3.endpoint"] = endpoint;
  options["s3.region"] = "us-east-1";
  auto cfg = parse_s3_config(
      "s3://bucket/repo", options,
      [](const std::string&) -> std::optional<std::string> { return std::nullopt; },
      "/nonexistent");
  return std::make_unique<S3Store>(cfg, std::move(c));
}

std::unique_ptr<S3Store> store_at(const FakeHttpServer& s, std::shared_ptr<CredentialProvider> c,
                                  std::map<std::string, std::string> options = {}) {
  return store_at(s.url(), std::move(c), std::move(options));
}

Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  return Error(Errc::kInternal, "no error was thrown");
}

void expect_no_secrets(const Error& e) {
  std::string m = e.what();
  EXPECT_EQ(m.find(kSecret), std::string::npos) << m;
  EXPECT_EQ(m.find("old-token"), std::string::npos) << m;
  EXPECT_EQ(m.find("Signature="), std::string::npos) << m;
}

}  // namespace

TEST(S3StoreFake, ExpiredTokenRefreshesCredentialsAndRetriesOnce) {
  FakeHttpServer s3([](const FakeRequest& r) {
    FakeResponse resp;
    if (r.headers.count("x-amz-security-token") && r.headers.at("x-amz-security-token") == "old-token") {
      resp.status = 400;
      resp.body = error_xml("ExpiredToken", "The provided token has expired.");
      return resp;
    }
    resp.body = "payload";
    return resp;
  });
  auto creds = std::make_shared<RotatingProvider>();
  auto st = store_at(s3, creds);
  auto got = st->get("config");
  EXPECT_EQ(std::string(got.begin(), got.end()), "payload");
  EXPECT_EQ(creds->invalidations.load(), 1);
  auto reqs = s3.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].path, "/bucket/repo/config");
  EXPECT_NE(reqs[1].headers.at("authorization").find("Credential=ASIAFAKEKEY/"), std::string::npos);
  EXPECT_EQ(reqs[1].headers.at("x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(S3StoreFake, ExpiredTokenThatCannotBeRenewedIsAnAuthError) {
  FakeHttpServer s3([](const FakeRequest&) {
    FakeResponse resp;
    resp.status = 400;
    resp.body = error_xml("ExpiredToken", "The provided token has expired.");
    return resp;
  });
  auto creds = std::make_shared<RotatingProvider>();
  creds->refreshable = false;
  Error e = error_of([&] { store_at(s3, creds)->get("config"); });
  EXPECT_EQ(e.code(), Errc::kAuth) << e.what();
  EXPECT_NE(std::string(e.what()).find("has expired"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("ASIAFAKEKEY"), std::string::npos) << e.what();
  expect_no_secrets(e);
}

TEST(S3StoreFake, WrongRegionNamesTheBucketsRegion) {
  FakeHttpServer s3([](const FakeRequest&) {
    FakeResponse resp;
    resp.status = 301;
    resp.headers["x-amz-bucket-region"] = "eu-west-1";
    resp.body = error_xml("PermanentRedirect",
                          "The bucket you are attempting to access must be addressed using the "
                          "specified endpoint.");
    return resp;
  });
  Error e = error_of([&] { store_at(s3, std::make_shared<RotatingProvider>())->put("k", {}); });
  EXPECT_EQ(e.code(), Errc::kConfig) << e.what();
  EXPECT_NE(std::string(e.what()).find("s3.region=eu-west-1"), std::string::npos) << e.what();
  expect_no_secrets(e);
}

TEST(S3StoreFake, ServerSideFailuresAreTransientAndRefusalsAreNot) {
  struct Case {
    int status;
    std::string code;
    Errc want;
  };
  for (const Case& c : {Case{503, "SlowDown", Errc::kTransient}, Case{500, "InternalError", Errc::kTransient},
                        Case{400, "RequestTimeout", Errc::kTransient},
                        Case{501, "NotImplemented", Errc::kUnsupported},
                        Case{400, "InvalidArgument", Errc::kRemote},
                        Case{403, "InvalidToken", Errc::kAuth}}) {
    FakeHttpServer s3([&](const FakeRequest&) {
      FakeResponse resp;
      resp.status = c.status;
      resp.body = error_xml(c.code, "m");
      return resp;
    });
    Error e = error_of([&] { store_at(s3, std::make_shared<RotatingProvider>())->get("data/x"); });
    EXPECT_EQ(e.code(), c.want) << c.code << ": " << e.what();
    if (c.code != "InvalidToken") {
      EXPECT_NE(std::string(e.what()).find("data/x"), std::string::npos) << e.what();
    }
    expect_no_secrets(e);
  }
}

TEST(S3StoreFake, SkewFromServerTimeWhenThereIsNoDateHeader) {
  FakeHttpServer s3([](const FakeRequest&) {
    FakeResponse resp;
    resp.status = 403;
    resp.body = error_xml("RequestTimeTooSkewed", "too skewed",
                          "<RequestTime>x</RequestTime><ServerTime>2000-01-01T00:00:00Z</ServerTime>");
    return resp;
  });
  Error e = error_of([&] { store_at(s3, std::make_shared<RotatingProvider>())->get("k"); });
  EXPECT_EQ(e.code(), Errc::kConfig) << e.what();
  EXPECT_NE(std::string(e.what()).find("clock differs from the server's by"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("sync time (chrony)"), std::string::npos);
}

TEST(S3StoreFake, HeadWithoutBodyMapsByStatus) {
  FakeHttpServer s3([](const FakeRequest& r) {
    FakeResponse resp;
    resp.status = r.path.find("denied") != std::string::npos ? 403 : 404;
    return resp;
  });
  auto st = store_at(s3, std::make_shared<RotatingProvider>());
  EXPECT_FALSE(st->stat("missing").has_value());
  Error e = error_of([&] { st->stat("denied"); });
  EXPECT_EQ(e.code(), Errc::kAuth) << e.what();
  EXPECT_NE(std::string(e.what()).find("s3:GetObject"), std::string::npos) << e.what();
}

// A policy that grants s3:ListBucket only under the repository's prefix gets 403 for a HEAD of
// a missing key (AWS and RGW both answer so); a listing of the key tells missing from refused.
TEST(S3StoreFake, HeadRefusedForAMissingKeyIsMissingWhenTheListingShowsNoSuchKey) {
  std::atomic<int> lists{0};
  FakeHttpServer s3([&](const FakeRequest& r) {
    FakeResponse resp;
    if (r.method == "HEAD") {
      resp.status = 403;
      return resp;
    }
    ++lists;
    const bool present = r.path.find("prefix=repo%2Fpresent") != std::string::npos;
    resp.body = std::string("<ListBucketResult><IsTruncated>false</IsTruncated>") +
                (present ? "<Contents><Key>repo/present</Key><Size>3</Size></Contents>" : "") +
                (r.path.find("prefix=repo%2Fmissing") != std::string::npos
                     ? "<Contents><Key>repo/missing-but-longer</Key><Size>3</Size></Contents>"
                     : "") +
                "</ListBucketResult>";
    return resp;
  });
  auto st = store_at(s3, std::make_shared<RotatingProvider>());
  EXPECT_FALSE(st->stat("missing").has_value());
  EXPECT_EQ(lists.load(), 1);
  Error e = error_of([&] { st->stat("present"); });
  EXPECT_EQ(e.code(), Errc::kAuth) << e.what();
}

TEST(S3StoreFake, DeleteObjectsSendsContentMd5AndReportsPerKeyErrors) {
  FakeHttpServer s3([](const FakeRequest& r) {
    FakeResponse resp;
    if (r.method == "GET" && r.path.find("object-lock") != std::string::npos) {
      resp.status = 404;
      resp.body = error_xml("ObjectLockConfigurationNotFoundError", "none");
      return resp;
    }
    if (r.method == "POST" && r.path.find("delete") != std::string::npos && r.headers.count("content-md5")) {
      resp.body = "<DeleteResult><Error><Key>repo/data/b</Key><Code>AccessDenied</Code>"
                  "<Message>Access Denied</Message></Error></DeleteResult>";
      return resp;
    }
    resp.status = 400;
    return resp;
  });
  auto st = store_at(s3, std::make_shared<RotatingProvider>());
  Error e = error_of([&] { st->remove_many({"data/a", "data/b", "data/c"}); });
  EXPECT_EQ(e.code(), Errc::kAuth) << e.what();
  EXPECT_NE(std::string(e.what()).find("s3://bucket/repo/data/b"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("1 of 3"), std::string::npos) << e.what();
  auto reqs = s3.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_NE(reqs[1].body.find("<Key>repo/data/a</Key>"), std::string::npos);
  EXPECT_NE(reqs[1].body.find("<Quiet>true</Quiet>"), std::string::npos);
}

// ---- bounded answers ------------------------------------------------------------------------

TEST(S3StoreFake, WholeGetRefusesAnAnnouncedOversizeBodyBeforeReadingIt) {
  // 10 GiB announced, a few bytes sent, then the connection closes: refused on the header
  // (without the check, curl would read what comes and fail on the short body as a reset).
  FakeHttpServer s3([](const FakeRequest&) {
    FakeResponse resp;
    resp.body = "abc";
    resp.content_length = uint64_t{10} << 30;
    return resp;
  });
  auto st = store_at(s3, std::make_shared<RotatingProvider>(), {{"s3.max-object-size", "1M"}});
  Error e = error_of([&] { st->get("data/ab/ab12"); });
  EXPECT_EQ(e.code(), Errc::kRemote) << e.what();
  EXPECT_NE(std::string(e.what()).find("GET s3://bucket/repo/data/ab/ab12"), std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find("larger than 1048576 bytes"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.hint()).find("s3.max-object-size"), std::string::npos) << e.hint();
}

TEST(S3StoreFake, WholeGetRefusesAStreamedOversizeBody) {
  FakeHttpServer s3([](const FakeRequest& r) {
    FakeResponse resp;
    resp.body = std::string(r.path.find("big") != std::string::npos ? (2 << 20) : 1000, 'x');
    resp.chunked = true;  // no length known up front
    return resp;
  });
  auto st = store_at(s3, std::make_shared<RotatingProvider>(), {{"s3.max-object-size", "1M"}});
  EXPECT_EQ(st->get("small").size(), 1000u);
  Error e = error_of([&] { st->get("big"); });
  EXPECT_EQ(e.code(), Errc::kRemote) << e.what();
  EXPECT_NE(std::string(e.what()).find("larger than 1048576 bytes"), std::string::npos) << e.what();
}

TEST(S3StoreFake, RangedGetReturnsAtMostWhatWasAsked) {
  const std::string object(100000, 'o');
  FakeHttpServer s3([&](const FakeRequest& r) {
    FakeResponse resp;
    if (r.path.find("ignores-range") != std::string::npos) {
      resp.body = object;  // 200 with the whole object
    } else {
      resp.status = 206;  // 206 with far more than the range
      resp.body = object;
    }
    return resp;
  });
  auto st = store_at(s3, std::make_shared<RotatingProvider>());
  auto part = st->get_range("ignores-range", 10, 20);
  EXPECT_EQ(part, std::vector<uint8_t>(20, 'o'));
  // A 206 is the range itself: more than was asked is a broken server (at offset 0 the answer is
  // cut to the range, as the first bytes are the right ones either way).
  EXPECT_EQ(st->get_range("too-much", 0, 20).size(), 20u);
  Error e = error_of([&] { st->get_range("too-much", 50, 20); });
  EXPECT_EQ(e.code(), Errc::kRemote) << e.what();
  EXPECT_NE(std::string(e.what()).find("more than the 20 bytes asked for"), std::string::npos)
      << e.what();
}

TEST(S3StoreFake, XmlAnswersAreCappedAndErrorBodiesCut) {
  FakeHttpServer s3([](const FakeRequest& r) {
    FakeResponse resp;
    if (r.method == "GET" && r.path.find("list-type=2") != std::string::npos) {
      // A "listing" of 17 MiB: more than any XML document the store reads.
      resp.body = "<ListBucketResult>" + std::string(17 << 20, ' ') + "</ListBucketResult>";
      return resp;
    }
    resp.status = 500;
    resp.body = error_xml("InternalError", "boom") + std::string(1 << 20, ' ');
    return resp;
  });
  auto st = store_at(s3, std::make_shared<RotatingProvider>());
  Error e = error_of([&] { st->list("snapshots/", [](const pvesafe::store::ObjectInfo&) {}); });
  EXPECT_EQ(e.code(), Errc::kRemote) << e.what();
  EXPECT_NE(std::string(e.what()).find("larger than 16777216 bytes"), std::string::npos)
      << e.what();
  // An error answer keeps its first 64 KiB: the error document is read, the padding is not.
  HttpClient http(HttpOptions{});
  HttpResponse resp = http.perform(HttpRequest{"GET", s3.url() + "/bucket/x", {}, {}});
  EXPECT_EQ(resp.status, 500);
  EXPECT_EQ(resp.body.size(), kMaxErrorBodyBytes);
  e = error_of([&] { st->get("x"); });
  EXPECT_EQ(e.code(), Errc::kTransient) << e.what();
  EXPECT_NE(std::string(e.what()).find("InternalError: boom"), std::string::npos) << e.what();
}

TEST(S3StoreFake, PlainHttpEndpointsAwayFromLoopbackAreWarnedAboutOnce) {
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_st>(log)));
  store_at("http://127.0.0.1:7480", std::make_shared<RotatingProvider>());
  store_at("http://localhost:7480", std::make_shared<RotatingProvider>());
  store_at("https://192.0.2.10:7480", std::make_shared<RotatingProvider>());
  EXPECT_EQ(log.str(), "");
  store_at("http://192.0.2.10:7480", std::make_shared<RotatingProvider>());
  store_at("http://192.0.2.10:7480", std::make_shared<RotatingProvider>());
  spdlog::set_default_logger(previous);
  std::string out = log.str();
  EXPECT_NE(out.find("http://192.0.2.10:7480 is plain HTTP"), std::string::npos) << out;
  EXPECT_NE(out.find("[warning]"), std::string::npos) << out;
  EXPECT_EQ(out.find("plain HTTP"), out.rfind("plain HTTP")) << "warned more than once: " << out;
  EXPECT_EQ(out.find(kSecret), std::string::npos) << out;
}
