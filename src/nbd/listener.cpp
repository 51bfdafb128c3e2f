#include "nbd/listener.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace pvesafe::nbd {

namespace {

std::string errno_text() { return std::strerror(errno); }

bool is_loopback(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return in6->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

// A socket file at `path`: is a server still accepting on it?
bool socket_alive(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  bool alive = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return alive;
}

std::string uri_escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

void split_host_port(const std::string& hp, std::string& host, uint16_t& port) {
  std::string port_text;
  if (!hp.empty() && hp[0] == '[') {
    auto close = hp.find(']');
    if (close == std::string::npos || close + 1 >= hp.size() || hp[close + 1] != ':') {
      throw Error(Errc::kUsage, "bad listen address '" + hp + "'",
                  "use [IPV6]:PORT, e.g. [::1]:10809");
    }
    host = hp.substr(1, close - 1);
    port_text = hp.substr(close + 2);
  } else {
    auto colon = hp.rfind(':');
    if (colon == std::string::npos || hp.find(':') != colon) {
      throw Error(Errc::kUsage, "bad listen address '" + hp + "'",
                  "use HOST:PORT, e.g. 127.0.0.1:10809 ([::1]:10809 for IPv6)");
    }
    host = hp.substr(0, colon);
    port_text = hp.substr(colon + 1);
  }
  if (host.empty() || port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port_text) > 65535) {
    throw Error(Errc::kUsage, "bad listen address '" + hp + "'",
                "use HOST:PORT, e.g. 127.0.0.1:10809");
  }
  port = static_cast<uint16_t>(std::stoul(port_text));
}

Listener::~Listener() { close(); }

Listener::Listener(Listener&& o) noexcept { *this = std::move(o); }

Listener& Listener::operator=(Listener&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    remote_ = o.remote_;
    unix_path_ = std::move(o.unix_path_);
    o.unix_path_.clear();
    unix_dev_ = o.unix_dev_;
    unix_ino_ = o.unix_ino_;
    host_ = std::move(o.host_);
    port_ = o.port_;
  }
  return *this;
}

void Listener::close() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  if (!unix_path_.empty()) {
    struct stat st {};
    if (::lstat(unix_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == unix_dev_ &&
        st.st_ino == unix_ino_) {
      ::unlink(unix_path_.c_str());
    }
  }
}

Listener Listener::unix_socket(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    throw Error(Errc::kUsage,
                "Unix socket path '" + path + "' is empty or longer than " +
                    std::to_string(sizeof(addr.sun_path) - 1) + " bytes",
                "choose a shorter path, e.g. under /run");
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw Error(Errc::kUsage, path + " exists and is not a socket",
                  "choose another --socket path");
    }
    if (socket_alive(path)) {
      throw Error(Errc::kUsage, "another server is listening on " + path,
                  "stop it or choose another --socket path");
    }
    ::unlink(path.c_str());  // stale: its server is gone
  }
  Listener l;
  l.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l.fd_ < 0) throw Error(Errc::kIo, "cannot create a Unix socket: " + errno_text());
  // Linux creates the socket file with this inode's mode (minus the umask): owner only, at once.
  ::fchmod(l.fd_, 0600);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(l.fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    throw Error(err == ENOENT ? Errc::kNotFound : Errc::kIo,
                "cannot create the socket " + path + ": " + std::strerror(err),
                "check that the directory exists and is writable");
  }
  if (::chmod(path.c_str(), 0600) != 0 || ::lstat(path.c_str(), &st) != 0 ||
      (st.st_mode & 077) != 0) {
    ::unlink(path.c_str());
    throw Error(Errc::kIo, "cannot restrict the socket " + path + " to its owner (mode 0600)");
  }
  l.unix_path_ = path;
  l.unix_dev_ = st.st_dev;
  l.unix_ino_ = st.st_ino;
  if (::listen(l.fd_, 64) != 0)
    throw Error(Errc::kIo, "cannot listen on " + path + ": " + errno_text());
  return l;
}

Listener Listener::tcp(const std::string& host_port, bool allow_remote) {
  std::string host;
  uint16_t port = 0;
  split_host_port(host_port, host, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || !res) {
    throw Error(Errc::kUsage, "cannot resolve listen address '" + host + "': " + gai_strerror(rc),
                "use an IP address, e.g. 127.0.0.1:10809");
  }
  bool loopback = true;
  for (addrinfo* a = res; a; a = a->ai_next) loopback = loopback && is_loopback(a->ai_addr);
  if (!loopback && !allow_remote) {
    ::freeaddrinfo(res);
    throw Error(
        Errc::kUsage,
        "refusing to listen on " + host_port +
            ": it is reachable from other machines and the export is decrypted disk content",
        "listen on 127.0.0.1 or a Unix socket (and forward it over SSH), or give "
        "--allow-remote with --tls-cert, --tls-key and --tls-ca");
  }
  Listener l;
  std::string last_error;
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 64) == 0) {
      l.fd_ = fd;
      break;
    }
    last_error = errno_text();
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (l.fd_ < 0) {
    throw Error(Errc::kIo, "cannot listen on " + host_port + ": " + last_error,
                "choose a free port or another address");
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(l.fd_, reinterpret_cast<sockaddr*>(&ss), &len);
  l.port_ = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  l.host_ = host;
  l.remote_ = !loopback;
  return l;
}

std::string Listener::describe() const {
  if (is_unix()) return "unix:" + unix_path_;
  if (host_.find(':') != std::string::npos) return "[" + host_ + "]:" + std::to_string(port_);
  return host_ + ":" + std::to_string(port_);
}

std::string Listener::uri(const std::string& export_name, bool tls) const {
  const std::string scheme = tls ? "nbds" : "nbd";
  if (is_unix()) return scheme + "+unix:///" + uri_escape(export_name) + "?socket=" + unix_path_;
  return scheme + "://" + describe() + "/" + uri_escape(export_name);
}

}  // namespace pvesafe::nbd
