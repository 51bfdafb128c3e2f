// ObjectLock: S3 Object Lock beside the plain object calls of ObjectStore, for a repository whose
// snapshots must outlive a compromised host: the retention of each object, extending it, the
// bucket's lock and versioning, and removal that skips what retention still protects.
//
// A store that can lock objects returns this interface from ObjectStore::object_lock(); stores
// that cannot (a local directory) return nullptr, and decorators forward the call, so the
// repository reaches the S3 store's lock whatever wraps it. Every call retries transient
// failures itself. Retention applies to the current version of a key; "removing" an object on a
// versioned bucket means removing all of its versions (a delete marker would only hide it).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pvesafe::store {

// How long new objects are kept (s3.retention-days / s3.lock-mode, else the bucket's default
// rule), and how far ahead a retention is set when it is set: objects are locked until
// `period + margin` from now, and extended again only once they are needed past their date, so
// a pack reused every day costs one extension per `margin`, not one per backup.
struct RetentionRule {
  std::chrono::seconds period{0};
  std::chrono::seconds margin{0};
  bool compliance = false;
  bool from_bucket = false;  // the bucket's default rule, not a pvesafe setting
};

struct Retention {
  std::chrono::system_clock::time_point until;
  bool compliance = false;
};

// An object removal refused because of its retention.
struct Retained {
  std::string key;
  std::chrono::system_clock::time_point until;
};

class ObjectLock {
 public:
  virtual ~ObjectLock() = default;
  // Whether the bucket has Object Lock enabled (asked once).
  virtual bool enabled() = 0;
  // "Enabled", "Suspended" or "" (never enabled) (asked once).
  virtual std::string versioning() = 0;
  // The rule new objects are locked by; nullopt when none applies.
  virtual std::optional<RetentionRule> rule() = 0;
  // The retention of the key's current version; nullopt when it has none. kNotFound when the
  // object does not exist.
  virtual std::optional<Retention> retention(const std::string& key) = 0;
  // Sets the retention of the key's current version to `until` (never earlier than it is: the
  // caller checks; S3 refuses to shorten).
  virtual void set_retention(const std::string& key, std::chrono::system_clock::time_point until,
                             bool compliance) = 0;
  // Removes every version of each key that retention allows; returns those it protects.
  virtual std::vector<Retained> remove_unretained(const std::vector<std::string>& keys) = 0;
  // Requests this lock has made (HEAD for retention, PUT for extensions), for reports.
  virtual uint64_t retention_requests() const = 0;
};

}  // namespace pvesafe::store
