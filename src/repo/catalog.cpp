#include "repo/catalog.h"

#include <sqlite3.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "repo/repository.h"

namespace pvesafe::repo {

namespace {

const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  time_utc TEXT NOT NULL,
  kind TEXT NOT NULL,
  repository TEXT,
  snapshot_id TEXT,
  node TEXT,
  guest_id TEXT,
  guest_type TEXT,
  file_name TEXT,
  size_bytes INTEGER,
  stored_bytes INTEGER,
  duration_seconds REAL,
  throughput_bytes_per_second REAL,
  dedup_ratio REAL,
  result TEXT,
  error TEXT,
  details_json TEXT
);
CREATE INDEX IF NOT EXISTS events_kind_time ON events(kind, time_utc);
CREATE INDEX IF NOT EXISTS events_guest_time ON events(guest_id, time_utc);
)";

void mkdirs(const std::string& dir) {
  if (dir.empty()) return;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return;
  size_t s = dir.find_last_of('/');
  if (s != std::string::npos && s > 0) mkdirs(dir.substr(0, s));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw Error(Errc::kIo, "cannot create catalog directory " + dir + ": " + std::strerror(errno),
                "use --catalog or PVESAFE_CATALOG");
  }
}

struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

}  // namespace

struct Catalog::Impl {
  sqlite3* db = nullptr;
  std::string path;
  ~Impl() {
    if (db) sqlite3_close(db);
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(Errc::kIo, "catalog " + path + ": " + what + ": " + (db ? sqlite3_errmsg(db) : "?"),
                "check the catalog file and its directory");
  }
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string e = err ? err : "?";
      sqlite3_free(err);
      throw Error(Errc::kIo, "catalog " + path + ": " + e);
    }
  }
};

Catalog::Catalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Catalog::Catalog(Catalog&&) noexcept = default;
Catalog& Catalog::operator=(Catalog&&) noexcept = default;
Catalog::~Catalog() = default;
const std::string& Catalog::path() const { return impl_->path; }

std::string Catalog::default_path() {
  if (const char* p = std::getenv("PVESAFE_CATALOG"); p && *p) return p;
  if (geteuid() == 0) return "/var/lib/pvesafe/catalog.db";
  const char* home = std::getenv("HOME");
  std::string base = (home && *home) ? home : "/tmp";
  return base + "/.local/share/pvesafe/catalog.db";
}

Catalog Catalog::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  size_t s = path.find_last_of('/');
  if (s != std::string::npos && s > 0) mkdirs(path.substr(0, s));
  bool existed = ::access(path.c_str(), F_OK) == 0;
  if (!existed) {
    // Create 0600 before SQLite does (it would honour the umask).
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  if (sqlite3_open_v2(path.c_str(), &impl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    impl->fail("cannot open");
  }
  sqlite3_busy_timeout(impl->db, 10000);
  impl->exec("PRAGMA journal_mode=WAL;");
  impl->exec(kSchema);
  return Catalog(std::move(impl));
}

int64_t Catalog::record(const CatalogEvent& e) {
  Stmt st;
  const char* sql =
      "INSERT INTO events (time_utc, kind, repository, snapshot_id, node, guest_id, guest_type, "
      "file_name, size_bytes, stored_bytes, duration_seconds, throughput_bytes_per_second, "
      "dedup_ratio, result, error, details_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
  if (sqlite3_prepare_v2(impl_->db, sql, -1, &st.s, nullptr) != SQLITE_OK) impl_->fail("cannot prepare insert");
  std::string time = e.time_utc.empty() ? format_utc(std::chrono::system_clock::now()) : e.time_utc;
  int i = 1;
  auto text = [&](const std::string& v) {
    if (v.empty() && i > 2) sqlite3_bind_null(st.s, i++);
    else sqlite3_bind_text(st.s, i++, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  };
  text(time);
  text(e.kind);
  text(e.repository);
  text(e.snapshot_id);
  text(e.node);
  text(e.guest_id);
  text(e.guest_type);
  text(e.file_name);
  sqlite3_bind_int64(st.s, i++, e.size_bytes);
  sqlite3_bind_int64(st.s, i++, e.stored_bytes);
  sqlite3_bind_double(st.s, i++, e.duration_seconds);
  sqlite3_bind_double(st.s, i++, e.throughput_bytes_per_second);
  sqlite3_bind_double(st.s, i++, e.dedup_ratio);
  text(e.result);
  text(e.error);
  text(e.details_json);
  if (sqlite3_step(st.s) != SQLITE_DONE) impl_->fail("cannot record event");
  return sqlite3_last_insert_rowid(impl_->db);
}

std::vector<CatalogEvent> Catalog::query(const CatalogQuery& q) {
  std::string sql =
      "SELECT id, time_utc, kind, repository, snapshot_id, node, guest_id, guest_type, file_name, "
      "size_bytes, stored_bytes, duration_seconds, throughput_bytes_per_second, dedup_ratio, "
      "result, error, details_json FROM events WHERE 1=1";
  std::vector<std::string> args;
  if (!q.kind.empty()) { sql += " AND kind = ?"; args.push_back(q.kind); }
  if (!q.guest_id.empty()) { sql += " AND guest_id = ?"; args.push_back(q.guest_id); }
  if (!q.node.empty()) { sql += " AND node = ?"; args.push_back(q.node); }
  if (!q.since.empty()) { sql += " AND time_utc >= ?"; args.push_back(q.since); }
  sql += q.newest_first ? " ORDER BY time_utc DESC, id DESC" : " ORDER BY time_utc ASC, id ASC";
  if (q.limit > 0) sql += " LIMIT " + std::to_string(q.limit);
  Stmt st;
  if (sqlite3_prepare_v2(impl_->db, sql.c_str(), -1, &st.s, nullptr) != SQLITE_OK) impl_->fail("cannot prepare query");
  for (size_t i = 0; i < args.size(); ++i) {
    sqlite3_bind_text(st.s, static_cast<int>(i + 1), args[i].c_str(), -1, SQLITE_TRANSIENT);
  }
  std::vector<CatalogEvent> out;
  auto col = [&](int c) {
    const unsigned char* t = sqlite3_column_text(st.s, c);
    return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
  };
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    CatalogEvent e;
    e.id = sqlite3_column_int64(st.s, 0);
    e.time_utc = col(1);
    e.kind = col(2);
    e.repository = col(3);
    e.snapshot_id = col(4);
    e.node = col(5);
    e.guest_id = col(6);
    e.guest_type = col(7);
    e.file_name = col(8);
    e.size_bytes = sqlite3_column_int64(st.s, 9);
    e.stored_bytes = sqlite3_column_int64(st.s, 10);
    e.duration_seconds = sqlite3_column_double(st.s, 11);
    e.throughput_bytes_per_second = sqlite3_column_double(st.s, 12);
    e.dedup_ratio = sqlite3_column_double(st.s, 13);
    e.result = col(14);
    e.error = col(15);
    e.details_json = col(16);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) impl_->fail("cannot read events");
  return out;
}

}  // namespace pvesafe::repo
