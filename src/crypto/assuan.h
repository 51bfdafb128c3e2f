// A minimal Assuan client (the line protocol of gpg-agent, libassuan's doc "The Assuan
// protocol"): connect to a Unix socket, read the greeting, send a command, answer the server's
// INQUIREs, collect its D (data) and S (status) lines until OK or ERR. Data lines are
// percent-escaped both ways and split to the 1000-byte line limit. Data received and inquiry
// answers (passphrases) live in wiped buffers. Not thread-safe: one connection per caller.
// Internal to src/crypto.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/wiped.h"

namespace pvesafe::crypto::detail {

struct AssuanReply {
  bool ok = false;
  unsigned error = 0;  // ERR code (gpg-error: source << 24 | code)
  std::string error_text;
  std::vector<std::string> status;  // S lines, without the "S "
  WipedBytes data;                  // all D lines, unescaped
};

class AssuanConnection {
 public:
  // Connects and reads the greeting. Throws kConfig naming the socket when that fails.
  explicit AssuanConnection(const std::string& socket_path);
  ~AssuanConnection();
  AssuanConnection(const AssuanConnection&) = delete;
  AssuanConnection& operator=(const AssuanConnection&) = delete;

  // Answers an INQUIRE: fills `answer` and returns true, or returns false to cancel it (CAN).
  using Inquire = std::function<bool(std::string_view keyword, WipedBytes& answer)>;

  // Sends one command line (no newline; at most 1000 bytes) and reads the reply. Throws kIo when
  // the connection breaks or the server speaks something else (the connection is then unusable).
  AssuanReply transact(std::string_view command, const Inquire& inquire = {});

  bool usable() const { return fd_ >= 0; }

 private:
  void send_all(std::string_view s);
  void send_data(std::span<const uint8_t> data);
  // The next line, without its newline, into `line` (wiped by the caller when secret).
  void read_line(std::string& line);
  [[noreturn]] void broken(const std::string& what);

  int fd_ = -1;
  std::string socket_;
  std::string buf_;  // bytes received and not yet consumed; wiped
};

}  // namespace pvesafe::crypto::detail
