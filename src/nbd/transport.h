// Transport: the byte stream under one NBD connection, plain (a Unix or TCP socket) or TLS
// (tls_transport.h, after NBD_OPT_STARTTLS).
//
// Contract: one thread reads (read_exact), any number of threads write (write_all: each call
// is one message, never interleaved with another call's bytes). Errors throw pvesafe::Error
// (kIo for a broken or reset stream, kTransient for a read timeout). The transport does not own
// the socket's lifetime decisions: close() happens once, when the session ends; ::shutdown()
// on the socket from another thread wakes a blocked reader (that is how the server stops).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace pvesafe::nbd {

using Piece = std::span<const uint8_t>;

class Transport {
 public:
  virtual ~Transport() = default;
  // Reads exactly n bytes. Returns false when the peer closed the stream cleanly before the
  // first byte; throws Error(kIo) when it ends in the middle or fails.
  virtual bool read_exact(uint8_t* buf, size_t n) = 0;
  // Writes every piece, in order, as one message.
  virtual void write_all(const std::vector<Piece>& pieces) = 0;
  // Read timeout for the handshake (a client that says nothing must not hold a thread);
  // zero means none, the transmission phase waits as long as the client stays connected.
  virtual void set_read_timeout(std::chrono::milliseconds timeout) = 0;
  // Ends the stream politely (TLS close_notify) when possible. Does not close the socket.
  virtual void finish() {}
  virtual bool tls() const { return false; }
  virtual int fd() const = 0;
};

// A connected stream socket; the transport closes it when destroyed.
class PlainTransport : public Transport {
 public:
  explicit PlainTransport(int fd);
  ~PlainTransport() override;
  PlainTransport(const PlainTransport&) = delete;
  PlainTransport& operator=(const PlainTransport&) = delete;

  bool read_exact(uint8_t* buf, size_t n) override;
  void write_all(const std::vector<Piece>& pieces) override;
  void set_read_timeout(std::chrono::milliseconds timeout) override;
  int fd() const override { return fd_; }
  // Gives up the socket without closing it (the TLS transport takes it over).
  int release();

 private:
  int fd_;
  std::mutex write_mu_;
};

}  // namespace pvesafe::nbd
