// The S3 ObjectStore: SigV4-signed requests over libcurl to AWS S3 or any S3-compatible
// service (Ceph RGW, MinIO). Keys live under "s3://bucket/prefix/". See docs/s3.md.
//
//  - put: one PUT up to s3.multipart-threshold, multipart upload above it (parts in parallel,
//    each retried; the upload is aborted when a part fails for good). Object Lock retention
//    (PutOptions, or s3.retention-days / s3.retain-until / s3.lock-mode) is set on the object;
//    the store-wide settings skip "locks/" keys, which the repository removes when done.
//  - get_range: Range GET; list: ListObjectsV2 with continuation tokens; remove_many:
//    DeleteObjects in batches of 1000 with Content-MD5.
//  - remove on a bucket with Object Lock: an object under retention is not removed and the call
//    fails with a message naming the object and the retention date (never a silent skip).
//  - Errors are mapped to one-line messages with categories (docs/s3.md lists them); request
//    failures that may pass (5xx, SlowDown, resets, timeouts) are kTransient.
//  - Answers are bounded (http_client.h): a ranged GET returns at most what was asked, a whole
//    GET at most s3.max-object-size, XML documents at most 16 MiB; more is kRemote naming the
//    request. A plain http:// endpoint other than loopback is warned about once per endpoint.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "store/object_store.h"
#include "store/open_store.h"
#include "store/retry_store.h"
#include "store/s3/credentials.h"
#include "store/s3/http_client.h"
#include "store/s3/s3_config.h"

namespace pvesafe::store {

// The S3 store behind a RetryStore (s3.max-attempts). url is "s3://bucket[/prefix]".
std::unique_ptr<ObjectStore> make_s3_store(const std::string& url, const StoreOptions& options);

}  // namespace pvesafe::store

namespace pvesafe::store::s3 {

class S3Store : public ObjectStore {
 public:
  S3Store(S3Config config, std::shared_ptr<CredentialProvider> credentials);

  void put(const std::string& key, std::span<const uint8_t> data,
           const PutOptions& options = {}) override;
  std::vector<uint8_t> get(const std::string& key) override;
  std::vector<uint8_t> get_range(const std::string& key, uint64_t offset, uint64_t length) override;
  std::optional<ObjectInfo> stat(const std::string& key) override;
  void list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) override;
  void remove(const std::string& key) override;
  void remove_many(const std::vector<std::string>& keys) override;
  std::string location() const override { return config_.location(); }
  int preferred_parallelism() const override { return config_.connections; }

  // Creates the bucket when it does not exist (with Object Lock when lock is true).
  void ensure_bucket(bool lock);
  // Whether the bucket has Object Lock enabled (asked once, then cached).
  bool object_lock_enabled();
  const S3Config& config() const { return config_; }
  // Multipart uploads started / aborted (for tests and metrics).
  uint64_t multipart_uploads() const { return multipart_uploads_.load(); }
  uint64_t multipart_aborts() const { return multipart_aborts_.load(); }
  RequestCounts requests() const override;

 private:
  struct Target {
    std::string action;  // IAM action for messages, e.g. s3:PutObject
    std::string key;     // store-relative key ("" for the bucket)
  };
  // max_body / truncate: see HttpRequest.
  HttpResponse send(const std::string& method, const std::string& full_key, const Pairs& query,
                    Pairs headers, std::span<const uint8_t> body, const Target& target,
                    uint64_t max_body = kMaxDocumentBodyBytes, bool truncate = false);
  [[noreturn]] void fail(const HttpResponse& resp, const Target& target, const std::string& method);
  std::string full_key(const std::string& key) const { return config_.prefix + key; }
  std::string object_url_text(const std::string& key) const;
  std::optional<std::chrono::system_clock::time_point> retention_for(const std::string& key,
                                                                    const PutOptions& o) const;
  void put_single(const std::string& key, std::span<const uint8_t> data, const PutOptions& o);
  void put_multipart(const std::string& key, std::span<const uint8_t> data, const PutOptions& o);
  void delete_batch(const std::vector<std::pair<std::string, std::string>>& keys_versions);
  std::chrono::system_clock::time_point now() const;

  S3Config config_;
  std::shared_ptr<CredentialProvider> credentials_;
  HttpClient http_;
  RetryPolicy part_policy_;
  std::mutex lock_mu_;
  std::optional<bool> object_lock_;
  std::atomic<uint64_t> multipart_uploads_{0};
  std::atomic<uint64_t> multipart_aborts_{0};
  std::atomic<uint64_t> puts_{0}, gets_{0}, heads_{0}, lists_{0}, deletes_{0}, sent_{0}, received_{0};
};

// Seconds between the server's clock (HTTP Date header, else ServerTime in the error body) and
// local_now; nullopt when the response carries neither. Exposed for unit tests.
std::optional<long> clock_skew_seconds(const HttpResponse& resp,
                                       std::chrono::system_clock::time_point local_now);

}  // namespace pvesafe::store::s3
