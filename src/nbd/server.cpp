#include "nbd/server.h"

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include "nbd/session.h"
#include "nbd/worker_pool.h"

namespace pvesafe::nbd {

namespace {

// Writes to a socket whose peer is gone raise SIGPIPE; plain writes use MSG_NOSIGNAL, but
// OpenSSL writes with write(). Blocking the signal in the server's own threads turns it into
// EPIPE there without changing how the rest of the process handles it.
void block_sigpipe_in_this_thread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::string peer_name(const sockaddr_storage& ss, socklen_t len) {
  if (len == 0 || ss.ss_family == AF_UNIX) return "unix socket peer";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
  inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
  port = ntohs(in6->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

}  // namespace

struct Server::State {
  SessionShared shared;
  Listener listener;
  std::unique_ptr<WorkerPool> pool;
  int wake_fd = -1;  // eventfd: wakes the accept loop for stop()
  std::thread acceptor;
  std::atomic<bool> running{false};
  std::atomic<uint64_t> accepted{0}, refused{0};

  struct Entry {
    std::shared_ptr<Session> session;
    std::thread thread;
    bool done = false;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::list<Entry> sessions;

  void accept_loop();
  void reap(std::unique_lock<std::mutex>& lock);
};

void Server::State::reap(std::unique_lock<std::mutex>& lock) {
  for (auto it = sessions.begin(); it != sessions.end();) {
    if (!it->done) {
      ++it;
      continue;
    }
    std::thread t = std::move(it->thread);
    it = sessions.erase(it);
    lock.unlock();
    if (t.joinable()) t.join();
    lock.lock();
  }
}

void Server::State::accept_loop() {
  block_sigpipe_in_this_thread();
  pollfd fds[2] = {{listener.fd(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  while (running) {
    int r = ::poll(fds, 2, 1000);
    {
      std::unique_lock lock(mu);
      reap(lock);
    }
    if (r < 0 && errno != EINTR) {
      spdlog::error("nbd: poll on {} failed: {}", listener.describe(), std::strerror(errno));
      break;
    }
    if (r <= 0 || !running || (fds[1].revents & POLLIN)) continue;
    if (!(fds[0].revents & POLLIN)) continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    int fd = ::accept4(listener.fd(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
        spdlog::warn("nbd: accept on {} failed: {}", listener.describe(), std::strerror(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // e.g. EMFILE: do not spin
      }
      continue;
    }
    std::unique_lock lock(mu);
    if (static_cast<int>(sessions.size()) >= shared.options.max_connections) {
      lock.unlock();
      refused++;
      spdlog::warn("nbd: refusing a connection: {} are open (the limit)",
                   shared.options.max_connections);
      ::close(fd);
      continue;
    }
    accepted++;
    auto session = std::make_shared<Session>(shared, fd, peer_name(ss, len));
    sessions.push_back(Entry{session, {}, false});
    Entry* entry = &sessions.back();
    entry->thread = std::thread([this, session, entry] {
      block_sigpipe_in_this_thread();
      session->run();
      std::lock_guard l(mu);
      entry->done = true;
      cv.notify_all();
    });
  }
}

Server::Server(std::shared_ptr<BlockSource> source, ServerOptions options)
    : st_(std::make_unique<State>()) {
  if (!source) throw Error(Errc::kInternal, "nbd::Server needs a block source");
  if (options.description.empty()) options.description = source->name();
  if (options.export_name.size() > 4096)
    throw Error(Errc::kUsage, "the export name is longer than 4096 bytes");
  if (options.max_request_bytes < 65536) options.max_request_bytes = 65536;  // DF reads need 64 KiB
  st_->shared.source = std::move(source);
  st_->shared.options = std::move(options);
}

Server::~Server() { stop(); }

void Server::start(Listener listener) {
  if (st_->running) throw Error(Errc::kInternal, "nbd::Server started twice");
  const auto& tls = st_->shared.options.tls;
  if (listener.remote() && (!tls || !tls->verifies_clients())) {
    throw Error(
        Errc::kUsage,
        "serving " + listener.describe() + " beyond loopback needs TLS with client certificates",
        "give --tls-cert, --tls-key and --tls-ca (the CA that signs the clients' certificates)");
  }
  st_->listener = std::move(listener);
  st_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (st_->wake_fd < 0) throw Error(Errc::kIo, std::string("eventfd: ") + std::strerror(errno));
  // Queue capacity: enough to keep every worker busy, small enough to push back on clients.
  st_->pool = std::make_unique<WorkerPool>(st_->shared.options.threads,
                                           static_cast<size_t>(st_->shared.options.threads) * 4);
  st_->shared.pool = st_->pool.get();
  st_->running = true;
  st_->acceptor = std::thread([s = st_.get()] { s->accept_loop(); });
  spdlog::info("nbd: serving {} ({} bytes) on {}", st_->shared.source->name(),
               st_->shared.source->size(), st_->listener.describe());
}

void Server::stop(std::chrono::milliseconds grace) {
  auto& s = *st_;
  if (!s.running.exchange(false)) return;
  s.shared.shutting_down = true;
  uint64_t one = 1;
  if (::write(s.wake_fd, &one, sizeof(one)) < 0) {
    // The loop also wakes every second.
  }
  if (s.acceptor.joinable()) s.acceptor.join();
  s.listener.close();

  // Let requests in flight finish and reply; new ones get ESHUTDOWN from the sessions.
  {
    std::unique_lock lock(s.mu);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    for (;;) {
      uint64_t inflight = 0;
      for (auto& e : s.sessions) inflight += e.done ? 0 : e.session->inflight_requests();
      if (inflight == 0 || std::chrono::steady_clock::now() >= deadline) break;
      s.cv.wait_for(lock, std::chrono::milliseconds(20));
    }
    for (auto& e : s.sessions) e.session->shutdown_socket();
    s.cv.wait(lock, [&] {
      for (auto& e : s.sessions) {
        if (!e.done) return false;
      }
      return true;
    });
    for (auto& e : s.sessions) {
      if (e.thread.joinable()) e.thread.join();
    }
    s.sessions.clear();
  }
  s.pool->close_and_join();
  ::close(s.wake_fd);
  s.wake_fd = -1;
  spdlog::info("nbd: stopped serving {}", s.shared.source->name());
}

bool Server::running() const { return st_->running; }

ServerStats Server::stats() const {
  auto& s = *st_;
  ServerStats out;
  out.connections_accepted = s.accepted;
  out.connections_refused = s.refused;
  {
    std::lock_guard lock(s.mu);
    for (auto& e : s.sessions) out.connections_open += e.done ? 0 : 1;
  }
  auto& c = s.shared.counters;
  out.requests = c.requests;
  out.read_requests = c.read_requests;
  out.read_bytes = c.read_bytes;
  out.hole_bytes = c.hole_bytes;
  out.failed_requests = c.failed_requests;
  out.failed_reads = c.failed_reads;
  out.source_fetched_bytes = s.shared.source->fetched_bytes();
  std::lock_guard lock(c.mu);
  out.last_failure = c.last_failure;
  out.last_failure_code = c.last_failure_code;
  return out;
}

const Listener& Server::listener() const { return st_->listener; }

std::string Server::uri() const {
  return st_->listener.uri(st_->shared.options.export_name, st_->shared.options.tls != nullptr);
}

const BlockSource& Server::source() const { return *st_->shared.source; }

}  // namespace pvesafe::nbd
