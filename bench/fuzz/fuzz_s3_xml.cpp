// S3 and STS XML responses: the expat-based parser (store/s3/xml.h) and every way the S3 store
// and the credential chain read a parsed document: error bodies (Code, Message, Region,
// ServerTime for the clock skew), ListObjectsV2 pages, multipart (UploadId, CompleteMultipart
// errors), DeleteObjects errors, the Object Lock configuration and AssumeRole credentials.
#include "fuzz_target.h"
#include "store/s3/credentials.h"
#include "store/s3/http_client.h"
#include "store/s3/s3_store.h"
#include "store/s3/xml.h"

namespace {

using pvesafe::store::s3::XmlNode;

void read_like_the_store(const XmlNode& doc) {
  // Error responses (S3Store::fail, credentials_from_sts).
  const XmlNode* err = doc.find("Error");
  if (!err) err = &doc;
  err->child_text("Code");
  err->child_text("Message");
  err->child_text("Region");
  // ListObjectsV2.
  for (const XmlNode* c : doc.children_named("Contents")) {
    std::string key = c->child_text("Key");
    try {
      std::stoull(c->child_text("Size"));
    } catch (...) {
    }
  }
  doc.child_text("IsTruncated");
  doc.child_text("NextContinuationToken");
  // Multipart, DeleteObjects, Object Lock.
  doc.child_text("UploadId");
  for (const XmlNode* e : doc.children_named("Error")) {
    e->child_text("Key");
    e->child_text("Code");
  }
  doc.child_text("ObjectLockEnabled");
  // AssumeRole / AssumeRoleWithWebIdentity.
  if (const XmlNode* c = doc.find("Credentials")) {
    c->child_text("AccessKeyId");
    pvesafe::store::s3::parse_iso8601(c->child_text("Expiration"));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pvesafe;
  std::string_view text = fuzz::as_text(data, size);
  fuzz::refusal_ok([&] { read_like_the_store(*store::s3::parse_xml(text, "fuzz")); });
  // An error response without a Date header: the skew comes from the body's ServerTime.
  store::s3::HttpResponse resp;
  resp.status = 403;
  resp.body.assign(data, data + size);
  store::s3::clock_skew_seconds(resp, std::chrono::system_clock::now());
  return 0;
}
