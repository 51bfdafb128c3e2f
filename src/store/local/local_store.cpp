#include "store/local/local_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>
#include <set>

#include "core/dir_sync.h"
#include "core/direct_io.h"
#include "core/error.h"

namespace pvesafe::store {

namespace {

[[noreturn]] void throw_errno(int e, const std::string& what, const std::string& path) {
  if (e == ENOSPC || e == EDQUOT) {
    throw Error(Errc::kIo, "disk full writing " + path, "free space or move the repository");
  }
  if (e == EACCES || e == EPERM || e == EROFS) {
    throw Error(Errc::kIo, what + " " + path + ": " + std::strerror(e),
                "check permissions of the repository directory");
  }
  throw Error(Errc::kIo, what + " " + path + ": " + std::strerror(e));
}

void check_key(const std::string& key) {
  if (key.empty() || key.front() == '/' || key.find("..") != std::string::npos ||
      key.find("//") != std::string::npos) {
    throw Error(Errc::kInternal, "invalid object key '" + key + "'");
  }
}

// Creates the missing directories of `dir` (0700), parents first, and adds to `parents` the
// directory that holds each one, whose entry for it is not durable until that is synced.
void make_missing(const std::string& dir, std::set<std::string>& parents) {
  if (dir.empty()) return;
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) return;
  size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) make_missing(dir.substr(0, slash), parents);
  // EEXIST: another thread made it a moment ago and may not have synced its parent yet.
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw_errno(errno, "cannot create directory", dir);
  parents.insert(parent_directory(dir));
}

void sync_dir(const std::string& dir) {
  if (int e = sync_directory(dir)) throw_errno(e, "cannot sync directory", dir);
}

// Creates `dir` and its missing parents, durably: each new directory is synced into its parent.
void mkdirs(const std::string& dir) {
  std::set<std::string> parents;
  make_missing(dir, parents);
  for (const auto& p : parents) sync_dir(p);
}

std::string tmp_suffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[48];
  snprintf(buf, sizeof buf, ".tmp-%d-%016llx-%llu", static_cast<int>(getpid()),
           static_cast<unsigned long long>(rng()), static_cast<unsigned long long>(++counter));
  return buf;
}

// Objects from this size on (chunks) bypass the page cache; metadata goes through it.
constexpr size_t kDirectMin = 64 * 1024;

void write_all(int fd, const uint8_t* p, size_t n, const std::string& path) {
  if (int e = write_fully(fd, p, n)) throw_errno(e, "cannot write", path);
}

}  // namespace

LocalStore::LocalStore(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  if (root_.empty()) root_ = ".";
}

std::string LocalStore::path_of(const std::string& key) const { return root_ + "/" + key; }

RequestCounts LocalStore::requests() const {
  return {puts_.load(), gets_.load(), heads_.load(), lists_.load(), deletes_.load(), sent_.load(), received_.load()};
}

void LocalStore::put(const std::string& key, std::span<const uint8_t> data, const PutOptions&) {
  check_key(key);
  puts_.fetch_add(1);
  sent_.fetch_add(data.size());
  std::string path = path_of(key);
  std::string dir = path.substr(0, path.find_last_of('/'));
  std::string tmp = path + tmp_suffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == ENOENT) {
    mkdirs(dir);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  }
  if (fd < 0) throw_errno(errno, "cannot create", path);
  try {
    if (data.size() >= kDirectMin) {
      DirectWriter w(fd);
      int e = w.write(data.data(), data.size());
      if (!e) e = w.finish();
      if (e) throw_errno(e, "cannot write", path);
    } else {
      write_all(fd, data.data(), data.size(), path);
    }
    if (::fsync(fd) != 0) throw_errno(errno, "cannot sync", path);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw_errno(e, "cannot write", path);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw_errno(e, "cannot rename into", path);
  }
  // The object is durable under its name once the directory entry is.
  sync_dir(dir);
}

namespace {
// Reads `length` bytes of the file at `path` from `offset` (to the end when length is empty);
// fewer when the file ends first. `key` and `root` only name the object in errors.
std::vector<uint8_t> read_object(const std::string& path, const std::string& key,
                                 const std::string& root, uint64_t offset,
                                 std::optional<uint64_t> length) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      throw Error(Errc::kNotFound, "object " + key + " not found in " + root);
    }
    throw_errno(errno, "cannot open", path);
  }
  if (!length) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      throw_errno(e, "cannot stat", path);
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    length = size > offset ? size - offset : 0;
  }
  std::vector<uint8_t> out(static_cast<size_t>(*length));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t r = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      throw_errno(e, "cannot read", path);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  out.resize(got);
  return out;
}
}  // namespace

std::vector<uint8_t> LocalStore::get(const std::string& key) {
  check_key(key);
  gets_.fetch_add(1);
  auto v = read_object(path_of(key), key, root_, 0, std::nullopt);
  received_.fetch_add(v.size());
  return v;
}

std::vector<uint8_t> LocalStore::get_range(const std::string& key, uint64_t offset, uint64_t length) {
  check_key(key);
  gets_.fetch_add(1);
  auto v = read_object(path_of(key), key, root_, offset, length);
  received_.fetch_add(v.size());
  return v;
}

std::optional<ObjectInfo> LocalStore::stat(const std::string& key) {
  check_key(key);
  heads_.fetch_add(1);
  struct stat st {};
  std::string path = path_of(key);
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw_errno(errno, "cannot stat", path);
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  return ObjectInfo{key, static_cast<uint64_t>(st.st_size)};
}

namespace {
void walk(const std::string& root, const std::string& rel, const std::string& prefix,
          const std::function<void(const ObjectInfo&)>& fn) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR) return;
    throw_errno(errno, "cannot list", dir);
  }
  std::vector<std::pair<std::string, bool>> entries;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (name.find(".tmp-") != std::string::npos) continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      if (::stat((dir + "/" + name).c_str(), &st) == 0) is_dir = S_ISDIR(st.st_mode);
    }
    entries.emplace_back(name, is_dir);
  }
  ::closedir(d);
  for (auto& [name, is_dir] : entries) {
    std::string key = rel.empty() ? name : rel + "/" + name;
    // Only descend where the prefix can still match.
    size_t common = std::min(key.size(), prefix.size());
    if (key.compare(0, common, prefix, 0, common) != 0) continue;
    if (is_dir) {
      walk(root, key, prefix, fn);
    } else if (key.size() >= prefix.size()) {
      struct stat st {};
      if (::stat((root + "/" + key).c_str(), &st) != 0) continue;
      fn(ObjectInfo{key, static_cast<uint64_t>(st.st_size)});
    }
  }
}
}  // namespace

void LocalStore::list(const std::string& prefix, const std::function<void(const ObjectInfo&)>& fn) {
  lists_.fetch_add(1);
  // Start at the deepest directory named by the prefix.
  std::string rel;
  size_t slash = prefix.find_last_of('/');
  if (slash != std::string::npos) rel = prefix.substr(0, slash);
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  walk(root_, rel, prefix, fn);
}

void LocalStore::remove(const std::string& key) {
  check_key(key);
  deletes_.fetch_add(1);
  std::string path = path_of(key);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno(errno, "cannot remove", path);
}

void LocalStore::prepare_prefixes(const std::vector<std::string>& prefixes) {
  std::set<std::string> parents;  // each synced once, however many directories it gained
  for (const auto& p : prefixes) {
    std::string dir = p;
    while (!dir.empty() && dir.back() == '/') dir.pop_back();
    if (dir.empty()) continue;
    check_key(dir);
    make_missing(path_of(dir), parents);
  }
  for (const auto& p : parents) sync_dir(p);
}

namespace {
void walk_temporaries(const std::string& dir, time_t cutoff, bool dry_run, uint64_t& count) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> subdirs;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string path = dir + "/" + name;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      subdirs.push_back(path);
    } else if (S_ISREG(st.st_mode) && name.find(".tmp-") != std::string::npos && st.st_mtime < cutoff) {
      if (dry_run || ::unlink(path.c_str()) == 0) ++count;
    }
  }
  ::closedir(d);
  for (const auto& s : subdirs) walk_temporaries(s, cutoff, dry_run, count);
}
}  // namespace

uint64_t LocalStore::remove_abandoned(std::chrono::seconds older_than, bool dry_run) {
  uint64_t count = 0;
  walk_temporaries(root_, ::time(nullptr) - static_cast<time_t>(older_than.count()), dry_run, count);
  return count;
}

std::unique_ptr<ObjectStore> make_local_store(const std::string& root) {
  return std::make_unique<LocalStore>(root);
}

}  // namespace pvesafe::store
