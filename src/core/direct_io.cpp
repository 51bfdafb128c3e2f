#include "core/direct_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

namespace pvesafe {

namespace {
constexpr size_t kAlign = kDirectAlign;
}  // namespace

void AlignedBuffer::Free::operator()(uint8_t* p) const { std::free(p); }

namespace {
// Buffers of several MiB (packs, read blocks) are aligned to and asked to be backed by huge
// pages where the kernel offers them (transparent_hugepage "madvise" mode, Debian's default): a
// 32 MiB pack buffer then takes 16 page faults to fill instead of 8192.
constexpr size_t kHugePage = 2u << 20;

uint8_t* allocate(size_t size) {
  const size_t align = size >= kHugePage ? kHugePage : kAlign;
  const size_t rounded = (size + align - 1) / align * align;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(align, rounded));
  if (p && align == kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);
  return p;
}
}  // namespace

AlignedBuffer::AlignedBuffer(size_t size) : data_(allocate(size)), size_(size), capacity_(size) {
  if (!data_ && size > 0) throw std::bad_alloc();
}

DirectWriter::DirectWriter(int fd, size_t staging_bytes, bool direct)
    : fd_(fd), capacity_(staging_bytes < kAlign ? kAlign : staging_bytes / kAlign * kAlign) {
  flags_ = ::fcntl(fd_, F_GETFL);
  if (flags_ < 0 || !direct) return;
  direct_ = ::fcntl(fd_, F_SETFL, flags_ | O_DIRECT) == 0;
}

DirectWriter::~DirectWriter() { leave_direct(); }

void DirectWriter::leave_direct() {
  if (!direct_) return;
  ::fcntl(fd_, F_SETFL, flags_);
  direct_ = false;
}

bool all_zero(std::span<const uint8_t> d) {
  static const uint8_t zeros[65536] = {};
  for (size_t off = 0; off < d.size();) {
    const size_t n = std::min(sizeof zeros, d.size() - off);
    if (std::memcmp(d.data() + off, zeros, n) != 0) return false;
    off += n;
  }
  return true;
}

int write_fully(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

// Writes n bytes at p (aligned memory, n a multiple of kAlign) directly; on a refusal, or an odd
// short write, falls back to the page cache for them and everything after.
int DirectWriter::write_aligned(const uint8_t* p, size_t n) {
  size_t off = 0;
  while (direct_ && off < n) {
    ssize_t w = ::write(fd_, p + off, n - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EINVAL) return errno;
      leave_direct();
      break;
    }
    off += static_cast<size_t>(w);
    if (off % kAlign != 0) leave_direct();
  }
  return off < n ? write_fully(fd_, p + off, n - off) : 0;
}

// The staging buffer grows with use up to its capacity (a small tail costs a small buffer).
void DirectWriter::reserve(size_t n) {
  if (buf_.size() >= n) return;
  size_t want = std::min(capacity_, std::max((n + kAlign - 1) / kAlign * kAlign, 2 * buf_.size()));
  AlignedBuffer bigger(want);
  if (staged_ > 0) std::memcpy(bigger.data(), buf_.data(), staged_);
  buf_ = std::move(bigger);
}

int DirectWriter::flush_direct() {
  int e = write_aligned(buf_.data(), staged_);
  staged_ = 0;
  return e;
}

int DirectWriter::write(const uint8_t* p, size_t n) {
  if (!direct_) return write_fully(fd_, p, n);
  if (staged_ == 0 && reinterpret_cast<uintptr_t>(p) % kAlign == 0 && n >= kAlign) {
    // Aligned memory (an AlignedBuffer): straight from the caller's buffer.
    const size_t whole = n / kAlign * kAlign;
    if (int e = write_aligned(p, whole)) return e;
    p += whole;
    n -= whole;
    if (!direct_) return write_fully(fd_, p, n);
  }
  while (n > 0) {
    size_t take = std::min(n, capacity_ - staged_);
    reserve(staged_ + take);
    std::memcpy(buf_.data() + staged_, p, take);
    staged_ += take;
    p += take;
    n -= take;
    if (staged_ == capacity_) {
      if (int e = flush_direct()) return e;
      if (!direct_) return write_fully(fd_, p, n);
    }
  }
  return 0;
}

int DirectWriter::skip(size_t n) {
  // The staged bytes start at an aligned offset, so at an aligned skip they are whole blocks.
  if (n % kAlign != 0 || staged_ % kAlign != 0) return EINVAL;
  if (staged_ > 0) {
    if (int e = flush_direct()) return e;
  }
  if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) return errno;
  skipped_ = skipped_ || n > 0;
  return 0;
}

int DirectWriter::finish() {
  int e = 0;
  if (!direct_) {
    e = staged_ > 0 ? write_fully(fd_, buf_.data(), staged_) : 0;
    staged_ = 0;
  } else {
    const size_t aligned = staged_ / kAlign * kAlign, tail = staged_ - aligned;
    staged_ = aligned;
    e = flush_direct();
    leave_direct();
    if (e == 0) e = write_fully(fd_, buf_.data() + aligned, tail);
  }
  if (e != 0 || !skipped_) return e;
  // A hole at the end is not part of the file until its size says so.
  const off_t end = ::lseek(fd_, 0, SEEK_CUR);
  if (end < 0) return errno;
  return ::ftruncate(fd_, end) == 0 ? 0 : errno;
}

}  // namespace pvesafe
