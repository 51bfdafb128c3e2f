#include "nbd/tls_transport.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

#include "core/error.h"

namespace pvesafe::nbd {

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return buf;
}

// Waits until fd is readable (want_read) or writable; -1 ms waits for ever.
// Returns false on timeout.
bool wait_fd(int fd, bool want_read, int timeout_ms) {
  pollfd p{fd, static_cast<short>(want_read ? POLLIN : POLLOUT), 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) throw Error(Errc::kIo, std::string("poll failed: ") + std::strerror(errno));
  }
}

class TlsTransport : public Transport {
 public:
  TlsTransport(SSL* ssl, int fd) : ssl_(ssl), fd_(fd) {}
  ~TlsTransport() override {
    SSL_free(ssl_);
    ::close(fd_);
  }

  bool read_exact(uint8_t* buf, size_t n) override {
    size_t got = 0;
    while (got < n) {
      int r, err;
      {
        std::lock_guard lock(ssl_mu_);
        ERR_clear_error();
        r = SSL_read(ssl_, buf + got, static_cast<int>(std::min<size_t>(n - got, 1 << 30)));
        err = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
      }
      if (r > 0) {
        got += static_cast<size_t>(r);
        continue;
      }
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!wait_fd(fd_, err == SSL_ERROR_WANT_READ, timeout_ms_)) {
          throw Error(Errc::kTransient, "the NBD client sent nothing within the handshake timeout");
        }
        continue;
      }
      if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
        if (got == 0) return false;
        throw Error(Errc::kIo,
                    "the NBD client closed the TLS connection in the middle of a message");
      }
      throw Error(Errc::kIo, "NBD TLS read failed: " + openssl_error());
    }
    return true;
  }

  void write_all(const std::vector<Piece>& pieces) override {
    std::lock_guard wlock(write_mu_);
    for (const auto& p : pieces) {
      size_t done = 0;
      while (done < p.size()) {
        int r, err;
        const int len = static_cast<int>(std::min<size_t>(p.size() - done, 1 << 30));
        {
          std::lock_guard lock(ssl_mu_);
          ERR_clear_error();
          r = SSL_write(ssl_, p.data() + done, len);
          err = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, r);
        }
        if (r > 0) {
          done += static_cast<size_t>(r);
          continue;
        }
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
          wait_fd(fd_, err == SSL_ERROR_WANT_READ, -1);
          continue;
        }
        throw Error(Errc::kIo, "NBD TLS write failed: " + openssl_error());
      }
    }
  }

  void set_read_timeout(std::chrono::milliseconds timeout) override {
    timeout_ms_ = timeout.count() > 0 ? static_cast<int>(timeout.count()) : -1;
  }

  void finish() override {
    std::lock_guard lock(ssl_mu_);
    ERR_clear_error();
    SSL_shutdown(ssl_);  // best effort: sends close_notify, does not wait for the peer's
  }

  bool tls() const override { return true; }
  int fd() const override { return fd_; }

 private:
  SSL* ssl_;
  int fd_;
  std::mutex ssl_mu_;    // every OpenSSL call on ssl_
  std::mutex write_mu_;  // one message at a time
  int timeout_ms_ = -1;
};

}  // namespace

TlsContext::TlsContext(const TlsOptions& options) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    throw Error(Errc::kUsage, "TLS needs a certificate and a private key",
                "give --tls-cert FILE and --tls-key FILE (PEM)");
  }
  ctx_ = SSL_CTX_new(TLS_server_method());
  if (!ctx_) throw Error(Errc::kInternal, "cannot create a TLS context: " + openssl_error());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  // Session tickets would be sent after the handshake, while the NBD client may already be
  // waiting for an option reply; nothing here resumes sessions, so send none.
  SSL_CTX_set_num_tickets(ctx_, 0);
  SSL_CTX_set_options(ctx_, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx_, options.cert_file.c_str()) != 1) {
    std::string why = openssl_error();
    SSL_CTX_free(ctx_);
    throw Error(Errc::kConfig, "cannot load the TLS certificate " + options.cert_file + ": " + why,
                "give a PEM certificate (chain) file");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx_, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx_) != 1) {
    std::string why = openssl_error();
    SSL_CTX_free(ctx_);
    throw Error(Errc::kConfig, "cannot load the TLS private key " + options.key_file + ": " + why,
                "give the PEM private key that matches the certificate");
  }
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx_, options.ca_file.c_str(), nullptr) != 1) {
      std::string why = openssl_error();
      SSL_CTX_free(ctx_);
      throw Error(Errc::kConfig, "cannot load the client CA " + options.ca_file + ": " + why,
                  "give a PEM file with the CA that signs the clients' certificates");
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    verify_clients_ = true;
  }
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<Transport> tls_accept(const TlsContext& context, int fd,
                                      std::chrono::milliseconds timeout) {
  SSL* ssl = SSL_new(context.native());
  if (!ssl) {
    ::close(fd);
    throw Error(Errc::kInternal, "cannot create a TLS session: " + openssl_error());
  }
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  SSL_set_fd(ssl, fd);
  // The transport owns ssl and fd from here: a throw below frees both.
  auto transport = std::make_unique<TlsTransport>(ssl, fd);
  const int timeout_ms = timeout.count() > 0 ? static_cast<int>(timeout.count()) : -1;
  for (;;) {
    ERR_clear_error();
    int r = SSL_accept(ssl);
    if (r == 1) break;
    int err = SSL_get_error(ssl, r);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!wait_fd(fd, err == SSL_ERROR_WANT_READ, timeout_ms)) {
        throw Error(Errc::kTransient, "the NBD client did not complete the TLS handshake in time");
      }
      continue;
    }
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      throw Error(Errc::kAuth, std::string("TLS client certificate refused: ") +
                                   X509_verify_cert_error_string(verify));
    }
    throw Error(Errc::kIo, "TLS handshake with the NBD client failed: " + openssl_error());
  }
  return transport;
}

}  // namespace pvesafe::nbd
