#include "core/block_source.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace pvesafe {

FileBlockSource::FileBlockSource(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    int err = errno;
    throw Error(err == ENOENT ? Errc::kNotFound : Errc::kIo,
                "cannot open " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    throw Error(Errc::kIo, "cannot stat " + path + ": " + std::strerror(err));
  }
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (ioctl(fd_, BLKGETSIZE64, &bytes) != 0) {
      int err = errno;
      ::close(fd_);
      throw Error(Errc::kIo, "cannot read the size of " + path + ": " + std::strerror(err));
    }
    size_ = bytes;
  } else if (S_ISREG(st.st_mode)) {
    size_ = static_cast<uint64_t>(st.st_size);
  } else {
    ::close(fd_);
    throw Error(Errc::kIo, path + " is neither a regular file nor a block device");
  }
}

FileBlockSource::~FileBlockSource() {
  if (fd_ >= 0) ::close(fd_);
}

void FileBlockSource::read(uint64_t offset, uint8_t* buf, size_t n) {
  if (offset > size_ || n > size_ - offset) {
    throw Error(Errc::kUsage, "read of " + std::to_string(n) + " bytes at " +
                                  std::to_string(offset) + " is beyond the end of " + path_ + " (" +
                                  std::to_string(size_) + " bytes)");
  }
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd_, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(Errc::kIo, "read error on " + path_ + " at byte " +
                                 std::to_string(offset + done) + ": " + std::strerror(errno));
    }
    if (r == 0) {
      throw Error(Errc::kIo,
                  path_ + " ended at byte " + std::to_string(offset + done) + " (it shrank?)");
    }
    done += static_cast<size_t>(r);
  }
  fetched_.fetch_add(n, std::memory_order_relaxed);
}

std::vector<BlockExtent> FileBlockSource::extents(uint64_t offset, uint64_t n) {
  std::vector<BlockExtent> out;
  const uint64_t end = std::min(size_, offset + n);
  uint64_t pos = offset;
  while (pos < end) {
    off_t data = ::lseek(fd_, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) {  // only a hole up to the end of the file
        out.push_back({pos, end - pos, true});
        break;
      }
      // The file system cannot tell (or a device): all data.
      out.push_back({pos, end - pos, false});
      break;
    }
    uint64_t d = std::min<uint64_t>(static_cast<uint64_t>(data), end);
    if (d > pos) out.push_back({pos, d - pos, true});
    if (d >= end) break;
    off_t hole = ::lseek(fd_, static_cast<off_t>(d), SEEK_HOLE);
    uint64_t h = hole < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    out.push_back({d, h - d, false});
    pos = h;
  }
  return out;
}

}  // namespace pvesafe
