// TLS for NBD (NBD_OPT_STARTTLS), on OpenSSL 3.
//
// TlsContext holds the server's certificate chain and key (PEM files) and, when a CA file is
// given, requires every client to present a certificate signed by that CA (mutual TLS: the
// export is plaintext disk content, so a server reachable beyond loopback must know who reads
// it). TLS 1.2 is the minimum, as the NBD spec requires.
//
// tls_accept() runs the server side of the handshake on a connected socket and returns a
// Transport that owns the socket. One reader thread and several writer threads may use it at
// once: OpenSSL objects are not safe for concurrent use, so the socket is non-blocking and
// every OpenSSL call on the session is serialised by a mutex, waiting in poll() outside it.
// Bad files: kConfig naming the file; a failed handshake: kAuth (certificate refused) or kIo.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "nbd/transport.h"

using SSL_CTX = struct ssl_ctx_st;

namespace pvesafe::nbd {

struct TlsOptions {
  std::string cert_file;  // server certificate chain, PEM
  std::string key_file;   // its private key, PEM (should be mode 0600)
  std::string ca_file;    // when set: clients must present a certificate signed by this CA
};

class TlsContext {
 public:
  explicit TlsContext(const TlsOptions& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool verifies_clients() const { return verify_clients_; }
  SSL_CTX* native() const { return ctx_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  bool verify_clients_ = false;
};

// Takes ownership of `fd` (closed by the returned transport, or on failure).
std::unique_ptr<Transport> tls_accept(const TlsContext& context, int fd,
                                      std::chrono::milliseconds timeout);

}  // namespace pvesafe::nbd
