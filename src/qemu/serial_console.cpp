#include "qemu/serial_console.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "core/error.h"

namespace pvesafe::qemu {

SerialConsole SerialConsole::connect(const std::string& path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path))
    throw Error(Errc::kUsage, "serial socket path is too long: " + path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int err = 0;
  for (;;) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Error(Errc::kIo, std::string("socket: ") + std::strerror(errno));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
      return SerialConsole(fd);
    err = errno;
    ::close(fd);
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw Error(Errc::kRemote,
              "cannot connect to the guest's serial console " + path + ": " + std::strerror(err));
}

SerialConsole::SerialConsole(SerialConsole&& o) noexcept { *this = std::move(o); }

SerialConsole& SerialConsole::operator=(SerialConsole&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    buf_ = std::move(o.buf_);
  }
  return *this;
}

SerialConsole::~SerialConsole() { close(); }

void SerialConsole::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void SerialConsole::send_line(const std::string& line) {
  std::string s = line + "\n";
  size_t done = 0;
  while (done < s.size()) {
    ssize_t w = ::send(fd_, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(Errc::kRemote,
                  std::string("writing to the guest's serial console: ") + std::strerror(errno));
    }
    done += static_cast<size_t>(w);
  }
}

std::optional<std::string> SerialConsole::read_line(
    std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left.count())));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(Errc::kRemote, "the guest's serial console closed (QEMU exited?)");
    buf_.append(tmp, static_cast<size_t>(n));
    if (buf_.size() > (1u << 20)) buf_.erase(0, buf_.size() - (1u << 20));  // a chatty guest
  }
}

}  // namespace pvesafe::qemu
