// AWS Signature V4: the published test-suite vectors (service "service", us-east-1,
// 20150830T123600Z, AKIDEXAMPLE) and the S3 documentation examples (examplebucket,
// 20130524T000000Z). Expected values are the ones AWS publishes.
#include <gtest/gtest.h>

#include "store/s3/sigv4.h"

using namespace pvesafe::store::s3;

namespace {

const char* kSuiteDate = "20150830T123600Z";

SigningScope suite_scope() {
  return {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service",
          kSuiteDate};
}

SigningRequest suite_request(std::string method, std::string path, Pairs query,
                             Pairs extra_headers = {}, std::string body = "") {
  SigningRequest r;
  r.method = std::move(method);
  r.canonical_uri = std::move(path);
  r.query = std::move(query);
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kSuiteDate}};
  for (auto& h : extra_headers) r.headers.push_back(h);
  r.payload_hash = sha256_hex(body);
  return r;
}

std::string sig_of(const std::string& authz) { return authz.substr(authz.rfind('=') + 1); }

}  // namespace

TEST(SigV4Suite, GetVanillaCanonicalRequestStringToSignAndSignature) {
  auto r = suite_request("GET", "/", {});
  std::string signed_headers;
  std::string creq = canonical_request(r, &signed_headers);
  EXPECT_EQ(creq,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(signed_headers, "host;x-amz-date");
  std::string sts = string_to_sign(suite_scope(), creq);
  EXPECT_EQ(sts,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(authorization(r, suite_scope()),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Suite, GetVanillaQueryOrderKeyCase) {
  auto r = suite_request("GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}});
  EXPECT_EQ(sig_of(authorization(r, suite_scope())),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4Suite, GetVanillaQueryOrderKey) {
  auto r = suite_request("GET", "/", {{"Param1", "value2"}, {"Param1", "Value1"}});
  std::string creq = canonical_request(r, nullptr);
  EXPECT_EQ(creq,
            "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(string_to_sign(suite_scope(), creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89");
  EXPECT_EQ(sig_of(authorization(r, suite_scope())),
            "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1");
}

TEST(SigV4Suite, GetVanillaQueryOrderValue) {
  auto r = suite_request("GET", "/", {{"Param1", "value2"}, {"Param1", "value1"}});
  EXPECT_EQ(canonical_query(r.query), "Param1=value1&Param1=value2");
  EXPECT_EQ(sig_of(authorization(r, suite_scope())),
            "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694");
}

TEST(SigV4Suite, GetVanillaEmptyQueryKey) {
  auto r = suite_request("GET", "/", {{"Param1", "value1"}});
  EXPECT_EQ(sig_of(authorization(r, suite_scope())),
            "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb");
}

TEST(SigV4Suite, GetUnreserved) {
  std::string path = "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  EXPECT_EQ(uri_encode(path, true), path);
  auto r = suite_request("GET", uri_encode(path, true), {});
  EXPECT_EQ(sig_of(authorization(r, suite_scope())),
            "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
}

TEST(SigV4Suite, GetVanillaUtf8Query) {
  auto r = suite_request("GET", "/", {{"\xe1\x88\xb4", "bar"}});
  EXPECT_EQ(canonical_query(r.query), "%E1%88%B4=bar");
  EXPECT_EQ(sig_of(authorization(r, suite_scope())),
            "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
}

TEST(SigV4Suite, PostVanilla) {
  auto r = suite_request("POST", "/", {});
  EXPECT_EQ(sig_of(authorization(r, suite_scope())),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4Suite, PostHeaderKeySort) {
  auto r = suite_request("POST", "/", {}, {{"My-Header1", "value1"}});
  EXPECT_EQ(authorization(r, suite_scope()),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;my-header1;x-amz-date, "
            "Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c");
}

TEST(SigV4Suite, GetHeaderValueTrim) {
  auto r = suite_request("GET", "/", {}, {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}});
  EXPECT_EQ(authorization(r, suite_scope()),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
            "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

TEST(SigV4Suite, PostXWwwFormUrlencoded) {
  auto r = suite_request("POST", "/", {}, {{"Content-Type", "application/x-www-form-urlencoded"}},
                         "Param1=value1");
  std::string creq = canonical_request(r, nullptr);
  EXPECT_EQ(creq,
            "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
            "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "content-type;host;x-amz-date\n"
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  EXPECT_EQ(string_to_sign(suite_scope(), creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
  EXPECT_EQ(authorization(r, suite_scope()),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date, "
            "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

TEST(SigV4Suite, PostStsHeaderBefore) {
  const std::string token =
      "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSP"
      "fIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYw"
      "T7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKml"
      "zm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
  auto r = suite_request("POST", "/", {}, {{"X-Amz-Security-Token", token}});
  EXPECT_EQ(authorization(r, suite_scope()),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date;x-amz-security-token, "
            "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
}

// The S3 documentation's header-auth examples (examplebucket, AKIAIOSFODNN7EXAMPLE).
namespace {
SigningScope s3_doc_scope() {
  return {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", "s3",
          "20130524T000000Z"};
}
SigningRequest s3_doc_get(std::string path, Pairs query, Pairs extra = {}) {
  SigningRequest r;
  r.method = "GET";
  r.canonical_uri = std::move(path);
  r.query = std::move(query);
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"x-amz-content-sha256", std::string(kEmptySha256)},
               {"x-amz-date", "20130524T000000Z"}};
  for (auto& h : extra) r.headers.push_back(h);
  r.payload_hash = std::string(kEmptySha256);
  return r;
}
}  // namespace

TEST(SigV4S3Docs, GetObjectWithRange) {
  auto r = s3_doc_get("/test.txt", {}, {{"Range", "bytes=0-9"}});
  EXPECT_EQ(authorization(r, s3_doc_scope()),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4S3Docs, GetBucketLifecycleAndListObjects) {
  EXPECT_EQ(sig_of(authorization(s3_doc_get("/", {{"lifecycle", ""}}), s3_doc_scope())),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  EXPECT_EQ(sig_of(authorization(s3_doc_get("/", {{"prefix", "J"}, {"max-keys", "2"}}),
                                 s3_doc_scope())),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, UriEncodeKeepsSlashOnlyForPaths) {
  EXPECT_EQ(uri_encode("a b/c+d=e&f", true), "a%20b/c%2Bd%3De%26f");
  EXPECT_EQ(uri_encode("a b/c", false), "a%20b%2Fc");
  EXPECT_EQ(uri_encode("\xc3\xa9", true), "%C3%A9");
}

TEST(SigV4, AmzDateFormatsUtc) {
  auto t = std::chrono::system_clock::from_time_t(1440938160);  // 2015-08-30 12:36:00 UTC
  EXPECT_EQ(amz_datetime(t), "20150830T123600Z");
}

TEST(SigV4, ContentMd5IsBase64OfTheDigest) {
  std::string body = "hello";
  EXPECT_EQ(md5_base64({reinterpret_cast<const uint8_t*>(body.data()), body.size()}),
            "XUFAKrxLKna5cZ2REBfFkg==");
}
