// Catalog and audit log: a SQLite database with one table `events` recording every backup,
// restore, verify, prune, gc and drill (schema in docs/format.md and notes/interfaces).
// Several processes may write at once (WAL mode, busy timeout). Throws kIo/kConfig naming the
// path when the database cannot be opened or written.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pvesafe::repo {

struct CatalogEvent {
  int64_t id = 0;          // assigned by record()
  std::string time_utc;    // ISO 8601; record() fills "now" when empty
  std::string kind;        // backup | restore | verify | prune | gc | drill
  std::string repository;
  std::string snapshot_id;
  std::string node;
  std::string guest_id;
  std::string guest_type;
  std::string file_name;
  int64_t size_bytes = 0;
  int64_t stored_bytes = 0;
  double duration_seconds = 0;
  double throughput_bytes_per_second = 0;
  double dedup_ratio = 0;
  std::string result = "ok";  // ok | error
  std::string error;
  std::string details_json;
};

struct CatalogQuery {
  std::string kind;      // empty: all
  std::string guest_id;
  std::string node;
  std::string since;     // ISO 8601; events at or after
  int limit = 0;         // 0: no limit
  bool newest_first = true;
};

class Catalog {
 public:
  // Creates the file (0600) and its directory (0700) when missing.
  static Catalog open(const std::string& path);
  // $PVESAFE_CATALOG, else /var/lib/pvesafe/catalog.db as root, else
  // ~/.local/share/pvesafe/catalog.db.
  static std::string default_path();

  Catalog(Catalog&&) noexcept;
  Catalog& operator=(Catalog&&) noexcept;
  ~Catalog();

  int64_t record(const CatalogEvent& event);  // returns the row id
  std::vector<CatalogEvent> query(const CatalogQuery& query);
  const std::string& path() const;

 private:
  struct Impl;
  explicit Catalog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pvesafe::repo
