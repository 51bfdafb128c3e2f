#include "nbd/transport.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/error.h"

namespace pvesafe::nbd {

PlainTransport::PlainTransport(int fd) : fd_(fd) {}

PlainTransport::~PlainTransport() {
  if (fd_ >= 0) ::close(fd_);
}

int PlainTransport::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

bool PlainTransport::read_exact(uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd_, buf + got, n - got, 0);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) {
      if (got == 0) return false;
      throw Error(Errc::kIo, "the NBD client closed the connection in the middle of a message");
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      throw Error(Errc::kTransient, "the NBD client sent nothing within the handshake timeout");
    }
    throw Error(Errc::kIo, std::string("NBD connection read failed: ") + std::strerror(errno));
  }
  return true;
}

void PlainTransport::write_all(const std::vector<Piece>& pieces) {
  std::vector<iovec> iov;
  iov.reserve(pieces.size());
  for (const auto& p : pieces) {
    if (!p.empty()) iov.push_back({const_cast<uint8_t*>(p.data()), p.size()});
  }
  std::lock_guard lock(write_mu_);
  size_t first = 0;
  while (first < iov.size()) {
    msghdr msg{};
    msg.msg_iov = iov.data() + first;
    msg.msg_iovlen = std::min<size_t>(iov.size() - first, IOV_MAX);
    ssize_t w = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(Errc::kIo, std::string("NBD connection write failed: ") + std::strerror(errno));
    }
    auto left = static_cast<size_t>(w);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (left > 0) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
}

void PlainTransport::set_read_timeout(std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

}  // namespace pvesafe::nbd
