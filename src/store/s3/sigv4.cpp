#include "store/s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>

namespace pvesafe::store::s3 {

std::string hex_lower(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::string sha256_hex(std::span<const uint8_t> data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return hex_lower({md, len});
}

std::string sha256_hex(std::string_view data) {
  return sha256_hex(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

std::array<uint8_t, 32> hmac_sha256(std::span<const uint8_t> key, std::string_view data) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
  return out;
}

std::string base64(std::span<const uint8_t> data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string md5_base64(std::span<const uint8_t> data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  return base64({md, len});
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 15]);
    }
  }
  return out;
}

std::string amz_datetime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Trims leading/trailing whitespace and collapses inner runs of spaces to one.
std::string canonical_value(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string canonical_query(const Pairs& query) {
  Pairs enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

std::string canonical_request(const SigningRequest& r, std::string* signed_headers) {
  // Headers with the same name are joined with ',' in the order given.
  std::vector<std::pair<std::string, std::string>> hs;
  for (const auto& [name, value] : r.headers) {
    std::string n = lower(canonical_value(name));
    std::string v = canonical_value(value);
    auto it = std::find_if(hs.begin(), hs.end(), [&](const auto& p) { return p.first == n; });
    if (it != hs.end()) {
      it->second += "," + v;
    } else {
      hs.emplace_back(std::move(n), std::move(v));
    }
  }
  std::stable_sort(hs.begin(), hs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string headers_block, names;
  for (const auto& [n, v] : hs) {
    headers_block += n + ":" + v + "\n";
    if (!names.empty()) names.push_back(';');
    names += n;
  }
  if (signed_headers) *signed_headers = names;
  std::string out;
  out.reserve(256);
  out += r.method + "\n";
  out += (r.canonical_uri.empty() ? std::string("/") : r.canonical_uri) + "\n";
  out += canonical_query(r.query) + "\n";
  out += headers_block + "\n";
  out += names + "\n";
  out += r.payload_hash;
  return out;
}

namespace {
std::string scope_string(const SigningScope& s) {
  return s.amz_date.substr(0, 8) + "/" + s.region + "/" + s.service + "/aws4_request";
}
}  // namespace

std::string string_to_sign(const SigningScope& s, std::string_view creq) {
  return "AWS4-HMAC-SHA256\n" + s.amz_date + "\n" + scope_string(s) + "\n" + sha256_hex(creq);
}

std::string signature(const SigningScope& s, std::string_view sts) {
  std::string k = "AWS4" + s.secret_access_key;
  auto as_span = [](const std::string& str) {
    return std::span(reinterpret_cast<const uint8_t*>(str.data()), str.size());
  };
  auto k_date = hmac_sha256(as_span(k), s.amz_date.substr(0, 8));
  auto k_region = hmac_sha256(k_date, s.region);
  auto k_service = hmac_sha256(k_region, s.service);
  auto k_signing = hmac_sha256(k_service, "aws4_request");
  auto sig = hmac_sha256(k_signing, sts);
  std::fill(k.begin(), k.end(), '\0');
  return hex_lower(sig);
}

std::string authorization(const SigningRequest& r, const SigningScope& s) {
  std::string signed_headers;
  std::string creq = canonical_request(r, &signed_headers);
  std::string sig = signature(s, string_to_sign(s, creq));
  return "AWS4-HMAC-SHA256 Credential=" + s.access_key_id + "/" + scope_string(s) +
         ", SignedHeaders=" + signed_headers + ", Signature=" + sig;
}

}  // namespace pvesafe::store::s3
