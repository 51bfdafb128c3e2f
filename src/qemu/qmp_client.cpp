#include "qemu/qmp_client.h"

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

namespace {
using Clock = std::chrono::steady_clock;
}

QmpClient QmpClient::connect(const std::string& path, Millis timeout) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    throw Error(Errc::kUsage, "QMP socket path is too long: " + path);
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const auto deadline = Clock::now() + timeout;
  int err = 0;
  for (;;) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Error(Errc::kIo, std::string("socket: ") + std::strerror(errno));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      QmpClient c(fd);
      c.path_ = path;
      auto greeting = c.read_message(deadline);
      if (!greeting || !greeting->contains("QMP")) {
        throw Error(Errc::kRemote, "no QMP greeting on " + path, "is this QEMU's -qmp socket?");
      }
      c.greeting_ = std::move(*greeting);
      c.execute("qmp_capabilities", Json::object(), timeout);
      return c;
    }
    err = errno;
    ::close(fd);
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(Millis(50));
  }
  throw Error(Errc::kRemote,
              "cannot connect to QEMU's QMP socket " + path + ": " + std::strerror(err),
              "is QEMU running with -qmp unix:" + path + ",server=on?");
}

QmpClient::QmpClient(QmpClient&& o) noexcept { *this = std::move(o); }

QmpClient& QmpClient::operator=(QmpClient&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    buf_ = std::move(o.buf_);
    events_ = std::move(o.events_);
    greeting_ = std::move(o.greeting_);
    next_id_ = o.next_id_;
    path_ = std::move(o.path_);
  }
  return *this;
}

QmpClient::~QmpClient() { close(); }

void QmpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::optional<QmpClient::Json> QmpClient::read_message(Clock::time_point deadline) {
  for (;;) {
    auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      try {
        return Json::parse(line);
      } catch (const Json::parse_error& e) {
        throw Error(Errc::kRemote, std::string("QEMU sent a malformed QMP message: ") + e.what());
      }
    }
    if (fd_ < 0) throw Error(Errc::kRemote, "the QMP connection is closed");
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::max<long>(0, left)));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(Errc::kIo, std::string("poll on the QMP socket: ") + std::strerror(errno));
    }
    if (r == 0) return std::nullopt;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close();
      throw Error(Errc::kRemote, "QEMU closed its QMP socket " + path_ + " (did it exit?)");
    }
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

QmpClient::Json QmpClient::execute(const std::string& command, const Json& arguments,
                                   Millis timeout) {
  if (fd_ < 0) throw Error(Errc::kRemote, "the QMP connection is closed");
  const uint64_t id = next_id_++;
  Json msg{{"execute", command}, {"id", id}};
  if (!arguments.is_null() && !arguments.empty()) msg["arguments"] = arguments;
  std::string line = msg.dump() + "\n";
  size_t done = 0;
  while (done < line.size()) {
    ssize_t w = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(Errc::kRemote, "cannot send " + command + " to QEMU: " + std::strerror(errno));
    }
    done += static_cast<size_t>(w);
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto m = read_message(deadline);
    if (!m)
      throw Error(Errc::kRemote, "QEMU did not answer " + command + " within " +
                                     std::to_string(timeout.count() / 1000) + " s");
    if (m->contains("event")) {
      events_.push_back(std::move(*m));
      continue;
    }
    if (!m->contains("id") || (*m)["id"] != id) continue;  // a reply to a call that timed out
    if (m->contains("error")) {
      const auto& e = (*m)["error"];
      throw Error(Errc::kRemote, "QEMU refused " + command + ": " + e.value("desc", e.dump()));
    }
    return m->value("return", Json::object());
  }
}

std::optional<QmpClient::Json> QmpClient::wait_event(
    const std::string& name, Millis timeout, const std::function<bool(const Json&)>& match) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    for (auto it = events_.begin(); it != events_.end(); ++it) {
      if ((*it)["event"] == name && (!match || match(*it))) {
        Json e = std::move(*it);
        events_.erase(it);
        return e;
      }
    }
    auto m = read_message(deadline);
    if (!m) return std::nullopt;
    if (m->contains("event")) events_.push_back(std::move(*m));
  }
}

std::vector<QmpClient::Json> QmpClient::take_events(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto m = read_message(deadline);
    if (!m) break;
    if (m->contains("event")) events_.push_back(std::move(*m));
  }
  std::vector<Json> out(std::make_move_iterator(events_.begin()),
                        std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

}  // namespace pvesafe::qemu
