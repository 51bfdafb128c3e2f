// The S3 ObjectStore: SigV4-signed requests over libcurl to AWS S3 or any S3-compatible
// service (Ceph RGW, MinIO). Keys live under "s3://bucket/prefix/". See docs/s3.md.
//
//  - put: one PUT up to s3.multipart-threshold, multipart upload above it (parts in parallel,
//    each retried; the upload is aborted when a part fails for good). Object Lock retention
//    (PutOptions, or s3.retention-days / s3.retain-until / s3.lock-mode) is set on the object;
//    the store-wide settings skip "locks/" keys, which the repository removes when done.
//  - get_range: Range GET; list: ListObjectsV2 with continuation tokens; remove_many:
//    DeleteObjects in batches of 1000 with Content-MD5.
//  - remove on a bucket with Object Lock: every version of the object is removed
//  (ListObjectVersions
//    then DeleteObjects by version), unless retention protects it: then the call fails with a
//    message naming the object and the retention date (never a silent skip); remove_unretained
//    reports those instead (store/object_lock.h).
//  - versioned bucket (s3.read-original-versions, default on): get, get_range and the retention
//    calls address the first version of write-once keys (all but locks/, gc/ and config), found
//    by ListObjectVersions (list() uses it too and remembers them), so an overwrite by a
//    compromised writer is a new version nobody reads; it is logged as a warning.
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
#include <unordered_map>

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

class S3Store : public ObjectStore, public ObjectLock {
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

  ObjectLock* object_lock() override { return this; }

  // ObjectLock
  bool enabled() override { return object_lock_enabled(); }
  std::string versioning() override;
  std::optional<RetentionRule> rule() override;
  std::optional<Retention> retention(const std::string& key) override;
  void set_retention(const std::string& key, std::chrono::system_clock::time_point until,
                     bool compliance) override;
  std::vector<Retained> remove_unretained(const std::vector<std::string>& keys) override;
  uint64_t retention_requests() const override { return retention_requests_.load(); }

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
  // Throws kConfig when the bucket has no Object Lock (a PUT with retention was refused).
  void refuse_retention_without_lock();
  // Whether a listing of the key shows it (true also when the listing is refused).
  bool key_listed(const std::string& key);
  std::string object_url_text(const std::string& key) const;
  std::optional<std::chrono::system_clock::time_point> retention_for(const std::string& key,
                                                                     const PutOptions& o) const;
  void put_single(const std::string& key, std::span<const uint8_t> data, const PutOptions& o);
  void put_multipart(const std::string& key, std::span<const uint8_t> data, const PutOptions& o);
  // Keys whose DeleteObjects entry failed, with the error code.
  std::vector<std::pair<std::string, std::string>> delete_batch(
      const std::vector<std::pair<std::string, std::string>>& keys_versions,
      bool collect_errors = false);
  // The same, one DELETE request per object.
  std::vector<std::pair<std::string, std::string>> delete_each(
      const std::vector<std::pair<std::string, std::string>>& keys_versions, bool collect_errors);
  std::chrono::system_clock::time_point now() const;
  std::chrono::seconds retention_day() const {
    return std::chrono::seconds(config_.retention_day_seconds);
  }
  std::chrono::seconds margin_for(std::chrono::seconds period) const;

  // Versions. Every version of the keys under prefix, newest first per key (ListObjectVersions).
  struct VersionEntry {
    std::string key;  // store-relative
    std::string version_id;
    uint64_t size = 0;
    bool delete_marker = false;
    bool latest = false;
  };
  void list_versions(const std::string& prefix, const std::function<void(const VersionEntry&)>& fn);
  bool read_original();
  static bool write_once(const std::string& key);
  // The version id get() reads for key ("" for the current version).
  std::string read_version(const std::string& key);
  void remember_versions(const std::string& key, const std::vector<VersionEntry>& versions);
  Pairs version_query(const std::string& key);

  S3Config config_;
  std::shared_ptr<CredentialProvider> credentials_;
  HttpClient http_;
  RetryPolicy part_policy_;
  std::mutex lock_mu_;
  std::optional<bool> object_lock_;
  std::optional<RetentionRule> bucket_rule_;
  std::optional<std::string> versioning_;
  std::mutex versions_mu_;
  std::unordered_map<std::string, std::string> original_;  // key -> version id pvesafe reads
  std::atomic<uint64_t> retention_requests_{0};
  std::atomic<uint64_t> multipart_uploads_{0};
  std::atomic<uint64_t> multipart_aborts_{0};
  std::atomic<uint64_t> puts_{0}, gets_{0}, heads_{0}, lists_{0}, deletes_{0}, sent_{0},
      received_{0};
};

// Seconds between the server's clock (HTTP Date header, else ServerTime in the error body) and
// local_now; nullopt when the response carries neither. Exposed for unit tests.
std::optional<long> clock_skew_seconds(const HttpResponse& resp,
                                       std::chrono::system_clock::time_point local_now);

}  // namespace pvesafe::store::s3
