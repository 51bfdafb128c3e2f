#include "crypto/assuan.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/secret.h"

namespace pvesafe::crypto::detail {

namespace {

constexpr size_t kMaxLine = 1000;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Appends the unescaped form of s (percent escapes) to out, growing it as needed.
void unescape_into(std::string_view s, WipedBytes& out) {
  WipedBytes grown(out.size() + s.size());
  std::copy(out.data(), out.data() + out.size(), grown.data());
  size_t n = out.size();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      grown[n++] = static_cast<uint8_t>(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
      i += 2;
    } else {
      grown[n++] = static_cast<uint8_t>(s[i]);
    }
  }
  grown.shrink(n);
  out = std::move(grown);
}

}  // namespace

AssuanConnection::AssuanConnection(const std::string& socket_path) : socket_(socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    throw Error(Errc::kConfig, "gpg-agent socket path is too long: " + socket_path);
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    throw Error(Errc::kConfig,
                "cannot connect to gpg-agent at " + socket_path + ": " + std::strerror(e),
                "start it (gpgconf --launch gpg-agent) and check GNUPGHOME");
  }
  std::string line;
  read_line(line);
  if (line.rfind("OK", 0) != 0) broken("no greeting");
}

AssuanConnection::~AssuanConnection() {
  if (fd_ >= 0) ::close(fd_);
  wipe(buf_);
}

void AssuanConnection::broken(const std::string& what) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  throw Error(Errc::kIo, "gpg-agent connection (" + socket_ + ") failed: " + what,
              "check that gpg-agent is running (gpgconf --launch gpg-agent)");
}

void AssuanConnection::send_all(std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) broken(std::strerror(errno));
    s.remove_prefix(static_cast<size_t>(n));
  }
}

void AssuanConnection::send_data(std::span<const uint8_t> data) {
  static const char* hex = "0123456789ABCDEF";
  std::string line;
  line.reserve(kMaxLine + 8);
  auto flush = [&] {
    line += '\n';
    send_all(line);
    wipe(line);
    line.reserve(kMaxLine + 8);
  };
  for (uint8_t b : data) {
    if (line.empty()) line = "D ";
    if (b == '%' || b == '\r' || b == '\n' || b == 0) {
      line += '%';
      line += hex[b >> 4];
      line += hex[b & 15];
    } else {
      line += static_cast<char>(b);
    }
    if (line.size() >= kMaxLine - 4) flush();
  }
  if (!line.empty()) flush();
  wipe(line);
}

void AssuanConnection::read_line(std::string& line) {
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      line.assign(buf_, 0, nl);
      // Consume, wiping the bytes that move.
      std::string rest(buf_, nl + 1);
      wipe(buf_);
      buf_ = std::move(rest);
      return;
    }
    if (buf_.size() > 64 * 1024) broken("line too long");
    char tmp[4096];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) broken(n == 0 ? "connection closed" : std::strerror(errno));
    if (buf_.capacity() < buf_.size() + static_cast<size_t>(n)) {
      std::string bigger;
      bigger.reserve((buf_.size() + static_cast<size_t>(n)) * 2);
      bigger.append(buf_);
      wipe(buf_);
      buf_.swap(bigger);
    }
    buf_.append(tmp, static_cast<size_t>(n));
    wipe(tmp, sizeof tmp);
  }
}

AssuanReply AssuanConnection::transact(std::string_view command, const Inquire& inquire) {
  if (fd_ < 0) throw Error(Errc::kIo, "gpg-agent connection is closed");
  if (command.size() > kMaxLine || command.find('\n') != std::string_view::npos) {
    throw Error(Errc::kInternal, "Assuan command line too long or with a newline");
  }
  send_all(std::string(command) + "\n");
  AssuanReply reply;
  std::string line;
  struct Wipe {
    std::string& s;
    ~Wipe() { wipe(s); }
  } wipe_line{line};
  for (;;) {
    read_line(line);
    if (line == "OK" || line.rfind("OK ", 0) == 0) {
      reply.ok = true;
      return reply;
    }
    if (line.rfind("ERR ", 0) == 0) {
      std::string_view rest = std::string_view(line).substr(4);
      size_t sp = rest.find(' ');
      reply.error =
          static_cast<unsigned>(std::strtoul(std::string(rest.substr(0, sp)).c_str(), nullptr, 10));
      reply.error_text = sp == std::string_view::npos ? "" : std::string(rest.substr(sp + 1));
      return reply;
    }
    if (line.rfind("D ", 0) == 0) {
      unescape_into(std::string_view(line).substr(2), reply.data);
    } else if (line.rfind("S ", 0) == 0) {
      reply.status.emplace_back(line.substr(2));
    } else if (line.rfind("INQUIRE ", 0) == 0) {
      std::string_view rest = std::string_view(line).substr(8);
      std::string keyword(rest.substr(0, rest.find(' ')));
      WipedBytes answer;
      if (inquire && inquire(keyword, answer)) {
        send_data(answer.span());
        send_all("END\n");
      } else {
        send_all("CAN\n");
      }
    } else if (line.empty() || line[0] == '#') {
      continue;  // comment
    } else {
      broken("unexpected line from the agent");
    }
  }
}

}  // namespace pvesafe::crypto::detail
