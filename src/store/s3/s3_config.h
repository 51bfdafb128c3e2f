// S3Config: everything the S3 store needs, from "s3://bucket/prefix", the -o s3.* settings and
// the standard AWS environment. Also builds request URLs for path-style and virtual-hosted
// addressing.
//
// Settings (docs/s3.md):
//   s3.endpoint        URL of the service (default AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else
//                      https://s3.REGION.amazonaws.com)
//   s3.region          signing region (default AWS_REGION, AWS_DEFAULT_REGION, the profile's
//                      region, else us-east-1)
//   s3.path-style      true|false (default: virtual-hosted on amazonaws.com unless the bucket
//                      name has dots, path-style elsewhere)
//   s3.ca-bundle       PEM file of trusted CAs (default AWS_CA_BUNDLE, else the system store)
//   s3.connections     parallel connections (default 8)
//   s3.profile         AWS profile (default AWS_PROFILE, else "default")
//   s3.retention-days, s3.retain-until, s3.lock-mode   Object Lock retention for new objects
//   s3.multipart-threshold, s3.part-size   bytes (defaults 64 MiB and 16 MiB)
//   s3.unsigned-payload  true: send UNSIGNED-PAYLOAD (HTTPS only; the default over HTTPS)
//   s3.max-attempts    tries per request, first included (default 6)
//   s3.timeout         seconds without progress before a request is aborted (default 60)
//   s3.list-max-keys   page size of listings (default 1000)
//   s3.max-object-size bytes a whole-object GET may return (default 1G): a larger answer is
//                      refused before it is read
//   s3.create-bucket   true: create the bucket when it is missing
//   s3.sts-endpoint    STS URL for AssumeRole (default AWS_ENDPOINT_URL_STS)
//   s3.clock-offset-seconds  testing only: sign with a clock shifted by this many seconds
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace pvesafe::store::s3 {

struct S3Config {
  std::string bucket;
  std::string prefix;       // "" or "dir/sub/" (always ends with '/')
  std::string scheme;       // http | https
  std::string host;         // endpoint host (no port)
  int port = 0;             // 0: scheme default
  std::string region;
  bool path_style = true;
  std::string ca_bundle;
  int connections = 8;
  std::string profile;
  std::optional<std::chrono::system_clock::time_point> retain_until;
  std::optional<int> retention_days;
  bool compliance = false;
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t part_size = 16ull << 20;
  bool unsigned_payload = false;
  int max_attempts = 6;
  int timeout_s = 60;
  int list_max_keys = 1000;
  uint64_t max_object_bytes = 1ull << 30;
  bool create_bucket = false;
  std::string sts_endpoint;
  int clock_offset_s = 0;

  // "host[:port]" as sent in the Host header for requests to this bucket.
  std::string host_header() const;
  // Encoded URL path (with leading '/') of an object key (store prefix already applied), or of
  // the bucket itself when full_key is empty.
  std::string canonical_path(const std::string& full_key) const;
  // Complete URL: scheme://host[:port]/path[?query].
  std::string url(const std::string& full_key, const std::string& encoded_query) const;
  // "s3://bucket/prefix" without a trailing '/'.
  std::string location() const;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Throws Error(kUsage) for a malformed URL, an unknown s3.* key or a bad value.
S3Config parse_s3_config(const std::string& url, const std::map<std::string, std::string>& options,
                         const EnvLookup& env = {}, const std::string& home = {});

}  // namespace pvesafe::store::s3
