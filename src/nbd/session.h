// Session: one client connection of nbd::Server, from the greeting to the last reply.
// Internal to the server (server.h states the contract the client sees).
//
// The session's own thread runs the handshake (option haggling, STARTTLS) and then reads
// requests; READ and BLOCK_STATUS run on the server's worker pool and reply when done (out of
// order, each reply one message on the transport); cheap commands are answered inline.
// In-flight bytes per connection are bounded: the reader waits for replies before taking more.
// run() never throws: a broken connection ends that session only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/block_source.h"
#include "core/error.h"
#include "nbd/server.h"
#include "nbd/transport.h"
#include "nbd/worker_pool.h"

namespace pvesafe::nbd {

// Counters every session of a server adds to (ServerStats is their snapshot).
struct Counters {
  std::atomic<uint64_t> requests{0}, read_requests{0}, read_bytes{0}, hole_bytes{0};
  std::atomic<uint64_t> failed_requests{0}, failed_reads{0};
  std::mutex mu;
  std::string last_failure;
  std::optional<Errc> last_failure_code;

  void record_failure(Errc code, const std::string& message) {
    std::lock_guard lock(mu);
    last_failure = message;
    last_failure_code = code;
  }
};

// What the server shares with its sessions; outlives them all (Server::stop joins them).
struct SessionShared {
  std::shared_ptr<BlockSource> source;
  ServerOptions options;
  WorkerPool* pool = nullptr;
  std::atomic<bool> shutting_down{false};
  Counters counters;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(SessionShared& shared, int fd, std::string peer);
  ~Session();

  void run();
  // From another thread: wakes a blocked read and ends the session.
  void shutdown_socket();
  uint64_t inflight_requests() const;

 private:
  struct Request {
    uint16_t flags;
    uint16_t type;
    uint64_t handle;
    uint64_t offset;
    uint32_t length;
  };

  // Handshake; true when the client entered the transmission phase.
  bool handshake();
  bool handle_option(uint32_t option, std::vector<uint8_t>& data);  // false: end the session
  void send_option_reply(uint32_t option, uint32_t type, const std::vector<uint8_t>& data = {});
  void send_option_error(uint32_t option, uint32_t type, const std::string& message);
  bool handle_info_or_go(uint32_t option, const std::vector<uint8_t>& data);
  void handle_meta_context(uint32_t option, const std::vector<uint8_t>& data);
  bool start_tls();
  void send_export_info(uint32_t option, const std::vector<uint16_t>& requested);
  bool export_matches(const std::string& name) const;
  uint16_t transmission_flags() const;

  void transmission();
  void dispatch(const Request& r);
  void do_read(const Request& r);
  void do_block_status(const Request& r);
  void reply_ok(uint64_t handle);
  void reply_error(uint64_t handle, uint32_t error, const std::string& message);
  void send(const std::vector<Piece>& pieces);  // a failed write ends the session
  void begin_request(uint64_t bytes);
  void end_request(uint64_t bytes);
  void wait_idle();

  SessionShared& shared_;
  int fd_;  // for shutdown() from other threads; owned by transport_
  std::string peer_;
  std::unique_ptr<Transport> transport_;

  bool fixed_newstyle_ = false;
  bool no_zeroes_ = false;
  bool structured_ = false;
  bool tls_done_ = false;
  bool meta_allocation_ = false;  // base:allocation selected
  static constexpr uint32_t kAllocationContextId = 1;

  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  uint64_t inflight_requests_ = 0;
  uint64_t inflight_bytes_ = 0;
  std::atomic<bool> broken_{false};
  bool closed_ = false;  // transport_ is gone (guarded by mu_): fd_ may be another socket now
};

}  // namespace pvesafe::nbd
