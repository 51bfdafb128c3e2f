// ObjectStore is the one storage interface of pvesafe (the model is restic's backend.Backend).
// Everything above it (repository, backup, restore, prune, gc, verify) is the same for a local
// directory and for S3; retry, rate limit, metrics and fault injection are thin decorators.
//
// Keys are relative '/'-separated paths such as "data/ab/ab12...", "snapshots/<id>", "config".
// Contract for every implementation:
//  - put() is atomic: a reader sees either no object or the whole object, never a prefix.
//    A put of an existing key replaces it.
//  - get() of a missing key throws Error(Errc::kNotFound) naming the key.
//  - Failures throw pvesafe::Error with a category (kTransient for retryable network/server
//    failures, kAuth for credentials/permissions, kIo for local I/O, kRemote for other
//    server refusals). Messages never contain secrets.
//  - All methods are safe to call from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/object_lock.h"

namespace pvesafe::store {

struct ObjectInfo {
  std::string key;
  uint64_t size_bytes = 0;
};

struct PutOptions {
  // Object Lock retention (S3 only; the local store ignores it). Empty: no retention.
  std::optional<std::chrono::system_clock::time_point> retain_until;
  bool compliance_mode = false;  // COMPLIANCE instead of GOVERNANCE
};

// Requests a store has made, by the classes cloud stores bill separately (for S3: PUT, POST and
// LIST requests are "class A", GET and HEAD "class B", DELETE is free), and the bytes moved.
// A local directory counts its operations the same way.
struct RequestCounts {
  uint64_t puts = 0;     // PUT and POST (a multipart upload is several)
  uint64_t gets = 0;     // GET, whole objects and ranges
  uint64_t heads = 0;
  uint64_t lists = 0;    // one per page of a listing
  uint64_t deletes = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t total() const { return puts + gets + heads + lists + deletes; }
  RequestCounts operator-(const RequestCounts& o) const {
    return {puts - o.puts, gets - o.gets, heads - o.heads, lists - o.lists, deletes - o.deletes,
            bytes_sent - o.bytes_sent, bytes_received - o.bytes_received};
  }
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  virtual void put(const std::string& key, std::span<const uint8_t> data,
                   const PutOptions& options = {}) = 0;
  virtual std::vector<uint8_t> get(const std::string& key) = 0;
  // Bytes [offset, offset+length) of the object; shorter if the object ends earlier.
  virtual std::vector<uint8_t> get_range(const std::string& key, uint64_t offset,
                                         uint64_t length) = 0;
  // nullopt when the object does not exist.
  virtual std::optional<ObjectInfo> stat(const std::string& key) = 0;
  // Calls fn for every object whose key starts with prefix, in no particular order.
  virtual void list(const std::string& prefix,
                    const std::function<void(const ObjectInfo&)>& fn) = 0;
  // Removing a missing key is not an error.
  virtual void remove(const std::string& key) = 0;
  // Batch delete; the default calls remove() for each key.
  virtual void remove_many(const std::vector<std::string>& keys) {
    for (const auto& k : keys) remove(k);
  }
  // Where the store points, for messages and the catalog ("/srv/backup", "s3://bucket/prefix").
  // Never contains credentials.
  virtual std::string location() const = 0;
  // Called once when a repository is created, with the key prefixes it will write under
  // ("data/00/" .. "data/ff/"), so a store can set them up front rather than during the first
  // backup (the local store creates the directories). Optional: the default does nothing.
  virtual void prepare_prefixes(const std::vector<std::string>& prefixes) { (void)prefixes; }
  // Removes what writes that never completed left behind (the local store's temporary files of
  // an interrupted put) once older than `older_than`, so a write still in progress is never
  // touched; with dry_run only counts. Returns how many. Optional: the default finds none.
  virtual uint64_t remove_abandoned(std::chrono::seconds older_than, bool dry_run) {
    (void)older_than, (void)dry_run;
    return 0;
  }
  // How many requests a caller should keep in flight for good throughput.
  virtual int preferred_parallelism() const { return 4; }
  // The largest byte range a reader should ask for in one request when it reads many adjacent
  // pieces of an object (a restore reading chunks out of a pack). Large where each request costs
  // (S3); smaller where it costs nothing, so more ranges are decoded in parallel.
  virtual uint64_t preferred_range_bytes() const { return 16ull << 20; }
  // Requests made so far by this store (decorators report their inner store's, retries included).
  virtual RequestCounts requests() const { return {}; }
  // Object Lock of the store (S3), or nullptr when it has none. Decorators forward it.
  virtual ObjectLock* object_lock() { return nullptr; }
};

}  // namespace pvesafe::store
