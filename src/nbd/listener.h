// Listener: the socket an NBD server accepts connections on.
//
//  - Unix socket: created with mode 0600 (owner only) from the start (the mode is set on the
//    socket before bind, so there is no moment where others could connect); a stale socket
//    file left by a dead server is replaced, a live one or any other kind of file is an error
//    (kUsage), never deleted. The file is removed when the listener closes.
//  - TCP: "HOST:PORT" or "[V6]:PORT". Loopback addresses (127.0.0.0/8, ::1, "localhost") are
//    always allowed; anything else (0.0.0.0, ::, a LAN address) only with allow_remote, and
//    then Server::start insists on TLS with client certificates. Port 0 picks a free port.
#pragma once

#include <cstdint>
#include <string>

namespace pvesafe::nbd {

class Listener {
 public:
  Listener() = default;
  ~Listener();
  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  static Listener unix_socket(const std::string& path);
  static Listener tcp(const std::string& host_port, bool allow_remote);

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // True when clients beyond this machine can connect (a TCP listener on a non-loopback address).
  bool remote() const { return remote_; }
  bool is_unix() const { return !unix_path_.empty(); }
  const std::string& unix_path() const { return unix_path_; }
  uint16_t port() const { return port_; }
  // "unix:/run/pvesafe/nbd.sock" or "127.0.0.1:10809", for messages.
  std::string describe() const;
  // An NBD URI a client can use for `export_name` ("nbd+unix:///NAME?socket=PATH",
  // "nbd://127.0.0.1:10809/NAME"; nbds:// when tls).
  std::string uri(const std::string& export_name, bool tls) const;
  // Closes the socket (and removes a Unix socket file this listener created). Idempotent.
  void close();

 private:
  int fd_ = -1;
  bool remote_ = false;
  std::string unix_path_;
  uint64_t unix_dev_ = 0, unix_ino_ = 0;  // the socket file we created, to remove only ours
  std::string host_;
  uint16_t port_ = 0;
};

// Splits "HOST:PORT" / "[V6]:PORT"; kUsage when malformed.
void split_host_port(const std::string& host_port, std::string& host, uint16_t& port);

}  // namespace pvesafe::nbd
