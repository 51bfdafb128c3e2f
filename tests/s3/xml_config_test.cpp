// XML parsing of S3 responses, URL/addressing and the s3.* settings.
#include <gtest/gtest.h>

#include "core/error.h"
#include "store/s3/s3_config.h"
#include "store/s3/s3_store.h"
#include "store/s3/xml.h"

using namespace pvesafe;
using namespace pvesafe::store::s3;

TEST(Xml, ParsesListObjectsV2Page) {
  const char* doc =
      R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name>
<Prefix>repo/data/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
<Contents><Key>repo/data/a&amp;b</Key><Size>17</Size><ETag>&quot;abc&quot;</ETag></Contents>
<Contents><Key>repo/data/c</Key><Size>5368709120</Size></Contents></ListBucketResult>)";
  auto root = parse_xml(doc, "test");
  EXPECT_EQ(root->name, "ListBucketResult");
  EXPECT_EQ(root->child_text("IsTruncated"), "true");
  EXPECT_EQ(root->child_text("NextContinuationToken"), "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  auto contents = root->children_named("Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(contents[0]->child_text("Key"), "repo/data/a&b");
  EXPECT_EQ(contents[0]->child_text("ETag"), "\"abc\"");
  EXPECT_EQ(contents[1]->child_text("Size"), "5368709120");
}

TEST(Xml, ParsesErrorAndStsResponses) {
  auto err = parse_xml(
      "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time "
      "and the current time is too large.</Message><ServerTime>2026-11-26T01:00:00Z</ServerTime>"
      "</Error>",
      "test");
  EXPECT_EQ(err->child_text("Code"), "RequestTimeTooSkewed");
  auto sts = parse_xml(
      "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>"
      "<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
      "<SessionToken>t</SessionToken><Expiration>2026-11-26T02:00:00Z</Expiration></Credentials>"
      "</AssumeRoleResult></AssumeRoleResponse>",
      "test");
  const XmlNode* c = sts->find("Credentials");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->child_text("AccessKeyId"), "ASIAX");
  EXPECT_EQ(c->child_text("Expiration"), "2026-11-26T02:00:00Z");
}

TEST(Xml, MalformedDocumentIsARemoteError) {
  try {
    parse_xml("<ListBucketResult><Contents>", "ListObjectsV2");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::kRemote);
    EXPECT_NE(e.message().find("ListObjectsV2"), std::string::npos);
  }
  EXPECT_EQ(xml_escape("a<b>&'\""), "a&lt;b&gt;&amp;&apos;&quot;");
}

namespace {
EnvLookup no_env() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}
}  // namespace

TEST(Xml, NestingIsBoundedAndDoctypesAreRefused) {
  auto nested = [](size_t depth) {
    std::string open, close;
    for (size_t i = 0; i < depth; ++i) {
      open += "<a>";
      close = "</a>" + close;
    }
    return open + "x" + close;
  };
  EXPECT_EQ(parse_xml(nested(kMaxXmlDepth), "deep")->find("a")->name, "a");
  try {
    parse_xml(nested(kMaxXmlDepth + 1), "ListObjectsV2");
    FAIL() << "no error";
  } catch (const pvesafe::Error& e) {
    EXPECT_EQ(e.code(), pvesafe::Errc::kRemote);
    EXPECT_NE(std::string(e.what()).find("nested more than 32 deep"), std::string::npos)
        << e.what();
  }
  // A million levels: refused at the 33rd, without a million nodes or a deep recursion.
  std::string deep;
  for (int i = 0; i < 1000000; ++i) deep += "<a>";
  EXPECT_THROW(parse_xml(deep, "deep"), pvesafe::Error);
  // Entity expansion ("billion laughs") needs a DTD, and S3 never sends one.
  const char* laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"ha\"><!ENTITY b \"&a;&a;&a;&a;\">]>"
      "<Error><Code>&b;</Code></Error>";
  try {
    parse_xml(laughs, "S3 error response");
    FAIL() << "no error";
  } catch (const pvesafe::Error& e) {
    EXPECT_EQ(e.code(), pvesafe::Errc::kRemote);
    EXPECT_NE(std::string(e.what()).find("document type declaration"), std::string::npos)
        << e.what();
  }
}

TEST(S3Config, PathStyleUrlForCustomEndpoint) {
  auto c = parse_s3_config("s3://backups/pve/cluster1/",
                           {{"s3.endpoint", "http://127.0.0.1:7480"}}, no_env(), "/nonexistent");
  EXPECT_EQ(c.bucket, "backups");
  EXPECT_EQ(c.prefix, "pve/cluster1/");
  EXPECT_TRUE(c.path_style);
  EXPECT_EQ(c.region, "us-east-1");
  EXPECT_EQ(c.host_header(), "127.0.0.1:7480");
  EXPECT_EQ(c.url("pve/cluster1/data/ab cd", ""), "http://127.0.0.1:7480/backups/pve/cluster1/data/ab%20cd");
  EXPECT_EQ(c.url("", "list-type=2"), "http://127.0.0.1:7480/backups?list-type=2");
  EXPECT_EQ(c.location(), "s3://backups/pve/cluster1");
}

TEST(S3Config, VirtualHostedOnAwsByDefault) {
  auto env = [](const std::string& n) -> std::optional<std::string> {
    if (n == "AWS_REGION") return "eu-central-1";
    return std::nullopt;
  };
  auto c = parse_s3_config("s3://my-backups", {}, env, "/nonexistent");
  EXPECT_FALSE(c.path_style);
  EXPECT_EQ(c.region, "eu-central-1");
  EXPECT_EQ(c.host_header(), "my-backups.s3.eu-central-1.amazonaws.com");
  EXPECT_EQ(c.url("config", ""), "https://my-backups.s3.eu-central-1.amazonaws.com/config");
  EXPECT_EQ(c.canonical_path(""), "/");
  EXPECT_EQ(c.prefix, "");
  // A bucket with dots stays path-style (its name would not match the TLS certificate).
  auto d = parse_s3_config("s3://my.backups", {}, env, "/nonexistent");
  EXPECT_TRUE(d.path_style);
  EXPECT_EQ(d.url("k", ""), "https://s3.eu-central-1.amazonaws.com/my.backups/k");
  // Explicit settings win.
  auto e = parse_s3_config("s3://bkt/p", {{"s3.path-style", "false"},
                                          {"s3.endpoint", "https://minio.example:9000"}},
                           env, "/nonexistent");
  EXPECT_EQ(e.host_header(), "bkt.minio.example:9000");
  EXPECT_EQ(e.url("p/x", ""), "https://bkt.minio.example:9000/p/x");
}

// The payload hash: left out over HTTPS unless asked for, always sent over plain HTTP.
TEST(S3Config, UnsignedPayloadByDefaultOnlyOverHttps) {
  EXPECT_TRUE(parse_s3_config("s3://bkt", {}, no_env(), "/x").unsigned_payload);  // AWS: https
  EXPECT_TRUE(parse_s3_config("s3://bkt", {{"s3.endpoint", "https://h:9000"}}, no_env(), "/x").unsigned_payload);
  EXPECT_FALSE(parse_s3_config("s3://bkt", {{"s3.endpoint", "http://h:9000"}}, no_env(), "/x").unsigned_payload);
  EXPECT_FALSE(parse_s3_config("s3://bkt", {{"s3.endpoint", "https://h:9000"}, {"s3.unsigned-payload", "false"}},
                               no_env(), "/x")
                   .unsigned_payload);
}

TEST(S3Config, RejectsUnknownKeysAndBadValues) {
  auto code_of = [](std::function<void()> f) {
    try {
      f();
    } catch (const Error& e) {
      return e.code();
    }
    return Errc::kInternal;
  };
  EXPECT_EQ(code_of([] { parse_s3_config("s3://bkt", {{"s3.endpiont", "x"}}, no_env(), "/x"); }),
            Errc::kUsage);
  EXPECT_EQ(code_of([] { parse_s3_config("s3://B_", {}, no_env(), "/x"); }), Errc::kUsage);
  EXPECT_EQ(code_of([] { parse_s3_config("s3://bkt", {{"s3.connections", "0"}}, no_env(), "/x"); }),
            Errc::kUsage);
  EXPECT_EQ(code_of([] {
              parse_s3_config("s3://bkt", {{"s3.endpoint", "http://h:1"}, {"s3.unsigned-payload", "true"}},
                              no_env(), "/x");
            }),
            Errc::kUsage);
  EXPECT_EQ(code_of([] { parse_s3_config("s3://bkt", {{"s3.ca-bundle", "/nonexistent.pem"}}, no_env(), "/x"); }),
            Errc::kConfig);
  EXPECT_EQ(code_of([] { parse_s3_config("s3://bkt", {{"s3.lock-mode", "forever"}}, no_env(), "/x"); }),
            Errc::kUsage);
  auto c = parse_s3_config("s3://bkt", {{"s3.part-size", "8M"}, {"s3.connections", "16"},
                                        {"s3.lock-mode", "COMPLIANCE"}, {"s3.retention-days", "30"}},
                           no_env(), "/x");
  EXPECT_EQ(c.part_size, 8u << 20);
  EXPECT_EQ(c.connections, 16);
  EXPECT_TRUE(c.compliance);
  EXPECT_EQ(c.retention_days.value_or(0), 30);
}

TEST(S3Config, EndpointAndRegionFromEnvironmentAndProfile) {
  char tmpl[] = "/tmp/pvesafe-s3cfg-XXXXXX";
  std::string home = mkdtemp(tmpl);
  std::string aws = home + "/.aws";
  mkdir(aws.c_str(), 0700);
  FILE* f = fopen((aws + "/config").c_str(), "w");
  fputs("[default]\nregion = ap-south-1\n[profile other]\nregion=sa-east-1\n", f);
  fclose(f);
  auto env = [](const std::string& n) -> std::optional<std::string> {
    if (n == "AWS_ENDPOINT_URL_S3") return "http://rgw.lan:8080";
    return std::nullopt;
  };
  auto c = parse_s3_config("s3://bkt", {}, env, home);
  EXPECT_EQ(c.region, "ap-south-1");
  EXPECT_EQ(c.host_header(), "rgw.lan:8080");
  auto d = parse_s3_config("s3://bkt", {{"s3.profile", "other"}}, env, home);
  EXPECT_EQ(d.region, "sa-east-1");
  std::system(("rm -rf " + home).c_str());
}

TEST(S3Errors, ClockSkewFromDateHeader) {
  HttpResponse r;
  r.headers["date"] = "Thu, 26 Nov 2026 01:00:00 GMT";
  auto local = std::chrono::system_clock::from_time_t(1795654800 + 1200);  // 20 min later
  auto skew = clock_skew_seconds(r, local);
  ASSERT_TRUE(skew.has_value());
  EXPECT_EQ(*skew, 1200);
}
