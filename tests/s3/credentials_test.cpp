// The credential chain with a temporary HOME, a fake EC2 metadata service and a fake STS on
// 127.0.0.1 that answer like the real services (IMDSv2 token handshake, STS XML documents).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "core/error.h"
#include "fake_http_server.h"
#include "store/s3/credentials.h"

using namespace pvesafe;
using namespace pvesafe::store::s3;
using pvesafe::test::FakeHttpServer;
using pvesafe::test::FakeRequest;
using pvesafe::test::FakeResponse;

namespace {

struct TempHome {
  std::string dir;
  TempHome() {
    char tmpl[] = "/tmp/pvesafe-cred-XXXXXX";
    dir = mkdtemp(tmpl);
    mkdir((dir + "/.aws").c_str(), 0700);
  }
  ~TempHome() { std::system(("rm -rf '" + dir + "'").c_str()); }
  void write(const std::string& rel, const std::string& text) const {
    std::ofstream(dir + "/" + rel) << text;
  }
};

CredentialContext context(const TempHome& home, std::map<std::string, std::string> env) {
  CredentialContext ctx;
  ctx.home = home.dir;
  ctx.env = [env](const std::string& n) -> std::optional<std::string> {
    auto it = env.find(n);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  return ctx;
}

std::string sts_xml(const std::string& action, const std::string& akid, const std::string& exp) {
  return "<" + action + "Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><" + action +
         "Result><Credentials><AccessKeyId>" + akid +
         "</AccessKeyId><SecretAccessKey>tempSecret</SecretAccessKey><SessionToken>tempToken"
         "</SessionToken><Expiration>" + exp + "</Expiration></Credentials></" + action +
         "Result><ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>"
         "</ResponseMetadata></" + action + "Response>";
}

std::string in_minutes(int m) {
  return format_iso8601(std::chrono::system_clock::now() + std::chrono::minutes(m));
}

Errc code_of(const std::function<void()>& f, std::string* msg = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (msg) *msg = e.what();
    return e.code();
  }
  return Errc::kInternal;
}

}  // namespace

TEST(Credentials, EnvironmentComesFirst) {
  TempHome home;
  home.write(".aws/credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = f\n");
  auto chain = default_credential_chain(context(
      home, {{"AWS_ACCESS_KEY_ID", "ENVKEY"}, {"AWS_SECRET_ACCESS_KEY", "envsecret"},
             {"AWS_SESSION_TOKEN", "envtoken"}}));
  Credentials c = chain->get();
  EXPECT_EQ(c.access_key_id, "ENVKEY");
  EXPECT_EQ(c.secret_access_key, "envsecret");
  EXPECT_EQ(c.session_token, "envtoken");
  EXPECT_EQ(c.source, "environment");
}

TEST(Credentials, ProfilesFromCredentialsAndConfigFiles) {
  TempHome home;
  home.write(".aws/credentials",
             "# comment\n[default]\naws_access_key_id = DEFKEY\naws_secret_access_key = defsecret\n"
             "[backup]\naws_access_key_id=BACKUPKEY\naws_secret_access_key=backupsecret\n");
  home.write(".aws/config", "[profile cfgonly]\naws_access_key_id = CFGKEY\naws_secret_access_key = c\n");
  EXPECT_EQ(default_credential_chain(context(home, {}))->get().access_key_id, "DEFKEY");
  EXPECT_EQ(default_credential_chain(context(home, {{"AWS_PROFILE", "backup"}}))->get().access_key_id,
            "BACKUPKEY");
  auto ctx = context(home, {{"AWS_PROFILE", "backup"}});
  ctx.profile = "cfgonly";  // s3.profile beats AWS_PROFILE
  Credentials c = default_credential_chain(ctx)->get();
  EXPECT_EQ(c.access_key_id, "CFGKEY");
  EXPECT_EQ(c.source, "profile cfgonly");
}

TEST(Credentials, MissingNamedProfileIsAConfigError) {
  TempHome home;
  home.write(".aws/credentials", "[default]\naws_access_key_id = K\naws_secret_access_key = S\n");
  std::string msg;
  EXPECT_EQ(code_of([&] { default_credential_chain(context(home, {{"AWS_PROFILE", "nope"}}))->get(); },
                    &msg),
            Errc::kConfig);
  EXPECT_NE(msg.find("nope"), std::string::npos);
}

TEST(Credentials, NothingFoundWithMetadataDisabledSaysWhatWasTried) {
  TempHome home;
  std::string msg;
  EXPECT_EQ(code_of([&] {
              default_credential_chain(context(home, {{"AWS_EC2_METADATA_DISABLED", "true"}}))->get();
            }, &msg),
            Errc::kConfig);
  EXPECT_NE(msg.find("no AWS credentials"), std::string::npos);
  EXPECT_NE(msg.find("AWS_ACCESS_KEY_ID"), std::string::npos);
}

TEST(Credentials, CredentialProcess) {
  TempHome home;
  home.write("creds.sh",
             "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"PROCKEY\", \"SecretAccessKey\": "
             "\"procsecret\", \"SessionToken\": \"proctoken\", \"Expiration\": \"" + in_minutes(60) +
             "\"}'\n");
  chmod((home.dir + "/creds.sh").c_str(), 0700);
  home.write("fail.sh", "#!/bin/sh\necho 'vault sealed' >&2\nexit 3\n");
  chmod((home.dir + "/fail.sh").c_str(), 0700);
  home.write(".aws/config", "[default]\ncredential_process = " + home.dir + "/creds.sh\n"
                            "[profile broken]\ncredential_process = " + home.dir + "/fail.sh\n");
  Credentials c = default_credential_chain(context(home, {}))->get();
  EXPECT_EQ(c.access_key_id, "PROCKEY");
  EXPECT_EQ(c.session_token, "proctoken");
  ASSERT_TRUE(c.expiration.has_value());
  std::string msg;
  EXPECT_EQ(code_of([&] { default_credential_chain(context(home, {{"AWS_PROFILE", "broken"}}))->get(); },
                    &msg),
            Errc::kAuth);
  EXPECT_NE(msg.find("exit status 3"), std::string::npos);
}

TEST(Credentials, AssumeRoleWithSourceProfileCallsStsSignedAndCaches) {
  std::atomic<int> calls{0};
  FakeHttpServer sts([&](const FakeRequest& r) {
    ++calls;
    FakeResponse resp;
    if (r.method != "POST" || r.body.find("Action=AssumeRole&") == std::string::npos ||
        r.headers.count("authorization") == 0) {
      resp.status = 400;
      resp.body = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"
                  "<Message>bad request</Message></Error></ErrorResponse>";
      return resp;
    }
    resp.headers["Content-Type"] = "text/xml";
    resp.body = sts_xml("AssumeRole", "ASIAROLEKEY", in_minutes(60));
    return resp;
  });
  TempHome home;
  home.write(".aws/credentials", "[base]\naws_access_key_id = BASEKEY\naws_secret_access_key = basesecret\n");
  home.write(".aws/config",
             "[profile backup]\nrole_arn = arn:aws:iam::123456789012:role/pvesafe-backup\n"
             "source_profile = base\nrole_session_name = host1\nexternal_id = ext-1\n");
  auto ctx = context(home, {});
  ctx.profile = "backup";
  ctx.sts_endpoint = sts.url();
  ctx.region = "eu-west-1";
  auto chain = default_credential_chain(ctx);
  Credentials c = chain->get();
  EXPECT_EQ(c.access_key_id, "ASIAROLEKEY");
  EXPECT_EQ(c.secret_access_key, "tempSecret");
  EXPECT_EQ(c.session_token, "tempToken");
  // Cached while far from expiry.
  chain->get();
  chain->get();
  EXPECT_EQ(calls.load(), 1);
  auto reqs = sts.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const FakeRequest& r = reqs[0];
  EXPECT_NE(r.body.find("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpvesafe-backup"),
            std::string::npos);
  EXPECT_NE(r.body.find("RoleSessionName=host1"), std::string::npos);
  EXPECT_NE(r.body.find("ExternalId=ext-1"), std::string::npos);
  EXPECT_NE(r.body.find("Version=2011-06-15"), std::string::npos);
  EXPECT_EQ(r.headers.at("authorization").rfind(
                "AWS4-HMAC-SHA256 Credential=BASEKEY/", 0), 0u);
  EXPECT_NE(r.headers.at("authorization").find("/eu-west-1/sts/aws4_request"), std::string::npos);
  EXPECT_EQ(r.headers.at("authorization").find("basesecret"), std::string::npos);
}

TEST(Credentials, StsErrorIsAnAuthErrorWithoutSecrets) {
  FakeHttpServer sts([&](const FakeRequest&) {
    FakeResponse resp;
    resp.status = 403;
    resp.body = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User "
                "is not authorized to perform: sts:AssumeRole</Message></Error></ErrorResponse>";
    return resp;
  });
  TempHome home;
  home.write(".aws/credentials", "[base]\naws_access_key_id = BASEKEY\naws_secret_access_key = basesecret\n");
  home.write(".aws/config", "[default]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\n");
  auto ctx = context(home, {});
  ctx.sts_endpoint = sts.url();
  std::string msg;
  EXPECT_EQ(code_of([&] { default_credential_chain(ctx)->get(); }, &msg), Errc::kAuth);
  EXPECT_NE(msg.find("AccessDenied"), std::string::npos);
  EXPECT_NE(msg.find("arn:aws:iam::1:role/r"), std::string::npos);
  EXPECT_EQ(msg.find("basesecret"), std::string::npos);
}

TEST(Credentials, WebIdentityFromEnvironmentIsUnsigned) {
  FakeHttpServer sts([&](const FakeRequest& r) {
    FakeResponse resp;
    if (r.body.find("Action=AssumeRoleWithWebIdentity") == std::string::npos ||
        r.body.find("WebIdentityToken=eyJhbGciOi.jwt.sig") == std::string::npos ||
        r.headers.count("authorization")) {
      resp.status = 400;
      return resp;
    }
    resp.body = sts_xml("AssumeRoleWithWebIdentity", "ASIAWEBKEY", in_minutes(60));
    return resp;
  });
  TempHome home;
  home.write("token", "eyJhbGciOi.jwt.sig\n");
  auto ctx = context(home, {{"AWS_WEB_IDENTITY_TOKEN_FILE", home.dir + "/token"},
                            {"AWS_ROLE_ARN", "arn:aws:iam::1:role/k8s"},
                            {"AWS_ROLE_SESSION_NAME", "pod-1"}});
  ctx.sts_endpoint = sts.url();
  Credentials c = default_credential_chain(ctx)->get();
  EXPECT_EQ(c.access_key_id, "ASIAWEBKEY");
  EXPECT_NE(sts.requests().at(0).body.find("RoleSessionName=pod-1"), std::string::npos);
}

namespace {
// Answers like the EC2 instance metadata service with IMDSv2 required.
struct FakeImds {
  std::atomic<int> credential_fetches{0};
  std::string expiration;
  FakeHttpServer server{[this](const FakeRequest& r) { return handle(r); }};

  FakeResponse handle(const FakeRequest& r) {
    FakeResponse resp;
    resp.headers["Content-Type"] = "text/plain";
    if (r.method == "PUT" && r.path == "/latest/api/token") {
      if (!r.headers.count("x-aws-ec2-metadata-token-ttl-seconds")) {
        resp.status = 400;
        return resp;
      }
      resp.headers["x-aws-ec2-metadata-token-ttl-seconds"] =
          r.headers.at("x-aws-ec2-metadata-token-ttl-seconds");
      resp.body = "AQAEAFakeImdsToken==";
      return resp;
    }
    if (r.headers.count("x-aws-ec2-metadata-token") == 0 ||
        r.headers.at("x-aws-ec2-metadata-token") != "AQAEAFakeImdsToken==") {
      resp.status = 401;
      return resp;
    }
    if (r.path == "/latest/meta-data/iam/security-credentials/") {
      resp.body = "pvesafe-backup-role";
      return resp;
    }
    if (r.path == "/latest/meta-data/iam/security-credentials/pvesafe-backup-role") {
      ++credential_fetches;
      resp.body = "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-11-26T00:40:00Z\",\n"
                  "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAIMDSKEY" +
                  std::to_string(credential_fetches.load()) +
                  "\",\n  \"SecretAccessKey\" : \"imdssecret\",\n  \"Token\" : \"imdstoken\",\n"
                  "  \"Expiration\" : \"" + expiration + "\"\n}";
      return resp;
    }
    resp.status = 404;
    return resp;
  }
};
}  // namespace

TEST(Credentials, InstanceMetadataV2AndRefreshBeforeExpiry) {
  FakeImds imds;
  imds.expiration = "2026-11-26T03:00:00Z";
  TempHome home;
  auto ctx = context(home, {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.server.url()}});
  auto t = std::chrono::system_clock::from_time_t(1795654800);  // 01:00:00Z
  auto clock = std::make_shared<std::atomic<int64_t>>(0);
  ctx.now = [t, clock] { return t + std::chrono::seconds(clock->load()); };
  auto chain = default_credential_chain(ctx);
  Credentials c = chain->get();
  EXPECT_EQ(c.access_key_id, "ASIAIMDSKEY1");
  EXPECT_EQ(c.session_token, "imdstoken");
  EXPECT_EQ(c.source, "instance metadata role pvesafe-backup-role");
  // 01:50: still ten minutes to go, cached.
  clock->store(50 * 60);
  EXPECT_EQ(chain->get().access_key_id, "ASIAIMDSKEY1");
  // 01:56: inside the five-minute window, refreshed.
  clock->store(116 * 60);
  EXPECT_EQ(chain->get().access_key_id, "ASIAIMDSKEY2");
  EXPECT_EQ(imds.credential_fetches.load(), 2);
  // Every metadata GET carried the session token (the fake answers 401 otherwise).
  for (const auto& r : imds.server.requests()) {
    if (r.method == "GET") {
      EXPECT_EQ(r.headers.at("x-aws-ec2-metadata-token"), "AQAEAFakeImdsToken==");
    }
  }
}

TEST(Credentials, ConcurrentCallersShareOneRefresh) {
  FakeImds imds;
  imds.expiration = in_minutes(60);
  TempHome home;
  auto chain = default_credential_chain(
      context(home, {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.server.url()}}));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 20; ++j) {
        if (chain->get().access_key_id == "ASIAIMDSKEY1") ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 160);
  EXPECT_EQ(imds.credential_fetches.load(), 1);
}

TEST(Credentials, UnreachableMetadataServiceIsAConfigError) {
  TempHome home;
  // A port nobody listens on: bind and close one.
  int port;
  {
    FakeHttpServer s([](const FakeRequest&) { return FakeResponse{}; });
    port = std::stoi(s.url().substr(s.url().rfind(':') + 1));
  }
  std::string msg;
  auto chain = default_credential_chain(context(
      home, {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:" + std::to_string(port)}}));
  EXPECT_EQ(code_of([&] { chain->get(); }, &msg), Errc::kConfig);
  EXPECT_NE(msg.find("no AWS credentials found"), std::string::npos);
}

TEST(Credentials, IniParsing) {
  auto ini = parse_aws_ini("[default]\n  Region = x \n[profile a b]\nk=v=w\n; c\n", true);
  EXPECT_EQ(ini["default"]["region"], "x");
  EXPECT_EQ(ini["a b"]["k"], "v=w");
  auto t = parse_iso8601("2026-11-26T01:02:03.123Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(format_iso8601(*t), "2026-11-26T01:02:03Z");
}
