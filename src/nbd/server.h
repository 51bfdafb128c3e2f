// nbd::Server: a read-only NBD server over one BlockSource, in this process.
//
// Why pvesafe speaks NBD itself rather than as an nbdkit plugin: the repository (its key, its
// S3 credentials, its chunk cache) stays open in one process, so no secret is handed to a
// second program and a Proxmox VE node needs no extra package; the protocol part is small
// (fixed newstyle handshake, a few options, four commands) and tested against libnbd's and
// QEMU's clients. See docs/instant-recovery.md.
//
// What it serves: one export (named options.export_name; the default export "" is the same
// disk), read-only. Options: EXPORT_NAME, INFO, GO, LIST, ABORT, STARTTLS, STRUCTURED_REPLY,
// LIST_META_CONTEXT and SET_META_CONTEXT (base:allocation). Commands: READ, BLOCK_STATUS
// (zero pieces of BlockSource::extents are holes, read as zeros for free and sent as
// OFFSET_HOLE chunks), FLUSH (nothing to flush), DISC; WRITE, TRIM and WRITE_ZEROES get EPERM.
// Several connections (CAN_MULTI_CONN) and several requests per connection run in parallel on
// a pool of workers, replies go out as they complete.
//
// Failure contract: a read the source cannot deliver (it throws) is answered with NBD_EIO for
// that request only; no byte of it is sent, the connection and the other requests carry on,
// and the failure is counted in stats() (last_failure names it for the logs, the client only
// sees the category). Protocol violations end that connection only.
//
// Security: a listener reachable beyond loopback is refused unless options.tls is set with
// client verification (TlsContext with a CA): start() throws kUsage otherwise. With TLS set,
// every client must STARTTLS before anything else (FORCEDTLS).
//
// Lifecycle: start() returns once accepting; stop() stops accepting, answers new requests with
// ESHUTDOWN, waits up to `grace` for requests in flight, closes every connection and joins all
// threads. The destructor stops. stats() may be called from any thread at any time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/block_source.h"
#include "core/error.h"
#include "nbd/listener.h"
#include "nbd/tls_transport.h"

namespace pvesafe::nbd {

struct ServerOptions {
  std::string export_name;  // "" serves only the default export
  std::string description;  // NBD_INFO_DESCRIPTION (defaults to the source's name())
  int threads = 8;          // parallel source reads (a remote repository wants several)
  uint32_t max_request_bytes = 32u << 20;
  uint32_t preferred_block_size = 4096;
  uint64_t max_inflight_bytes_per_connection = 64u << 20;
  int max_connections = 32;
  std::shared_ptr<const TlsContext> tls;  // set: TLS required on every connection
  std::chrono::milliseconds handshake_timeout{30000};
};

struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_open = 0;
  uint64_t connections_refused = 0;  // over max_connections
  uint64_t requests = 0;             // transmission-phase requests answered
  uint64_t read_requests = 0;
  uint64_t read_bytes = 0;            // bytes answered by successful reads, holes included
  uint64_t hole_bytes = 0;            // of which known zeros: nothing read from the source
  uint64_t failed_requests = 0;       // answered with an error (EIO, EINVAL, EPERM...)
  uint64_t failed_reads = 0;          // reads the source could not deliver (EIO)
  uint64_t source_fetched_bytes = 0;  // BlockSource::fetched_bytes()
  std::string last_failure;           // newest source failure, one line (server side only)
  std::optional<Errc> last_failure_code;
};

class Server {
 public:
  Server(std::shared_ptr<BlockSource> source, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves on `listener` from background threads. kUsage if the listener is remote and the
  // options carry no TLS context that verifies clients.
  void start(Listener listener);
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  bool running() const;

  ServerStats stats() const;
  const Listener& listener() const;
  // The URI a client connects with (nbd+unix:///NAME?socket=..., nbds://HOST:PORT/NAME).
  std::string uri() const;
  const BlockSource& source() const;

 private:
  struct State;
  std::unique_ptr<State> st_;
};

}  // namespace pvesafe::nbd
