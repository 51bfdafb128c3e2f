#include "core/background_sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace pvesafe {

BackgroundSync::BackgroundSync(int fd, uint64_t every) : fd_(fd), every_(every == 0 ? 1 : every) {}

BackgroundSync::~BackgroundSync() { (void)stop(); }

void BackgroundSync::wrote(uint64_t n, uint64_t end) {
  since_ += n;
  if (since_ < every_) return;
  since_ = 0;
  {
    std::lock_guard lock(mu_);
    if (stopping_ || error_ != 0) return;
    wanted_ = true;
    end_ = end;
  }
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { run(); });
  } else {
    cv_.notify_one();
  }
}

void BackgroundSync::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return wanted_ || stopping_; });
    if (stopping_) return;  // the caller syncs what is left
    wanted_ = false;
    const uint64_t end = end_;
    lock.unlock();
    const int e = ::fdatasync(fd_) == 0 ? 0 : errno;
    if (e == 0 && end > dropped_) {
      ::posix_fadvise(fd_, static_cast<off_t>(dropped_), static_cast<off_t>(end - dropped_),
                      POSIX_FADV_DONTNEED);
      dropped_ = end;
    }
    lock.lock();
    ++syncs_;
    if (e != 0 && e != EINTR) {
      error_ = e;
      return;
    }
  }
}

int BackgroundSync::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  return error_;
}

uint64_t BackgroundSync::syncs() const {
  std::lock_guard lock(mu_);
  return syncs_;
}

}  // namespace pvesafe
