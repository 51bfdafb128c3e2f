#include "store/s3/s3_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <set>
#include <thread>

#include "core/error.h"
#include "store/s3/sigv4.h"
#include "store/s3/xml.h"

namespace pvesafe::store {

std::unique_ptr<ObjectStore> make_s3_store(const std::string& url, const StoreOptions& options) {
  s3::S3Config config = s3::parse_s3_config(url, options.values);
  s3::CredentialContext ctx;
  ctx.profile = config.profile;
  ctx.region = config.region;
  ctx.sts_endpoint = config.sts_endpoint;
  ctx.ca_bundle = config.ca_bundle;
  auto store = std::make_unique<s3::S3Store>(config, s3::default_credential_chain(ctx));
  RetryPolicy policy;
  policy.max_attempts = config.max_attempts;
  if (config.create_bucket) {
    bool lock = config.retention_days.has_value() || config.retain_until.has_value();
    retry_call(policy, "create bucket " + config.bucket, [&] { store->ensure_bucket(lock); });
  }
  return std::make_unique<RetryStore>(std::move(store), policy);
}

}  // namespace pvesafe::store

namespace pvesafe::store::s3 {

using Clock = std::chrono::system_clock;

namespace {

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string iso8601_millis(Clock::time_point t) {
  std::string s = format_iso8601(t);  // ...Z
  s.insert(s.size() - 1, ".000");
  return s;
}

// RFC 1123 date of the HTTP Date header.
std::optional<Clock::time_point> parse_http_date(const std::string& s) {
  std::tm tm{};
  if (!strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) return std::nullopt;
  if (tm.tm_year < 0 || tm.tm_year > 300) return std::nullopt;  // a time_point ends in 2262
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return Clock::from_time_t(t);
}

// Plain HTTP outside this machine: the access key id, request signatures, session tokens and
// object names cross the network readable by anyone on the path. Said once per endpoint.
void warn_plain_http(const S3Config& c) {
  if (c.scheme != "http") return;
  const std::string& h = c.host;
  bool loopback = h == "localhost" || h == "::1" || h == "[::1]" || h.starts_with("127.");
  if (loopback) return;
  static std::mutex mu;
  static std::set<std::string> warned;
  const std::string endpoint = "http://" + c.host_header();
  std::lock_guard g(mu);
  if (!warned.insert(endpoint).second) return;
  spdlog::warn(
      "s3: endpoint {} is plain HTTP: access key id, request signatures, session tokens and "
      "object names travel unencrypted (object contents are OpenPGP-encrypted); use https:// "
      "unless the endpoint is on this machine",
      endpoint);
}

}  // namespace

std::optional<long> clock_skew_seconds(const HttpResponse& resp, Clock::time_point local_now) {
  std::optional<Clock::time_point> server;
  std::string date = resp.header("date");
  if (!date.empty()) server = parse_http_date(date);
  if (!server && !resp.body.empty()) {
    try {
      auto doc = parse_xml(resp.body_text(), "error");
      server = parse_iso8601(doc->child_text("ServerTime"));
    } catch (const Error&) {
    }
  }
  if (!server) return std::nullopt;
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::seconds>(local_now - *server).count());
}

S3Store::S3Store(S3Config config, std::shared_ptr<CredentialProvider> credentials)
    : config_(std::move(config)),
      credentials_(std::move(credentials)),
      http_(HttpOptions{config_.ca_bundle, config_.connections, 10000, config_.timeout_s}) {
  part_policy_.max_attempts = config_.max_attempts;
  warn_plain_http(config_);
}

Clock::time_point S3Store::now() const {
  return Clock::now() + std::chrono::seconds(config_.clock_offset_s);
}

RequestCounts S3Store::requests() const {
  return {puts_.load(),    gets_.load(), heads_.load(),   lists_.load(),
          deletes_.load(), sent_.load(), received_.load()};
}

std::string S3Store::object_url_text(const std::string& key) const {
  return config_.location() + (key.empty() ? "" : "/" + key);
}

HttpResponse S3Store::send(const std::string& method, const std::string& fkey, const Pairs& query,
                           Pairs headers, std::span<const uint8_t> body, const Target& target,
                           uint64_t max_body, bool truncate) {
  for (int attempt = 0;; ++attempt) {
    Credentials creds = credentials_->get();
    std::string date = amz_datetime(now());
    std::string payload =
        config_.unsigned_payload ? std::string(kUnsignedPayload) : sha256_hex(body);
    Pairs h = headers;
    h.emplace_back("Host", config_.host_header());
    h.emplace_back("x-amz-date", date);
    h.emplace_back("x-amz-content-sha256", payload);
    if (!creds.session_token.empty()) h.emplace_back("x-amz-security-token", creds.session_token);
    SigningRequest sr{method, config_.canonical_path(fkey), query, h, payload};
    SigningScope scope{creds.access_key_id, creds.secret_access_key, config_.region, "s3", date};
    h.emplace_back("Authorization", authorization(sr, scope));

    HttpRequest req{
        method, config_.url(fkey, canonical_query(query)), std::move(h), body, max_body, truncate};
    HttpResponse resp;
    // Every attempt is a request the provider bills.
    auto has = [&](const char* q) {
      return std::any_of(query.begin(), query.end(), [&](const auto& kv) { return kv.first == q; });
    };
    if (method == "GET")
      (fkey.empty() && (has("list-type") || has("versions")) ? lists_ : gets_).fetch_add(1);
    else if (method == "HEAD")
      heads_.fetch_add(1);
    else if (method == "DELETE" || (method == "POST" && has("delete")))
      deletes_.fetch_add(1);
    else
      puts_.fetch_add(1);
    sent_.fetch_add(body.size());
    try {
      resp = http_.perform(req);
      received_.fetch_add(resp.body.size());
    } catch (const TransportError& e) {
      std::string what = method + " " + object_url_text(target.key);
      switch (e.kind()) {
        case TransportError::Kind::kTls:
          throw Error(
              Errc::kConfig,
              "TLS verification of S3 endpoint " + e.host() + " failed (" + e.detail() + ")",
              "if the endpoint uses a private CA, give its certificate with -o "
              "s3.ca-bundle=FILE (or AWS_CA_BUNDLE); check that s3.endpoint names the "
              "host in the certificate");
        case TransportError::Kind::kConnect:
          throw Error(Errc::kTransient,
                      "cannot reach S3 endpoint " + e.host() + " (" + e.detail() + ")",
                      "check s3.endpoint and the network");
        case TransportError::Kind::kTooLarge:
          throw Error(Errc::kRemote, what + " refused: " + e.detail(),
                      method == "GET" && target.action == "s3:GetObject"
                          ? "check that s3.endpoint points at an S3 service; objects larger than "
                            "s3.max-object-size need a larger setting"
                          : "check that s3.endpoint points at an S3 service");
        default:
          throw Error(Errc::kTransient,
                      what + ": connection to " + e.host() + " failed (" + e.detail() + ")",
                      "check the network and s3.endpoint");
      }
    }
    // Temporary credentials that expired under us: refresh once and send again.
    if (attempt == 0 && (resp.status == 400 || resp.status == 403) &&
        !creds.session_token.empty() && !resp.body.empty()) {
      std::string text = resp.body_text();
      if (text.find("<Code>ExpiredToken</Code>") != std::string::npos ||
          text.find("<Code>TokenRefreshRequired</Code>") != std::string::npos) {
        spdlog::debug("s3: session token expired, refreshing credentials");
        credentials_->invalidate();
        continue;
      }
    }
    return resp;
  }
}

void S3Store::fail(const HttpResponse& resp, const Target& target, const std::string& method) {
  std::string code, message, region;
  if (!resp.body.empty()) {
    try {
      auto doc = parse_xml(resp.body_text(), "S3 error response");
      const XmlNode* err = doc->find("Error");
      if (!err) err = doc.get();
      code = err->child_text("Code");
      message = err->child_text("Message");
      region = err->child_text("Region");
    } catch (const Error&) {
      // Not XML (a proxy's HTML page, a truncated body): the status decides.
    }
  }
  if (region.empty()) region = resp.header("x-amz-bucket-region");
  std::string akid;
  try {
    akid = credentials_->get().access_key_id;
  } catch (const Error&) {
  }
  const std::string obj = object_url_text(target.key);
  const std::string endpoint = config_.scheme + "://" + config_.host_header();
  const std::string status = "HTTP " + std::to_string(resp.status);
  const std::string detail =
      status + (code.empty() ? "" : " " + code) + (message.empty() ? "" : ": " + message);

  if (code == "InvalidAccessKeyId") {
    throw Error(Errc::kAuth,
                "S3 at " + endpoint + " does not know access key " + akid + " (InvalidAccessKeyId)",
                "check AWS_ACCESS_KEY_ID or the profile's aws_access_key_id");
  }
  if (code == "SignatureDoesNotMatch") {
    throw Error(Errc::kAuth,
                "S3 at " + endpoint + " rejected the signature of access key " + akid +
                    ": the secret key does not match (SignatureDoesNotMatch)",
                "check AWS_SECRET_ACCESS_KEY or the profile's aws_secret_access_key");
  }
  if (code == "RequestTimeTooSkewed" || code == "RequestExpired") {
    auto skew = clock_skew_seconds(resp, now());
    throw Error(Errc::kConfig,
                "S3 refused the request: this machine's clock differs from the server's by " +
                    (skew ? std::to_string(std::labs(*skew)) : std::string("more than 900")) +
                    " s (" + code + ")",
                "sync time (chrony)");
  }
  if (code == "ExpiredToken" || code == "TokenRefreshRequired") {
    throw Error(Errc::kAuth,
                "the session token of access key " + akid + " has expired (" + code + ")",
                "renew the temporary credentials (AWS_SESSION_TOKEN) or use a profile or role "
                "that refreshes them");
  }
  if (code == "InvalidToken") {
    throw Error(Errc::kAuth,
                "S3 rejected the session token of access key " + akid + " (InvalidToken)",
                "check AWS_SESSION_TOKEN");
  }
  if (code == "AccessDenied" || code == "AllAccessDisabled" ||
      (code.empty() && resp.status == 403)) {
    throw Error(Errc::kAuth,
                "access denied: " + target.action + " on " + obj + " for access key " + akid +
                    " (" + detail + ")",
                "grant " + target.action +
                    " in the bucket or IAM policy (pvesafe iam-policy "
                    "prints a least-privilege one)");
  }
  if (code == "NoSuchBucket") {
    throw Error(Errc::kNotFound,
                "bucket " + config_.bucket + " does not exist at " + endpoint + " (NoSuchBucket)",
                "create it (aws s3 mb s3://" + config_.bucket +
                    ", or -o s3.create-bucket=true) "
                    "or check s3.endpoint and s3.region");
  }
  if (code == "NoSuchKey" || (code.empty() && resp.status == 404)) {
    throw Error(Errc::kNotFound, "object " + obj + " does not exist");
  }
  if (code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
      code == "IllegalLocationConstraintException" || resp.status == 301) {
    throw Error(
        Errc::kConfig,
        "bucket " + config_.bucket + " is not in region " + config_.region +
            (region.empty() ? "" : " but in " + region) + " (" + detail + ")",
        region.empty() ? "set -o s3.region=REGION of the bucket" : "set -o s3.region=" + region);
  }
  if (code == "NotImplemented" || resp.status == 501) {
    throw Error(Errc::kUnsupported, "the S3 service at " + endpoint + " does not support " +
                                        method + " " + obj + " (" + detail + ")");
  }
  if (resp.status >= 500 || code == "SlowDown" || code == "RequestTimeout" ||
      code == "InternalError" || code == "ServiceUnavailable" || resp.status == 429) {
    throw Error(Errc::kTransient, method + " " + obj + " failed: " + detail,
                "the S3 service is failing or overloaded; try again later");
  }
  throw Error(Errc::kRemote, method + " " + obj + " refused: " + detail);
}

std::optional<Clock::time_point> S3Store::retention_for(const std::string& key,
                                                        const PutOptions& o) const {
  if (o.retain_until) return o.retain_until;
  // Lock objects and gc's record are rewritten in place: the store-wide default never pins them.
  if (key.starts_with("locks/") || key.starts_with("gc/")) return std::nullopt;
  if (config_.retain_until) return config_.retain_until;
  if (config_.retention_days) {
    const auto period = retention_day() * *config_.retention_days;
    return Clock::now() + period + margin_for(period);
  }
  return std::nullopt;
}

std::chrono::seconds S3Store::margin_for(std::chrono::seconds period) const {
  if (config_.retention_margin_days) return retention_day() * *config_.retention_margin_days;
  return std::max(retention_day(), retention_day() * ((period / retention_day() + 9) / 10));
}

void S3Store::put(const std::string& key, std::span<const uint8_t> data, const PutOptions& o) {
  if (data.size() > config_.multipart_threshold) {
    put_multipart(key, data, o);
  } else {
    put_single(key, data, o);
  }
}

namespace {
void add_retention(Pairs& h, std::optional<Clock::time_point> until, bool compliance,
                   std::span<const uint8_t> body, bool with_md5) {
  if (!until) return;
  h.emplace_back("x-amz-object-lock-mode", compliance ? "COMPLIANCE" : "GOVERNANCE");
  h.emplace_back("x-amz-object-lock-retain-until-date", iso8601_millis(*until));
  if (with_md5) h.emplace_back("Content-MD5", md5_base64(body));
}
}  // namespace

void S3Store::put_single(const std::string& key, std::span<const uint8_t> data,
                         const PutOptions& o) {
  Pairs h{{"Content-Type", "application/octet-stream"}};
  auto until = retention_for(key, o);
  add_retention(h, until, o.compliance_mode || config_.compliance, data, true);
  Target t{"s3:PutObject", key};
  HttpResponse r = send("PUT", full_key(key), {}, h, data, t);
  if (r.status == 400 && until) refuse_retention_without_lock();
  if (r.status != 200) fail(r, t, "PUT");
}

void S3Store::put_multipart(const std::string& key, std::span<const uint8_t> data,
                            const PutOptions& o) {
  const std::string fk = full_key(key);
  Target t{"s3:PutObject", key};
  Pairs h{{"Content-Type", "application/octet-stream"}};
  auto until = retention_for(key, o);
  add_retention(h, until, o.compliance_mode || config_.compliance, {}, false);
  HttpResponse r = send("POST", fk, {{"uploads", ""}}, h, {}, t);
  if (r.status == 400 && until) refuse_retention_without_lock();
  if (r.status != 200) fail(r, t, "POST (CreateMultipartUpload)");
  std::string upload_id = parse_xml(r.body_text(), "CreateMultipartUpload")->child_text("UploadId");
  if (upload_id.empty()) {
    throw Error(Errc::kRemote,
                "CreateMultipartUpload for " + object_url_text(key) + " returned no UploadId");
  }
  multipart_uploads_.fetch_add(1);

  const uint64_t part = config_.part_size;
  const size_t nparts = static_cast<size_t>((data.size() + part - 1) / part);
  std::vector<std::string> etags(nparts);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex err_mu;
  std::optional<Error> first_error;
  auto worker = [&] {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= nparts || failed.load()) return;
      auto chunk = data.subspan(i * part, std::min<uint64_t>(part, data.size() - i * part));
      try {
        retry_call(part_policy_, "PUT part " + std::to_string(i + 1) + " of " + key, [&] {
          Pairs ph;
          if (until) ph.emplace_back("Content-MD5", md5_base64(chunk));
          HttpResponse pr =
              send("PUT", fk, {{"partNumber", std::to_string(i + 1)}, {"uploadId", upload_id}}, ph,
                   chunk, t);
          if (pr.status != 200) fail(pr, t, "PUT (UploadPart)");
          etags[i] = pr.header("etag");
        });
      } catch (const Error& e) {
        std::lock_guard g(err_mu);
        if (!first_error) first_error = e;
        failed = true;
        return;
      }
    }
  };
  size_t nthreads = std::min<size_t>(nparts, static_cast<size_t>(std::max(1, config_.connections)));
  std::vector<std::thread> threads;
  for (size_t i = 1; i < nthreads; ++i) threads.emplace_back(worker);
  worker();
  for (auto& th : threads) th.join();

  auto abort_upload = [&] {
    multipart_aborts_.fetch_add(1);
    try {
      HttpResponse ar = send("DELETE", fk, {{"uploadId", upload_id}}, {}, {}, t);
      if (ar.status != 204 && ar.status != 200 && ar.status != 404) {
        spdlog::warn("s3: aborting multipart upload of {} answered HTTP {}", object_url_text(key),
                     ar.status);
      }
    } catch (const Error& e) {
      spdlog::warn("s3: aborting multipart upload of {} failed: {}", object_url_text(key),
                   e.message());
    }
  };
  if (first_error) {
    abort_upload();
    throw *first_error;
  }

  std::string body = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < nparts; ++i) {
    body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
            xml_escape(etags[i]) + "</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  try {
    bool retried = false;
    retry_call(part_policy_, "complete multipart upload of " + key, [&] {
      HttpResponse cr = send("POST", fk, {{"uploadId", upload_id}},
                             {{"Content-Type", "application/xml"}}, as_bytes(body), t);
      std::string text = cr.body_text();
      if (cr.status == 404 && retried && text.find("NoSuchUpload") != std::string::npos) {
        // An earlier attempt completed the upload but its answer was lost.
        auto info = stat(key);
        if (info && info->size_bytes == data.size()) return;
      }
      retried = true;
      if (cr.status != 200) fail(cr, t, "POST (CompleteMultipartUpload)");
      // CompleteMultipartUpload can fail with 200 and an <Error> body.
      if (text.find("<Error>") != std::string::npos) {
        auto doc = parse_xml(text, "CompleteMultipartUpload");
        const XmlNode* err = doc->find("Error");
        std::string code = err ? err->child_text("Code") : "";
        throw Error(
            code == "InternalError" || code == "SlowDown" ? Errc::kTransient : Errc::kRemote,
            "completing the multipart upload of " + object_url_text(key) + " failed: " + code +
                " " + (err ? err->child_text("Message") : ""));
      }
    });
  } catch (const Error&) {
    abort_upload();
    throw;
  }
}

std::vector<uint8_t> S3Store::get(const std::string& key) {
  Pairs q = version_query(key);
  Target t{q.empty() ? "s3:GetObject" : "s3:GetObjectVersion", key};
  HttpResponse r = send("GET", full_key(key), q, {}, {}, t, config_.max_object_bytes);
  if (r.status != 200) fail(r, t, "GET");
  return std::move(r.body);
}

std::vector<uint8_t> S3Store::get_range(const std::string& key, uint64_t offset, uint64_t length) {
  if (length == 0) return {};
  length = std::min(length, UINT64_MAX - offset);
  Pairs q = version_query(key);
  Target t{q.empty() ? "s3:GetObject" : "s3:GetObjectVersion", key};
  Pairs h{{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)}};
  // At most what was asked; a server that ignores the range answers from the object's start, so
  // up to offset + length of that is read, and no more.
  HttpResponse r = send("GET", full_key(key), q, h, {}, t, offset + length, true);
  if (r.status == 206) {
    if (r.body.size() > length) {
      throw Error(Errc::kRemote,
                  "GET " + object_url_text(key) + " (bytes " + std::to_string(offset) + "-" +
                      std::to_string(offset + length - 1) + ") returned more than the " +
                      std::to_string(length) + " bytes asked for",
                  "check that s3.endpoint points at an S3 service");
    }
    return std::move(r.body);
  }
  if (r.status == 416) return {};
  if (r.status == 200) {  // the server ignored the range
    if (offset >= r.body.size()) return {};
    auto end = std::min<uint64_t>(r.body.size(), offset + length);
    return {r.body.begin() + static_cast<ptrdiff_t>(offset),
            r.body.begin() + static_cast<ptrdiff_t>(end)};
  }
  fail(r, t, "GET");
}

std::optional<ObjectInfo> S3Store::stat(const std::string& key) {
  Target t{"s3:GetObject", key};
  HttpResponse r = send("HEAD", full_key(key), {}, {}, {}, t);
  if (r.status == 404) return std::nullopt;
  if (r.status == 403 && !key_listed(key)) {
    // S3 answers a HEAD of a missing key with 403 unless s3:ListBucket is granted without a
    // condition, which least-privilege policies (`pvesafe iam-policy`) grant only under the
    // repository's prefix. A listing of the key itself, which those policies allow, tells a
    // missing object from a refused one; a refused listing keeps the HEAD's 403.
    return std::nullopt;
  }
  if (r.status != 200) fail(r, t, "HEAD");
  ObjectInfo info;
  info.key = key;
  try {
    info.size_bytes = std::stoull(r.header("content-length"));
  } catch (...) {
    throw Error(Errc::kRemote, "HEAD " + object_url_text(key) + " returned no Content-Length");
  }
  return info;
}

bool S3Store::key_listed(const std::string& key) {
  Target t{"s3:ListBucket", key};
  const std::string full = full_key(key);
  HttpResponse r =
      send("GET", "", {{"list-type", "2"}, {"prefix", full}, {"max-keys", "1"}}, {}, {}, t);
  if (r.status == 403) return true;  // refused: the caller reports the HEAD's 403
  if (r.status != 200) fail(r, t, "GET (ListObjectsV2)");
  auto doc = parse_xml(r.body_text(), "ListObjectsV2");
  for (const XmlNode* c : doc->children_named("Contents")) {
    if (c->child_text("Key") == full) return true;
  }
  return false;
}

void S3Store::list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) {
  if (read_original()) {
    // Versions of one key come together, newest first: report each key once, after its last
    // (oldest) version, unless its newest entry is a delete marker (the object was removed).
    std::vector<VersionEntry> group;
    auto flush = [&] {
      if (group.empty()) return;
      if (!group.front().delete_marker) {
        remember_versions(group.front().key, group);
        const VersionEntry* read = &group.front();
        if (write_once(group.front().key)) {
          for (const auto& v : group) {
            if (!v.delete_marker) read = &v;
          }
        }
        fn(ObjectInfo{read->key, read->size});
      }
      group.clear();
    };
    list_versions(prefix, [&](const VersionEntry& v) {
      if (!group.empty() && group.front().key != v.key) flush();
      group.push_back(v);
    });
    flush();
    return;
  }
  Target t{"s3:ListBucket", prefix};
  std::string token;
  const std::string full_prefix = config_.prefix + prefix;
  for (;;) {
    Pairs q{{"list-type", "2"},
            {"prefix", full_prefix},
            {"max-keys", std::to_string(config_.list_max_keys)}};
    if (!token.empty()) q.emplace_back("continuation-token", token);
    HttpResponse r = send("GET", "", q, {}, {}, t);
    if (r.status != 200) fail(r, t, "GET (ListObjectsV2)");
    auto doc = parse_xml(r.body_text(), "ListObjectsV2");
    for (const XmlNode* c : doc->children_named("Contents")) {
      std::string k = c->child_text("Key");
      if (!k.starts_with(config_.prefix)) continue;
      ObjectInfo info;
      info.key = k.substr(config_.prefix.size());
      try {
        info.size_bytes = std::stoull(c->child_text("Size"));
      } catch (...) {
        info.size_bytes = 0;
      }
      fn(info);
    }
    if (doc->child_text("IsTruncated") != "true") return;
    token = doc->child_text("NextContinuationToken");
    if (token.empty()) {
      throw Error(Errc::kRemote, "ListObjectsV2 of " + object_url_text(prefix) +
                                     " is truncated but has no continuation token");
    }
  }
}

bool S3Store::object_lock_enabled() {
  std::lock_guard g(lock_mu_);
  if (object_lock_) return *object_lock_;
  Target t{"s3:GetBucketObjectLockConfiguration", ""};
  HttpResponse r = send("GET", "", {{"object-lock", ""}}, {}, {}, t);
  if (r.status == 200) {
    auto doc = parse_xml(r.body_text(), "GetObjectLockConfiguration");
    object_lock_ = doc->child_text("ObjectLockEnabled") == "Enabled";
    if (const XmlNode* d = doc->find("DefaultRetention")) {
      RetentionRule rule;
      rule.compliance = d->child_text("Mode") == "COMPLIANCE";
      rule.from_bucket = true;
      try {
        if (!d->child_text("Days").empty())
          rule.period = retention_day() * std::stol(d->child_text("Days"));
        if (!d->child_text("Years").empty())
          rule.period = retention_day() * 365 * std::stol(d->child_text("Years"));
      } catch (const std::exception&) {
        rule.period = std::chrono::seconds(0);
      }
      if (rule.period.count() > 0) {
        rule.margin = margin_for(rule.period);
        bucket_rule_ = rule;
      }
    }
  } else if (r.status == 404 || r.status == 403 || r.status == 400 || r.status == 501) {
    std::string text = r.body_text();
    if (text.find("NoSuchBucket") != std::string::npos) fail(r, t, "GET");
    if (r.status == 403) {
      spdlog::debug("s3: cannot read the Object Lock configuration of {} (HTTP 403); assuming none",
                    config_.bucket);
    }
    object_lock_ = false;
  } else {
    fail(r, t, "GET (GetObjectLockConfiguration)");
  }
  return *object_lock_;
}

void S3Store::refuse_retention_without_lock() {
  if (object_lock_enabled()) return;  // refused for another reason: the caller reports it
  throw Error(Errc::kConfig,
              "bucket " + config_.bucket +
                  " has no Object Lock, so S3 refuses the retention that s3.retention-days / "
                  "s3.retain-until asks for",
              "create the bucket with Object Lock enabled (aws s3api create-bucket "
              "--object-lock-enabled-for-bucket), or drop the retention setting");
}

void S3Store::remove(const std::string& key) { remove_many({key}); }

std::vector<std::pair<std::string, std::string>> S3Store::delete_batch(
    const std::vector<std::pair<std::string, std::string>>& kv, bool collect_errors) {
  Target t{
      kv.size() == 1 && kv.front().second.empty() ? "s3:DeleteObject" : "s3:DeleteObjectVersion",
      kv.size() == 1 ? kv.front().first : std::string()};
  std::string body = "<Delete><Quiet>true</Quiet>";
  for (const auto& [k, version] : kv) {
    body += "<Object><Key>" + xml_escape(full_key(k)) + "</Key>";
    if (!version.empty()) body += "<VersionId>" + xml_escape(version) + "</VersionId>";
    body += "</Object>";
  }
  body += "</Delete>";
  auto bytes = as_bytes(body);
  HttpResponse r =
      send("POST", "", {{"delete", ""}},
           {{"Content-Type", "application/xml"}, {"Content-MD5", md5_base64(bytes)}}, bytes, t);
  if (r.status == 403) {
    // Some gateways (Ceph RGW before Quincy) check a multi-object delete against the bucket, so a
    // policy that allows deletes only under a prefix (the backup role's own locks) is refused as a
    // whole. Each object's own DELETE is checked against that object.
    return delete_each(kv, collect_errors);
  }
  if (r.status != 200) fail(r, t, "POST (DeleteObjects)");
  auto doc = parse_xml(r.body_text(), "DeleteObjects");
  auto errors = doc->children_named("Error");
  std::vector<std::pair<std::string, std::string>> failed;
  for (const XmlNode* e : errors) {
    std::string key = e->child_text("Key");
    if (key.starts_with(config_.prefix)) key = key.substr(config_.prefix.size());
    failed.emplace_back(key, e->child_text("Code"));
  }
  if (failed.empty() || collect_errors) return failed;
  const XmlNode* e = errors.front();
  std::string code = e->child_text("Code");
  HttpResponse fake;
  fake.status = code == "AccessDenied"                            ? 403
                : (code == "InternalError" || code == "SlowDown") ? 503
                                                                  : 400;
  std::string xml = "<Error><Code>" + xml_escape(code) + "</Code><Message>" +
                    xml_escape(e->child_text("Message")) + " (" + std::to_string(errors.size()) +
                    " of " + std::to_string(kv.size()) + " objects not deleted)</Message></Error>";
  fake.body.assign(xml.begin(), xml.end());
  fail(fake, Target{"s3:DeleteObject", failed.front().first}, "DELETE");
}

std::vector<std::pair<std::string, std::string>> S3Store::delete_each(
    const std::vector<std::pair<std::string, std::string>>& kv, bool collect_errors) {
  std::vector<std::pair<std::string, std::string>> failed;
  for (const auto& [k, version] : kv) {
    Target t{version.empty() ? "s3:DeleteObject" : "s3:DeleteObjectVersion", k};
    Pairs q;
    if (!version.empty()) q.emplace_back("versionId", version);
    HttpResponse r = send("DELETE", full_key(k), q, {}, {}, t);
    if (r.status == 204 || r.status == 200 || r.status == 404) continue;
    if (r.status == 403 && collect_errors) {
      failed.emplace_back(k, "AccessDenied");
      continue;
    }
    fail(r, t, "DELETE");
  }
  return failed;
}

void S3Store::remove_many(const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  auto locked = remove_unretained(keys);
  if (!locked.empty()) {
    throw Error(Errc::kRemote,
                std::to_string(locked.size()) + " of " + std::to_string(keys.size()) +
                    " objects are under Object Lock retention and were not removed (first: " +
                    object_url_text(locked.front().key) + " until " +
                    format_iso8601(locked.front().until) + ")",
                "they can be removed after their retention date; shorten s3.retention-days for "
                "new backups if that is too long");
  }
}

std::vector<Retained> S3Store::remove_unretained(const std::vector<std::string>& keys) {
  std::vector<Retained> locked;
  if (keys.empty()) return locked;
  std::vector<std::pair<std::string, std::string>> batch;
  if (!object_lock_enabled()) {
    for (size_t i = 0; i < keys.size(); i += 1000) {
      batch.clear();
      for (size_t j = i; j < std::min(keys.size(), i + 1000); ++j) batch.emplace_back(keys[j], "");
      delete_batch(batch);
    }
    return locked;
  }
  // An Object Lock bucket (always versioned): a plain DELETE would only hide the object behind a
  // delete marker while its data stays (and is billed, and a later read of the first version
  // finds it). Remove every version; the ones retention protects fail one by one and are reported.
  std::unordered_map<std::string, bool> wanted;
  for (const auto& k : keys) wanted[k] = true;
  std::vector<std::pair<std::string, std::string>> versions;  // key, version id
  auto collect = [&](const VersionEntry& v) {
    if (wanted.count(v.key)) versions.emplace_back(v.key, v.version_id);
  };
  if (keys.size() <= 50) {
    for (const auto& k : keys) list_versions(k, collect);
  } else {
    std::string common = keys.front();
    for (const auto& k : keys) {
      size_t n = 0;
      while (n < common.size() && n < k.size() && common[n] == k[n]) ++n;
      common.resize(n);
    }
    list_versions(common, collect);
  }
  std::unordered_map<std::string, bool> refused;
  for (size_t i = 0; i < versions.size(); i += 1000) {
    batch.assign(versions.begin() + static_cast<ptrdiff_t>(i),
                 versions.begin() + static_cast<ptrdiff_t>(std::min(versions.size(), i + 1000)));
    for (const auto& [key, code] : delete_batch(batch, true)) {
      if (code != "AccessDenied") {
        HttpResponse fake;
        fake.status = code == "InternalError" || code == "SlowDown" ? 503 : 400;
        std::string xml = "<Error><Code>" + xml_escape(code) + "</Code></Error>";
        fake.body.assign(xml.begin(), xml.end());
        fail(fake, Target{"s3:DeleteObjectVersion", key}, "DELETE");
      }
      refused[key] = true;
    }
  }
  {
    std::lock_guard g(versions_mu_);
    for (const auto& k : keys) original_.erase(k);
  }
  // Refused: retention, or a policy that forbids deleting. Retention says which.
  const auto now_t = Clock::now();
  for (const auto& [key, _] : refused) {
    std::optional<Clock::time_point> until;
    for (const auto& [k, vid] : versions) {
      if (k != key) continue;
      Target t{"s3:GetObjectRetention", key};
      HttpResponse r = send("HEAD", full_key(key), {{"versionId", vid}}, {}, {}, t);
      if (r.status != 200) continue;
      auto u = parse_iso8601(r.header("x-amz-object-lock-retain-until-date"));
      if (u && *u > now_t && (!until || *u > *until)) until = u;
    }
    if (!until) {
      HttpResponse fake;
      fake.status = 403;
      std::string xml = "<Error><Code>AccessDenied</Code></Error>";
      fake.body.assign(xml.begin(), xml.end());
      fail(fake, Target{"s3:DeleteObjectVersion", key}, "DELETE");
    }
    locked.push_back({key, *until});
  }
  std::sort(locked.begin(), locked.end(),
            [](const Retained& a, const Retained& b) { return a.key < b.key; });
  return locked;
}

void S3Store::list_versions(const std::string& prefix,
                            const std::function<void(const VersionEntry&)>& fn) {
  Target t{"s3:ListBucketVersions", prefix};
  std::string key_marker, version_marker;
  const std::string full_prefix = config_.prefix + prefix;
  for (;;) {
    Pairs q{{"versions", ""},
            {"prefix", full_prefix},
            {"max-keys", std::to_string(config_.list_max_keys)}};
    if (!key_marker.empty()) q.emplace_back("key-marker", key_marker);
    if (!version_marker.empty()) q.emplace_back("version-id-marker", version_marker);
    HttpResponse r = send("GET", "", q, {}, {}, t);
    if (r.status != 200) fail(r, t, "GET (ListObjectVersions)");
    auto doc = parse_xml(r.body_text(), "ListObjectVersions");
    // Versions and delete markers are separate elements; S3 lists them in key order, newest
    // first within a key, and so does this callback.
    std::vector<VersionEntry> page;
    for (const auto& c : doc->children) {
      if (c->name != "Version" && c->name != "DeleteMarker") continue;
      std::string k = c->child_text("Key");
      if (!k.starts_with(config_.prefix)) continue;
      VersionEntry v;
      v.key = k.substr(config_.prefix.size());
      v.version_id = c->child_text("VersionId");
      v.delete_marker = c->name == "DeleteMarker";
      v.latest = c->child_text("IsLatest") == "true";
      try {
        v.size = v.delete_marker ? 0 : std::stoull(c->child_text("Size"));
      } catch (...) {
        v.size = 0;
      }
      page.push_back(std::move(v));
    }
    for (const auto& v : page) fn(v);
    if (doc->child_text("IsTruncated") != "true") return;
    key_marker = doc->child_text("NextKeyMarker");
    version_marker = doc->child_text("NextVersionIdMarker");
    if (key_marker.empty()) {
      throw Error(Errc::kRemote, "ListObjectVersions of " + object_url_text(prefix) +
                                     " is truncated but has no marker");
    }
  }
}

std::string S3Store::versioning() {
  std::lock_guard g(lock_mu_);
  if (versioning_) return *versioning_;
  Target t{"s3:GetBucketVersioning", ""};
  HttpResponse r;
  try {
    r = send("GET", "", {{"versioning", ""}}, {}, {}, t);
    if (r.status == 200) {
      versioning_ = parse_xml(r.body_text(), "GetBucketVersioning")->child_text("Status");
      return *versioning_;
    }
  } catch (const std::exception& e) {
    // No clear answer (a malformed or oversized body, a dropped connection): the request this
    // probe precedes reports any real failure with its own key; ask again next time.
    spdlog::debug("s3: versioning of {} unknown ({}); asking again later", config_.bucket,
                  e.what());
    return std::string();
  }
  if (r.status == 403 || r.status == 404 || r.status == 501) {
    spdlog::debug("s3: cannot read the versioning of {} (HTTP {}); assuming none", config_.bucket,
                  r.status);
    versioning_ = std::string();
  } else {
    // A failing or refusing gateway: the request this probe precedes reports the failure with
    // its own key; ask again next time rather than remember a guess.
    spdlog::debug("s3: versioning of {} unknown (HTTP {}); asking again later", config_.bucket,
                  r.status);
    return std::string();
  }
  return *versioning_;
}

bool S3Store::read_original() { return config_.read_original_versions && !versioning().empty(); }

bool S3Store::write_once(const std::string& key) {
  return !(key.starts_with("locks/") || key.starts_with("gc/") || key == "config");
}

void S3Store::remember_versions(const std::string& key, const std::vector<VersionEntry>& versions) {
  if (!write_once(key)) return;
  const VersionEntry* first = nullptr;
  size_t n = 0;
  for (const auto& v : versions) {
    if (v.delete_marker) continue;
    first = &v;
    ++n;
  }
  if (!first) return;
  if (n > 1) {
    spdlog::warn(
        "s3: {} has {} versions: reading the first one; the later ones were written over it "
        "(a write by someone holding backup credentials?)",
        object_url_text(key), n);
  }
  std::lock_guard g(versions_mu_);
  original_[key] = first->version_id;
}

std::string S3Store::read_version(const std::string& key) {
  if (!write_once(key) || !read_original()) return {};
  {
    std::lock_guard g(versions_mu_);
    if (auto it = original_.find(key); it != original_.end()) return it->second;
  }
  std::vector<VersionEntry> mine;
  list_versions(key, [&](const VersionEntry& v) {
    if (v.key == key) mine.push_back(v);
  });
  if (mine.empty() || mine.front().delete_marker) return {};  // a plain GET reports it missing
  remember_versions(key, mine);
  std::lock_guard g(versions_mu_);
  auto it = original_.find(key);
  return it == original_.end() ? std::string() : it->second;
}

Pairs S3Store::version_query(const std::string& key) {
  std::string v = read_version(key);
  // "null" is the id of an object written before versioning was enabled: GET it plainly.
  if (v.empty() || v == "null") return {};
  return {{"versionId", v}};
}

std::optional<RetentionRule> S3Store::rule() {
  if (config_.retention_days) {
    RetentionRule r;
    r.period = retention_day() * *config_.retention_days;
    r.margin = margin_for(r.period);
    r.compliance = config_.compliance;
    return r;
  }
  if (!object_lock_enabled()) return std::nullopt;
  std::lock_guard g(lock_mu_);
  return bucket_rule_;
}

std::optional<Retention> S3Store::retention(const std::string& key) {
  std::optional<Retention> out;
  retry_call(part_policy_, "HEAD " + key + " (retention)", [&] {
    retention_requests_.fetch_add(1);
    Pairs q = version_query(key);
    Target t{"s3:GetObjectRetention", key};
    HttpResponse r = send("HEAD", full_key(key), q, {}, {}, t);
    if (r.status == 404)
      throw Error(Errc::kNotFound, "object " + object_url_text(key) + " does not exist");
    if (r.status != 200) fail(r, t, "HEAD");
    out.reset();
    if (auto until = parse_iso8601(r.header("x-amz-object-lock-retain-until-date"))) {
      out = Retention{*until, r.header("x-amz-object-lock-mode") == "COMPLIANCE"};
    }
  });
  return out;
}

void S3Store::set_retention(const std::string& key, Clock::time_point until, bool compliance) {
  std::string body =
      std::string("<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>") +
      (compliance ? "COMPLIANCE" : "GOVERNANCE") + "</Mode><RetainUntilDate>" +
      iso8601_millis(until) + "</RetainUntilDate></Retention>";
  retry_call(part_policy_, "PUT " + key + " (retention)", [&] {
    retention_requests_.fetch_add(1);
    Pairs q = version_query(key);
    q.emplace_back("retention", "");
    Target t{"s3:PutObjectRetention", key};
    auto bytes = as_bytes(body);
    HttpResponse r =
        send("PUT", full_key(key), q,
             {{"Content-Type", "application/xml"}, {"Content-MD5", md5_base64(bytes)}}, bytes, t);
    if (r.status != 200 && r.status != 204) fail(r, t, "PUT (PutObjectRetention)");
  });
}

void S3Store::ensure_bucket(bool lock) {
  Target t{"s3:CreateBucket", ""};
  HttpResponse r = send("HEAD", "", {}, {}, {}, t);
  if (r.status == 200) return;
  if (r.status != 404) fail(r, Target{"s3:ListBucket", ""}, "HEAD");
  Pairs h;
  if (lock) h.emplace_back("x-amz-bucket-object-lock-enabled", "true");
  std::string body;
  if (config_.region != "us-east-1") {
    body = "<CreateBucketConfiguration><LocationConstraint>" + xml_escape(config_.region) +
           "</LocationConstraint></CreateBucketConfiguration>";
  }
  HttpResponse c = send("PUT", "", {}, h, as_bytes(body), t);
  if (c.status == 200) return;
  std::string text = c.body_text();
  if (text.find("BucketAlreadyOwnedByYou") != std::string::npos) return;
  fail(c, t, "PUT (CreateBucket)");
}

}  // namespace pvesafe::store::s3
