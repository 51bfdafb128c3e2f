#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <list>
#include <memory>
#include <string_view>
#include <thread>

#include "core/error.h"
#include "exporter/status_page.h"

namespace pvesafe::exporter {

std::chrono::milliseconds scrape_budget(const std::string& header_value) {
  double t = 10.0;
  if (!header_value.empty()) {
    char* end = nullptr;
    double v = std::strtod(header_value.c_str(), &end);
    while (end && (*end == ' ' || *end == '\t')) ++end;
    if (end && *end == '\0' && std::isfinite(v) && v > 0 && v <= 3600) t = v;
  }
  // Answer well before Prometheus' timeout: 80% of it, at most 0.5 s less.
  double b = std::max(t * 0.8, t - 0.5);
  if (b > t - 0.25) b = t - 0.25;
  return std::chrono::milliseconds(static_cast<long long>(b * 1000));
}

namespace {

using Clock = std::chrono::steady_clock;

// Set on the accepting thread while a connection over max_connections is handed to
// process_and_close_socket, which then refuses it instead of serving it.
thread_local bool t_refuse_connection = false;

// One thread per connection, at most max_connections at once; the thread of a finished
// connection is joined when the next one arrives (or at shutdown).
class ConnectionThreads : public httplib::TaskQueue {
 public:
  ConnectionThreads(int max, HttpStats& stats) : max_(max), stats_(stats) {}
  void enqueue(std::function<void()> fn) override {
    reap();
    stats_.connections_total.fetch_add(1);
    if (stats_.open_connections.load() >= max_) {
      t_refuse_connection = true;
      fn();  // answers 503 and closes, without blocking
      t_refuse_connection = false;
      return;
    }
    stats_.open_connections.fetch_add(1);
    auto& w = workers_.emplace_back();
    w.thread = std::thread([this, fn = std::move(fn), &w] {
      fn();
      stats_.open_connections.fetch_sub(1);
      w.done = true;
    });
  }
  void shutdown() override {
    for (auto& w : workers_) w.thread.join();
    workers_.clear();
  }

 private:
  struct Worker {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void reap() {
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (it->done) {
        it->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  int max_;
  HttpStats& stats_;
  std::list<Worker> workers_;
};

// Waits until fd is ready for `events` or the deadline passes, in slices so that a server stop
// is noticed; false on timeout or stop.
bool wait_for(int fd, short events, Clock::time_point deadline, const std::atomic<bool>& stopping) {
  for (;;) {
    if (stopping.load()) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 200)));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return false;
  }
}

std::string address_of(const sockaddr_storage& a, int& port) {
  char host[NI_MAXHOST] = {0};
  char serv[NI_MAXSERV] = {0};
  socklen_t len = a.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    port = 0;
    return {};
  }
  port = std::atoi(serv);
  return host;
}

// One request, read in full beforehand, as cpp-httplib's request parser sees it: reads return
// exactly the request's bytes (nothing past them), writes go to the socket, the whole response
// within the write deadline.
class RequestStream : public httplib::Stream {
 public:
  RequestStream(int sock, std::string_view request, Clock::duration write_timeout,
                const std::atomic<bool>& stopping)
      : sock_(sock), request_(request), write_timeout_(write_timeout), stopping_(stopping) {}

  bool is_readable() const override { return pos_ < request_.size(); }
  bool is_writable() const override {
    return wait_for(sock_, POLLOUT, write_deadline(), stopping_);
  }
  ssize_t read(char* ptr, size_t size) override {
    size_t n = std::min(size, request_.size() - pos_);
    std::copy_n(request_.data() + pos_, n, ptr);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    size_t sent = 0;
    while (sent < size) {
      ssize_t n = ::send(sock_, ptr + sent, size - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
          wait_for(sock_, POLLOUT, write_deadline(), stopping_)) {
        continue;
      }
      return -1;
    }
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    port = 0;
    if (getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) ip = address_of(a, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    port = 0;
    if (getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) ip = address_of(a, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  Clock::time_point write_deadline() const {
    if (!write_started_) {
      write_started_ = true;
      deadline_ = Clock::now() + write_timeout_;
    }
    return deadline_;
  }
  int sock_;
  std::string_view request_;
  size_t pos_ = 0;
  Clock::duration write_timeout_;
  const std::atomic<bool>& stopping_;
  mutable bool write_started_ = false;
  mutable Clock::time_point deadline_{};
};

// Case-insensitive value of a header in a request head ("" when absent; present tells apart
// "absent" and "empty").
std::string_view header_value(std::string_view head, std::string_view name, bool* present) {
  *present = false;
  size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    std::string_view line = head.substr(start, end == std::string_view::npos ? end : end - start);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      std::string_view v = line.substr(name.size() + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      *present = true;
      return v;
    }
    pos = end;
  }
  return {};
}

// cpp-httplib's server with its connection handling replaced: process_and_close_socket (a
// private virtual of httplib::Server) reads each request whole, within the limits, before
// handing it to httplib's request parser and router (process_request, protected).
class GuardedServer : public httplib::Server {
 public:
  GuardedServer(const HttpLimits& limits, HttpStats& stats) : limits_(limits), stats_(stats) {
    new_task_queue = [this] { return new ConnectionThreads(limits_.max_connections, stats_); };
  }
  // cpp-httplib listens with a backlog of 5: a burst of connections (many scrapers, or a flood)
  // would have its SYNs dropped and retried a second later. Listening again raises it.
  void raise_backlog() { ::listen(svr_sock_, 1024); }
  void request_stop() {
    stopping_ = true;
    stop();
  }

 private:
  bool process_and_close_socket(socket_t sock) override {
    if (t_refuse_connection) {
      stats_.refused_busy.fetch_add(1);
      static const std::string_view busy =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n"
          "Retry-After: 1\r\nConnection: close\r\n\r\ntoo many connections\n";
      (void)::send(sock, busy.data(), busy.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      close_socket(sock);
      return true;
    }
    std::string buf;  // bytes received and not yet consumed by a request
    for (int n = 0; n < limits_.keep_alive_max_requests; ++n) {
      // Wait for the next request to begin (the first one within the read timeout).
      auto idle = n == 0 ? limits_.read_timeout : limits_.keep_alive_timeout;
      if (buf.empty() && receive(sock, buf, Clock::now() + idle) != Received::kData) break;
      size_t need = 0;
      int status = read_request(sock, buf, need);
      if (status != 0) {
        refuse(sock, status);
        break;
      }
      RequestStream strm(sock, std::string_view(buf).substr(0, need), limits_.write_timeout,
                         stopping_);
      bool last = n + 1 == limits_.keep_alive_max_requests || stopping_.load();
      bool closed = false;
      bool ok = process_request(strm, last, closed, nullptr);
      buf.erase(0, need);
      if (!ok || closed || last) break;
    }
    close_socket(sock);
    return true;
  }

  enum class Received { kData, kTimeout, kClosed };
  // Reads more bytes into buf, waiting until the deadline at most.
  Received receive(int sock, std::string& buf, Clock::time_point deadline) {
    if (!wait_for(sock, POLLIN, deadline, stopping_)) {
      return stopping_.load() ? Received::kClosed : Received::kTimeout;
    }
    char tmp[4096];
    ssize_t r = ::recv(sock, tmp, sizeof tmp, MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return Received::kData;
    if (r <= 0) return Received::kClosed;
    buf.append(tmp, static_cast<size_t>(r));
    return Received::kData;
  }

  // Reads until buf holds a whole request (head and body) of at most max_request_bytes, and sets
  // `need` to its length. Returns 0, or the status to refuse it with (-1: close silently).
  int read_request(int sock, std::string& buf, size_t& need) {
    const auto deadline = Clock::now() + limits_.read_timeout;
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() > limits_.max_request_bytes) return 431;
      if (auto r = receive(sock, buf, deadline); r != Received::kData) {
        return r == Received::kTimeout ? 408 : -1;
      }
    }
    need = head_end + 4;
    if (need > limits_.max_request_bytes) return 431;
    std::string_view head(buf.data(), head_end);
    std::string_view method = head.substr(0, head.find(' '));
    if (method != "GET" && method != "HEAD") return 405;
    bool present = false;
    header_value(head, "Transfer-Encoding", &present);
    if (present) return 411;  // request bodies of unknown length are not taken
    std::string_view cl = header_value(head, "Content-Length", &present);
    if (present) {
      bool digits = std::all_of(cl.begin(), cl.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (cl.empty() || cl.size() > 18 || !digits) return 400;
      uint64_t len = std::strtoull(std::string(cl).c_str(), nullptr, 10);
      if (len > limits_.max_request_bytes - need) return 413;  // before a byte of it is read
      need += static_cast<size_t>(len);
    }
    while (buf.size() < need) {
      if (auto r = receive(sock, buf, deadline); r != Received::kData) {
        return r == Received::kTimeout ? 408 : -1;
      }
    }
    return 0;
  }

  void refuse(int sock, int status) {
    if (status < 0) return;
    const char* reason = "Bad Request";
    const char* text = "malformed request";
    switch (status) {
      case 405:
        reason = "Method Not Allowed";
        text = "only GET and HEAD are served";
        stats_.refused_method++;
        break;
      case 411:
        reason = "Length Required";
        text = "a request body needs a Content-Length";
        stats_.refused_method++;
        break;
      case 408:
        reason = "Request Timeout";
        text = "the request did not arrive in time";
        stats_.refused_timeout++;
        break;
      case 413:
        reason = "Content Too Large";
        text = "the request body is too large";
        stats_.refused_too_large++;
        break;
      case 431:
        reason = "Request Header Fields Too Large";
        text = "the request headers are too large";
        stats_.refused_too_large++;
        break;
      default:
        stats_.refused_malformed++;
        break;
    }
    std::string body = std::string(text) + "\n";
    std::string out =
        "HTTP/1.1 " + std::to_string(status) + " " + reason +
        "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    RequestStream strm(sock, {}, std::chrono::seconds(1), stopping_);
    strm.write(out.data(), out.size());
  }

  static void close_socket(int sock) {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }

  HttpLimits limits_;
  HttpStats& stats_;
  std::atomic<bool> stopping_{false};
};

void add_http_stats(const HttpStats& s, uint64_t cache_hits, MetricSet& out) {
  out.gauge("pvesafe_exporter_http_connections", "HTTP connections open now", {},
            s.open_connections.load());
  out.add("pvesafe_exporter_http_connections_total", MetricType::kCounter,
          "HTTP connections accepted since the exporter started", {},
          static_cast<double>(s.connections_total.load()));
  const char* help = "Connections or requests the HTTP server refused, by reason";
  auto refused = [&](const char* reason, const std::atomic<uint64_t>& v) {
    out.add("pvesafe_exporter_http_refused_total", MetricType::kCounter, help, {{"reason", reason}},
            static_cast<double>(v.load()));
  };
  refused("too_many_connections", s.refused_busy);
  refused("too_large", s.refused_too_large);
  refused("timeout", s.refused_timeout);
  refused("method", s.refused_method);
  refused("malformed", s.refused_malformed);
  out.add("pvesafe_exporter_scrape_cache_hits_total", MetricType::kCounter,
          "Scrapes answered from the cache of a collection made for another scrape", {},
          static_cast<double>(cache_hits));
}

}  // namespace

struct HttpServer::Impl {
  Exporter& exporter;
  HttpLimits limits;
  HttpStats stats;
  GuardedServer server;
  Impl(Exporter& e, HttpLimits l) : exporter(e), limits(l), server(limits, stats) {}
};

HttpServer::HttpServer(Exporter& exporter, HttpLimits limits)
    : impl_(std::make_unique<Impl>(exporter, limits)) {
  auto& srv = impl_->server;
  srv.set_tcp_nodelay(true);  // the last chunk must not wait for the scraper's delayed ACK
  Exporter& ex = impl_->exporter;
  const HttpStats& stats = impl_->stats;
  auto metrics = [&ex, &stats](const httplib::Request& req, httplib::Response& res) {
    std::string target = req.get_param_value("target");
    if (!ex.has_target(target)) {
      res.status = 404;
      res.set_content("unknown target '" + target + "'\n", "text/plain");
      return;
    }
    try {
      // The text is streamed from the collected samples in 64 KiB chunks instead of being built
      // whole: for a large cluster it is several times the size of the samples themselves. The
      // samples may be shared with other scrapes (Exporter::collect_shared).
      struct Render {
        std::shared_ptr<const MetricSet> samples;  // the collection (maybe cached)
        MetricSet server;                          // this server's own counters, not cached
        int part = 0;
        size_t cursor = 0;
        std::string buf;
      };
      auto r = std::make_shared<Render>();
      r->samples = ex.collect_shared(
          target, scrape_budget(req.get_header_value("X-Prometheus-Scrape-Timeout-Seconds")));
      add_http_stats(stats, ex.cache_hits(), r->server);
      res.set_chunked_content_provider(
          "text/plain; version=0.0.4; charset=utf-8",
          [r](size_t, httplib::DataSink& sink) {
            for (; r->part < 2; ++r->part, r->cursor = 0) {
              const MetricSet& set = r->part == 0 ? *r->samples : r->server;
              if (set.render_chunk(r->cursor, r->buf))
                return sink.write(r->buf.data(), r->buf.size());
            }
            sink.done();
            return true;
          },
          [r](bool) {
            r->samples.reset();  // freed now unless the cache or another scrape still holds it
            std::string().swap(r->buf);
            malloc_trim(0);  // a large cluster's scrape parses megabytes of JSON: give them back
          });
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(std::string("scrape failed: ") + e.what() + "\n", "text/plain");
    }
  };
  srv.Get("/metrics", metrics);
  srv.Get("/probe", metrics);
  srv.Get("/-/healthy", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  srv.Get("/", [&ex](const httplib::Request& req, httplib::Response& res) {
    std::string target = req.get_param_value("target");
    if (!ex.has_target(target)) {
      res.status = 404;
      res.set_content("unknown target\n", "text/plain");
      return;
    }
    try {
      MetricSet m = *ex.collect_shared(target, std::chrono::milliseconds(5000));
      if (target.empty() && !ex.options().node_mode && ex.target_names().size() == 1) {
        // Central mode with one cluster: show it on the front page too.
        m.merge(*ex.collect_shared(ex.target_names().front(), std::chrono::milliseconds(5000)));
      }
      double now =
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      std::string title = "pvesafe status" + (target.empty() ? "" : " - " + target);
      res.set_content(render_status_page(title, m, now), "text/html; charset=utf-8");
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(std::string("status failed: ") + e.what() + "\n", "text/plain");
    }
  });
}

HttpServer::~HttpServer() = default;

int HttpServer::bind(const std::string& host, int port) {
  auto& srv = impl_->server;
  int bound = port;
  if (port == 0) {
    bound = srv.bind_to_any_port(host.c_str());
  } else if (!srv.bind_to_port(host.c_str(), port)) {
    bound = -1;
  }
  if (bound < 0)
    throw pvesafe::Error(Errc::kIo, "cannot listen on " + host + ":" + std::to_string(port),
                         "choose a free port or a local address with --listen");
  srv.raise_backlog();
  return bound;
}

void HttpServer::serve() { impl_->server.listen_after_bind(); }
void HttpServer::stop() { impl_->server.request_stop(); }
const HttpStats& HttpServer::stats() const { return impl_->stats; }

std::pair<std::string, int> parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    throw pvesafe::Error(Errc::kUsage, "--listen '" + listen + "' has no port",
                         "use HOST:PORT, e.g. 127.0.0.1:9221");
  std::string host = listen.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = std::atoi(listen.substr(colon + 1).c_str());
  if (port < 0 || port > 65535 || host.empty())
    throw pvesafe::Error(Errc::kUsage, "--listen '" + listen + "' is not HOST:PORT",
                         "use HOST:PORT, e.g. 127.0.0.1:9221");
  return {host, port};
}

}  // namespace pvesafe::exporter
