#include "repo/stream.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/dir_sync.h"
#include "core/direct_io.h"
#include "core/error.h"

namespace pvesafe::repo {

namespace {
[[noreturn]] void io_error(int e, const std::string& what, const std::string& path) {
  if (e == ENOSPC || e == EDQUOT) throw Error(Errc::kIo, "disk full writing " + path, "free space and retry");
  throw Error(Errc::kIo, what + " " + path + ": " + std::strerror(e));
}

std::string base_name(const std::string& path) {
  size_t s = path.find_last_of('/');
  return s == std::string::npos ? path : path.substr(s + 1);
}

size_t read_fd(int fd, uint8_t* buf, size_t n, const std::string& name) {
  for (;;) {
    ssize_t r = ::read(fd, buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno == EINTR) continue;
    io_error(errno, "cannot read", name);
  }
}

void write_fd(int fd, const uint8_t* p, size_t n, const std::string& name) {
  if (int e = write_fully(fd, p, n)) io_error(e, "cannot write", name);
}
}  // namespace

FileSource::FileSource(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    int e = errno;
    if (e == ENOENT) throw Error(Errc::kNotFound, "source file " + path + " does not exist");
    io_error(e, "cannot open source", path);
  }
  struct stat st {};
  if (fstat(fd_, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      ::close(fd_);
      fd_ = -1;
      throw Error(Errc::kIo, "source " + path + " is a directory", "give a file, a block device or --stdin");
    }
    if (S_ISREG(st.st_mode)) {
      size_ = static_cast<uint64_t>(st.st_size);
      posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
  }
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

size_t FileSource::read(uint8_t* buf, size_t n) { return read_fd(fd_, buf, n, path_); }
std::string FileSource::name() const { return base_name(path_); }
std::optional<uint64_t> FileSource::size_hint() const { return size_; }

FdSource::FdSource(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
size_t FdSource::read(uint8_t* buf, size_t n) { return read_fd(fd_, buf, n, name_); }

namespace {
bool is_null_device(const struct stat& st) {
  return S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3;
}

// Renames without replacing an existing PATH; on file systems without RENAME_NOREPLACE, checks
// first (a narrow window instead of none). Returns 0 or an errno (EEXIST: PATH exists).
int rename_noreplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  struct stat st {};
  if (::lstat(to.c_str(), &st) == 0) return EEXIST;
  return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

[[noreturn]] void target_exists(const std::string& path, const std::string& what) {
  throw Error(Errc::kUsage, "restore target " + path + " " + what,
              "add --force to replace it, or choose another name");
}
}  // namespace

FileSink::FileSink(const std::string& path, FileSinkOptions options)
    : path_(path), force_(options.force) {
  if (path.empty() || path == "-") throw Error(Errc::kUsage, "FileSink needs a file path");
  struct stat st {};
  const bool exists = ::lstat(path.c_str(), &st) == 0;
  if (!exists && errno != ENOENT) io_error(errno, "cannot inspect", path);
  if (exists) {
    if (S_ISLNK(st.st_mode)) {
      throw Error(Errc::kUsage,
                  "restore target " + path + " is a symbolic link, which pvesafe does not follow",
                  "give the path it points to (readlink -f " + path + ")");
    }
    if (S_ISDIR(st.st_mode)) {
      throw Error(Errc::kUsage, "restore target " + path + " is a directory", "give a file name");
    }
    if (!force_ && S_ISREG(st.st_mode)) target_exists(path, "already exists");
    if (!force_ && !is_null_device(st) && (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode))) {
      throw Error(Errc::kUsage,
                  "restore target " + path + " is a " +
                      (S_ISBLK(st.st_mode) ? "block" : "character") + " device",
                  "add --force to overwrite it with the snapshot");
    }
  }
  if (exists && !S_ISREG(st.st_mode)) {
    // Devices (a disk, /dev/null) and FIFOs are written in place: opened without following a
    // link and without creating anything, then checked to be what lstat saw. A block device is
    // opened exclusively, which fails while it is mounted or otherwise in use.
    const bool block = S_ISBLK(st.st_mode);
    fd_ = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | (block ? O_EXCL : 0));
    if (fd_ < 0 && block && errno == EBUSY) {
      throw Error(Errc::kIo,
                  "restore target " + path + " is in use (mounted, or held by another program)",
                  "unmount it or stop what holds it, then run the restore again");
    }
    if (fd_ < 0) io_error(errno, "cannot open", path);
    struct stat opened {};
    if (::fstat(fd_, &opened) != 0 || opened.st_dev != st.st_dev || opened.st_ino != st.st_ino) {
      ::close(fd_);
      fd_ = -1;
      throw Error(Errc::kIo, "restore target " + path + " changed while it was being opened",
                  "check what else writes there and run the restore again");
    }
    device_ = S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode);
    if (block) sync_ = std::make_unique<BackgroundSync>(fd_, kSyncEvery);
    return;
  }
  // A partial file left by an interrupted restore, or anything planted under its name (a link),
  // is removed rather than opened; the new one is created exclusively, never through a link.
  partial_ = path + ".pvesafe-partial";
  if (::unlink(partial_.c_str()) != 0 && errno != ENOENT) {
    io_error(errno, "cannot remove the old", partial_);
  }
  fd_ = ::open(partial_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    const int e = errno;
    partial_.clear();  // not ours: never removed by the destructor
    if (e == EEXIST) {
      throw Error(Errc::kIo, path + ".pvesafe-partial appeared while the restore created it",
                  "another process restores to the same file; let it finish or stop it");
    }
    io_error(e, "cannot create", path + ".pvesafe-partial");
  }
  // Through the page cache: write() returns once the bytes are copied, and the device writes
  // them back while the next chunks are fetched; sync_ keeps what is dirty (and cached) bounded.
  // Written directly instead, each write waited for the device, and the restore of a 1 GiB disk
  // image from RGW took 1.18x as long (docs/s3.md).
  writer_ = std::make_unique<DirectWriter>(fd_, 4 << 20, /*direct=*/false);
  sync_ = std::make_unique<BackgroundSync>(fd_, kSyncEvery);
  sparse_ = options.sparse;
}

FileSink::~FileSink() {
  sync_.reset();  // its thread syncs fd_
  writer_.reset();  // before the descriptor it changes is closed
  if (fd_ >= 0) ::close(fd_);
  if (!finished_ && !partial_.empty()) ::unlink(partial_.c_str());
}

std::optional<uint64_t> FileSink::device_bytes_written() const {
  if (!device_) return std::nullopt;
  return offset_;
}

void FileSink::put(const uint8_t* buf, size_t n) {
  if (int e = writer_->write(buf, n)) io_error(e, "cannot write", partial_);
  sync_->wrote(n, offset_);  // callers have counted the bytes into offset_
}

void FileSink::put_direct(const uint8_t* buf, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd_, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSPC && device_) {
        throw Error(Errc::kIo, "disk full writing " + path_,
                    "the device is smaller than the snapshot; restore onto a larger one");
      }
      io_error(errno, "cannot write", path_);
    }
    buf += w;
    n -= static_cast<size_t>(w);
    offset_ += static_cast<uint64_t>(w);
    if (sync_) sync_->wrote(static_cast<uint64_t>(w), offset_);
  }
}

void FileSink::put_held_zeros() {
  static const uint8_t zeros[kSparseBlock] = {};
  if (held_zeros_ > 0) put(zeros, held_zeros_);
  held_zeros_ = 0;
}

void FileSink::write(const uint8_t* buf, size_t n) {
  if (!writer_) return put_direct(buf, n);
  if (!sparse_) {
    offset_ += n;
    return put(buf, n);
  }
  // Whole zero blocks at block-aligned offsets become holes; the bytes between go out in one
  // write per run. The zeros at the start of a block are held back (counted, not copied) until
  // the block turns out all zero or not, across calls.
  const uint8_t* run = buf;
  size_t run_len = 0;
  auto flush_run = [&] {
    if (run_len > 0) put(run, run_len);
    run_len = 0;
  };
  while (n > 0) {
    const size_t into = static_cast<size_t>(offset_ % kSparseBlock);
    const size_t take = std::min(n, kSparseBlock - into);
    if (held_zeros_ == into && all_zero({buf, take})) {
      flush_run();
      held_zeros_ += take;
      if (held_zeros_ == kSparseBlock) {
        if (int e = writer_->skip(kSparseBlock)) io_error(e, "cannot write", partial_);
        held_zeros_ = 0;
      }
    } else {
      put_held_zeros();
      if (run_len == 0) run = buf;
      run_len += take;
    }
    buf += take;
    n -= take;
    offset_ += take;
  }
  flush_run();
}

void FileSink::write_zeros(uint64_t n) {
  if (!writer_ || !sparse_) return ByteSink::write_zeros(n);
  static const uint8_t zeros[kSparseBlock] = {};
  // Up to a block boundary through write(), which holds zeros back; whole blocks become holes
  // without touching memory, so a mostly empty disk restores in time proportional to its data.
  if (const size_t into = static_cast<size_t>(offset_ % kSparseBlock); into != 0) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, kSparseBlock - into));
    write(zeros, k);
    n -= k;
  }
  if (n >= kSparseBlock) {
    const uint64_t whole = n / kSparseBlock * kSparseBlock;
    if (int e = writer_->skip(static_cast<size_t>(whole))) io_error(e, "cannot write", partial_);
    offset_ += whole;
    n -= whole;
  }
  if (n > 0) write(zeros, static_cast<size_t>(n));
}

void FileSink::finish() {
  if (writer_) {
    put_held_zeros();  // the file ends inside a block that is zero so far
    if (int e = writer_->finish()) io_error(e, "cannot write", partial_);
    writer_.reset();
  }
  if (sync_) {
    const int e = sync_->stop();
    sync_.reset();
    if (e != 0 && e != EINVAL) io_error(e, "cannot sync", path_);
  }
  if (::fsync(fd_) != 0 && errno != EINVAL) io_error(errno, "cannot sync", path_);
  if (::close(fd_) != 0) {
    fd_ = -1;
    io_error(errno, "cannot write", path_);
  }
  fd_ = -1;
  if (!partial_.empty()) {
    const int e = force_ ? (::rename(partial_.c_str(), path_.c_str()) == 0 ? 0 : errno)
                         : rename_noreplace(partial_, path_);
    if (e == EEXIST) target_exists(path_, "appeared during the restore and was not replaced");
    if (e != 0) io_error(e, "cannot rename into", path_);
    partial_.clear();  // the name is PATH now; whatever appears under the old name is not ours
    finished_ = true;
    // The rename is durable only once the directory holding both names is.
    const std::string dir = parent_directory(path_);
    if (int d = sync_directory(dir)) io_error(d, "cannot sync directory", dir);
  }
  finished_ = true;
}

FdSink::FdSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
void FdSink::write(const uint8_t* buf, size_t n) { write_fd(fd_, buf, n, name_); }
void FdSink::finish() {}

}  // namespace pvesafe::repo
