#include "store/s3/s3_config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "store/s3/credentials.h"
#include "store/s3/sigv4.h"

namespace pvesafe::store::s3 {

namespace {

bool parse_bool(const std::string& key, const std::string& v) {
  std::string l = v;
  std::transform(l.begin(), l.end(), l.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (l == "true" || l == "1" || l == "yes" || l == "on") return true;
  if (l == "false" || l == "0" || l == "no" || l == "off") return false;
  throw Error(Errc::kUsage, "store option " + key + "=" + v + " is not a boolean",
              "use true or false");
}

uint64_t parse_size(const std::string& key, const std::string& v) {
  size_t pos = 0;
  uint64_t n = 0;
  try {
    n = std::stoull(v, &pos);
  } catch (...) {
    throw Error(Errc::kUsage, "store option " + key + "=" + v + " is not a size",
                "use bytes, optionally with K, M or G (e.g. 16M)");
  }
  std::string unit = v.substr(pos);
  if (unit == "K" || unit == "KiB" || unit == "k") n <<= 10;
  else if (unit == "M" || unit == "MiB") n <<= 20;
  else if (unit == "G" || unit == "GiB") n <<= 30;
  else if (!unit.empty()) {
    throw Error(Errc::kUsage, "store option " + key + "=" + v + " has an unknown unit",
                "use bytes, optionally with K, M or G (e.g. 16M)");
  }
  return n;
}

int parse_int(const std::string& key, const std::string& v, int lo, int hi) {
  size_t pos = 0;
  long n = 0;
  try {
    n = std::stol(v, &pos);
  } catch (...) {
    pos = 0;
  }
  if (pos != v.size() || v.empty() || n < lo || n > hi) {
    throw Error(Errc::kUsage, "store option " + key + "=" + v + " is out of range",
                "use a whole number from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  return static_cast<int>(n);
}

bool valid_bucket(const std::string& b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
          c == '-' || c == '.' || c == '_')) {
      return false;
    }
  }
  return true;
}

const std::set<std::string> kKnownKeys = {"s3.endpoint",       "s3.region",
                                          "s3.path-style",     "s3.ca-bundle",
                                          "s3.connections",    "s3.profile",
                                          "s3.retention-days", "s3.retain-until",
                                          "s3.lock-mode",      "s3.multipart-threshold",
                                          "s3.part-size",      "s3.unsigned-payload",
                                          "s3.max-attempts",   "s3.timeout",
                                          "s3.list-max-keys",  "s3.create-bucket",
                                          "s3.sts-endpoint",   "s3.clock-offset-seconds",
                                          "s3.max-object-size"};

}  // namespace

std::string S3Config::host_header() const {
  std::string h = path_style ? host : bucket + "." + host;
  if (port != 0 && !((scheme == "https" && port == 443) || (scheme == "http" && port == 80))) {
    h += ":" + std::to_string(port);
  }
  return h;
}

std::string S3Config::canonical_path(const std::string& full_key) const {
  std::string path = path_style ? "/" + uri_encode(bucket, false) : std::string();
  if (!full_key.empty()) {
    path += "/" + uri_encode(full_key, true);
  } else if (!path_style) {
    path = "/";
  }
  return path;
}

std::string S3Config::url(const std::string& full_key, const std::string& encoded_query) const {
  std::string u = scheme + "://" + host_header() + canonical_path(full_key);
  if (!encoded_query.empty()) u += "?" + encoded_query;
  return u;
}

std::string S3Config::location() const {
  std::string p = prefix;
  if (!p.empty() && p.back() == '/') p.pop_back();
  return "s3://" + bucket + (p.empty() ? "" : "/" + p);
}

S3Config parse_s3_config(const std::string& url, const std::map<std::string, std::string>& options,
                         const EnvLookup& env_in, const std::string& home_in) {
  EnvLookup env = env_in;
  if (!env) {
    env = [](const std::string& n) -> std::optional<std::string> {
      const char* v = std::getenv(n.c_str());
      if (!v || !*v) return std::nullopt;
      return std::string(v);
    };
  }
  auto envs = [&](const char* n) { return env(n).value_or(""); };
  auto opt = [&](const char* k) -> std::optional<std::string> {
    auto it = options.find(k);
    if (it == options.end()) return std::nullopt;
    return it->second;
  };
  for (const auto& [k, v] : options) {
    if (k.starts_with("s3.") && !kKnownKeys.count(k)) {
      throw Error(Errc::kUsage, "unknown store option " + k, "see docs/s3.md for the s3.* settings");
    }
  }

  S3Config c;
  if (!url.starts_with("s3://")) {
    throw Error(Errc::kUsage, "not an S3 location: " + url, "use s3://BUCKET/PREFIX");
  }
  std::string rest = url.substr(5);
  auto slash = rest.find('/');
  c.bucket = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
  while (prefix.ends_with("/")) prefix.pop_back();
  while (prefix.starts_with("/")) prefix.erase(0, 1);
  c.prefix = prefix.empty() ? std::string() : prefix + "/";
  if (!valid_bucket(c.bucket)) {
    throw Error(Errc::kUsage, "invalid S3 bucket name '" + c.bucket + "' in " + url,
                "bucket names have 3 to 63 lower-case letters, digits, '.' or '-'");
  }

  c.profile = opt("s3.profile").value_or(envs("AWS_PROFILE"));

  // Region: option, environment, the profile in ~/.aws/config, us-east-1.
  c.region = opt("s3.region").value_or(envs("AWS_REGION"));
  if (c.region.empty()) c.region = envs("AWS_DEFAULT_REGION");
  if (c.region.empty()) {
    std::string config_path = envs("AWS_CONFIG_FILE");
    std::string home = home_in.empty() ? envs("HOME") : home_in;
    if (config_path.empty() && !home.empty()) config_path = home + "/.aws/config";
    std::ifstream f(config_path);
    if (f) {
      std::stringstream ss;
      ss << f.rdbuf();
      IniFile ini = parse_aws_ini(ss.str(), true);
      auto it = ini.find(c.profile.empty() ? "default" : c.profile);
      if (it != ini.end() && it->second.count("region")) c.region = it->second.at("region");
    }
  }
  if (c.region.empty()) c.region = "us-east-1";

  std::string endpoint = opt("s3.endpoint").value_or(envs("AWS_ENDPOINT_URL_S3"));
  if (endpoint.empty()) endpoint = envs("AWS_ENDPOINT_URL");
  bool aws = endpoint.empty();
  if (endpoint.empty()) endpoint = "https://s3." + c.region + ".amazonaws.com";
  if (endpoint.find("://") == std::string::npos) endpoint = "https://" + endpoint;
  auto sep = endpoint.find("://");
  c.scheme = endpoint.substr(0, sep);
  std::transform(c.scheme.begin(), c.scheme.end(), c.scheme.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (c.scheme != "http" && c.scheme != "https") {
    throw Error(Errc::kUsage, "s3.endpoint " + endpoint + " is neither http:// nor https://");
  }
  std::string hostport = endpoint.substr(sep + 3);
  if (auto p = hostport.find('/'); p != std::string::npos) {
    if (hostport.substr(p) != "/") {
      throw Error(Errc::kUsage, "s3.endpoint " + endpoint + " must not have a path",
                  "give scheme://host[:port]; the bucket goes in the s3:// location");
    }
    hostport.resize(p);
  }
  if (auto colon = hostport.rfind(':');
      colon != std::string::npos && hostport.find(']') == std::string::npos) {
    c.host = hostport.substr(0, colon);
    c.port = parse_int("s3.endpoint port", hostport.substr(colon + 1), 1, 65535);
  } else {
    c.host = hostport;
  }
  if (c.host.empty()) throw Error(Errc::kUsage, "s3.endpoint " + endpoint + " has no host");
  aws = aws || c.host.ends_with(".amazonaws.com");

  if (auto v = opt("s3.path-style")) {
    c.path_style = parse_bool("s3.path-style", *v);
  } else {
    c.path_style = !(aws && c.bucket.find('.') == std::string::npos);
  }
  if (!c.path_style && c.bucket.find('.') != std::string::npos && c.scheme == "https") {
    throw Error(Errc::kUsage, "bucket " + c.bucket + " has dots, which break TLS with "
                              "virtual-hosted addressing",
                "use -o s3.path-style=true");
  }
  c.ca_bundle = opt("s3.ca-bundle").value_or(envs("AWS_CA_BUNDLE"));
  if (!c.ca_bundle.empty() && !std::ifstream(c.ca_bundle)) {
    throw Error(Errc::kConfig, "s3.ca-bundle " + c.ca_bundle + " cannot be read",
                "give a readable PEM file");
  }
  if (auto v = opt("s3.connections")) c.connections = parse_int("s3.connections", *v, 1, 256);
  if (auto v = opt("s3.retention-days")) {
    c.retention_days = parse_int("s3.retention-days", *v, 1, 36500);
  }
  if (auto v = opt("s3.retain-until")) {
    c.retain_until = parse_iso8601(*v);
    if (!c.retain_until) {
      throw Error(Errc::kUsage, "s3.retain-until=" + *v + " is not a date",
                  "use ISO 8601 UTC, e.g. 2027-01-31T00:00:00Z");
    }
  }
  if (auto v = opt("s3.lock-mode")) {
    std::string m = *v;
    std::transform(m.begin(), m.end(), m.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (m == "compliance") c.compliance = true;
    else if (m != "governance") {
      throw Error(Errc::kUsage, "s3.lock-mode=" + *v + " is not a lock mode",
                  "use governance or compliance");
    }
  }
  if (auto v = opt("s3.multipart-threshold")) {
    c.multipart_threshold = parse_size("s3.multipart-threshold", *v);
  }
  if (auto v = opt("s3.part-size")) c.part_size = parse_size("s3.part-size", *v);
  if (c.part_size < (5ull << 20) || c.part_size > (5ull << 30)) {
    throw Error(Errc::kUsage, "s3.part-size must be between 5 MiB and 5 GiB");
  }
  if (c.multipart_threshold < c.part_size) c.multipart_threshold = c.part_size;
  // Over HTTPS the body is not hashed into the signature by default (as the AWS CLI does): TLS
  // protects it in transit, and every object is an OpenPGP message with its own integrity check.
  c.unsigned_payload = c.scheme == "https";
  if (auto v = opt("s3.unsigned-payload")) {
    c.unsigned_payload = parse_bool("s3.unsigned-payload", *v);
    if (c.unsigned_payload && c.scheme != "https") {
      throw Error(Errc::kUsage, "s3.unsigned-payload needs an https:// endpoint",
                  "over plain HTTP the payload hash is what protects the data");
    }
  }
  if (auto v = opt("s3.max-attempts")) c.max_attempts = parse_int("s3.max-attempts", *v, 1, 100);
  if (auto v = opt("s3.timeout")) c.timeout_s = parse_int("s3.timeout", *v, 1, 3600);
  if (auto v = opt("s3.list-max-keys")) c.list_max_keys = parse_int("s3.list-max-keys", *v, 1, 1000);
  if (auto v = opt("s3.max-object-size")) {
    c.max_object_bytes = parse_size("s3.max-object-size", *v);
    if (c.max_object_bytes < (1ull << 20)) {
      throw Error(Errc::kUsage, "s3.max-object-size must be at least 1M",
                  "it bounds every object the repository reads whole (chunks, manifests)");
    }
  }
  if (auto v = opt("s3.create-bucket")) c.create_bucket = parse_bool("s3.create-bucket", *v);
  c.sts_endpoint = opt("s3.sts-endpoint").value_or("");
  if (auto v = opt("s3.clock-offset-seconds")) {
    c.clock_offset_s = parse_int("s3.clock-offset-seconds", *v, -864000, 864000);
  }
  return c;
}

}  // namespace pvesafe::store::s3
