// AWS Signature Version 4 (header form): canonical request, string to sign, signing key and the
// Authorization header. Pure functions, no I/O, so the AWS test-suite vectors can check them.
//
// The caller passes the canonical URI already encoded (S3 encodes each key segment once and
// keeps '/'), the query as raw name/value pairs (encoded and sorted here) and the headers to
// sign (names are lowercased, values trimmed and inner whitespace runs collapsed here).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pvesafe::store::s3 {

using Pairs = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string hex_lower(std::span<const uint8_t> bytes);
std::string sha256_hex(std::span<const uint8_t> data);
std::string sha256_hex(std::string_view data);
std::array<uint8_t, 32> hmac_sha256(std::span<const uint8_t> key, std::string_view data);
std::string md5_base64(std::span<const uint8_t> data);
std::string base64(std::span<const uint8_t> data);

// RFC 3986 unreserved characters pass; everything else becomes %XX (upper case). '/' is kept
// when keep_slash is true (S3 object key paths).
std::string uri_encode(std::string_view s, bool keep_slash);

// "20150830T123600Z" and "20150830" for a point in time (UTC).
std::string amz_datetime(std::chrono::system_clock::time_point t);

struct SigningRequest {
  std::string method;         // GET, PUT, ...
  std::string canonical_uri;  // already encoded, starts with '/'
  Pairs query;                // raw (not encoded) name/value pairs, any order
  Pairs headers;              // headers to sign, any case/order; must include host and x-amz-date
  std::string payload_hash;   // hex SHA-256 of the body, or UNSIGNED-PAYLOAD
};

struct SigningScope {
  std::string access_key_id;
  std::string secret_access_key;
  std::string region;
  std::string service;      // "s3", "sts", ...
  std::string amz_date;     // yyyymmddThhmmssZ, same as the x-amz-date header
};

// Canonical query string: names and values encoded, sorted by name then value.
std::string canonical_query(const Pairs& query);
// Returns the canonical request; signed_headers receives "host;x-amz-date;...".
std::string canonical_request(const SigningRequest& r, std::string* signed_headers);
std::string string_to_sign(const SigningScope& s, std::string_view canonical_request);
std::string signature(const SigningScope& s, std::string_view string_to_sign);
// The complete Authorization header value.
std::string authorization(const SigningRequest& r, const SigningScope& s);

}  // namespace pvesafe::store::s3
