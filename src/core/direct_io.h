// Sequential file writes that bypass the page cache (O_DIRECT) where the file system allows it.
//
// Backups write gigabytes that nobody reads back soon. Through the page cache, each byte is
// copied into freshly allocated cache pages by the kernel, then written back, and fsync waits for
// that: on the machines measured this copy cost more CPU than compressing the data. A direct
// write hands the (aligned) user buffer to the device instead. The page cache also keeps the
// user's own working set instead of being filled with backup objects.
//
// DirectWriter writes whole blocks directly, from the caller's memory when it is aligned (an
// AlignedBuffer), otherwise staged through an aligned buffer of its own; finish()
// writes the unaligned tail through the page cache (O_DIRECT cleared), so files of any size come
// out exactly as written. Where the file system refuses O_DIRECT (tmpfs, some network and FUSE
// file systems), every write silently goes through the page cache instead. Callers still fsync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace pvesafe {

// Alignment of the memory, offsets and lengths of direct writes (a multiple of every logical
// block size in use).
inline constexpr size_t kDirectAlign = 4096;

// True when every byte of `d` is zero (unused disk space: cheap to recognise, worth skipping).
bool all_zero(std::span<const uint8_t> d);

// Writes all n bytes to fd (retrying short writes and EINTR). Returns 0, or the errno of the
// write that failed.
int write_fully(int fd, const uint8_t* p, size_t n);

// A heap buffer aligned to kDirectAlign, so DirectWriter can hand it to the device without a copy.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t size);  // uninitialised bytes; throws std::bad_alloc
  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  std::span<const uint8_t> span() const { return {data_.get(), size_}; }
  void shrink(size_t size) { size_ = size < size_ ? size : size_; }  // the memory stays
  // The size it was allocated with (shrink keeps the memory): a buffer can be used again.
  size_t capacity() const { return capacity_; }
  void restore() { size_ = capacity_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

class DirectWriter {
 public:
  // `fd` is a regular file opened for writing, positioned at offset 0 (a new or truncated file).
  // `staging_bytes` (a multiple of 4096) bounds the memory used and the size of each write.
  // `direct` false: every write goes through the page cache (skip and finish work the same).
  explicit DirectWriter(int fd, size_t staging_bytes = 1 << 20, bool direct = true);
  ~DirectWriter();
  DirectWriter(const DirectWriter&) = delete;
  DirectWriter& operator=(const DirectWriter&) = delete;

  // Appends `n` bytes. Returns 0, or the errno of a failed write (the file is then incomplete).
  [[nodiscard]] int write(const uint8_t* p, size_t n);
  // Leaves a hole of `n` bytes instead of writing zeros (a sparse file). Only at a file offset
  // that is a multiple of kDirectAlign and with n a multiple of it. Returns 0 or an errno.
  [[nodiscard]] int skip(size_t n);
  // Writes what is staged, extends the file over a hole at its end, and leaves the fd in its
  // original mode. Returns 0 or an errno.
  [[nodiscard]] int finish();

  // Whether writes currently bypass the page cache (false after a refusal).
  bool direct() const { return direct_; }

 private:
  int write_aligned(const uint8_t* p, size_t n);
  int flush_direct();
  void reserve(size_t n);
  void leave_direct();

  int fd_;
  int flags_ = 0;
  bool direct_ = false;
  size_t capacity_;
  size_t staged_ = 0;
  bool skipped_ = false;  // a hole was left: finish() makes sure the file reaches its end
  AlignedBuffer buf_;     // grows on use up to capacity_
};

}  // namespace pvesafe
