// The exporter's HTTP endpoints (cpp-httplib, plain HTTP; put TLS in front if needed):
//   GET /metrics[?target=NAME]   Prometheus text format 0.0.4
//   GET /probe?target=NAME       the same, for configs written for the multi-target pattern
//   GET /[?target=NAME]          HTML status page
//   GET /-/healthy               "ok" (the exporter runs; says nothing about the sources)
// The scrape budget is Prometheus' X-Prometheus-Scrape-Timeout-Seconds minus a margin, so a
// scrape answers before Prometheus gives up on it.
//
// The server is exposed to whatever can reach the port, so every connection is bounded
// (HttpLimits): each gets its own thread up to max_connections (more are answered 503 and
// closed at once, so slow clients cannot queue a scrape behind them); a request (request line,
// headers and body) must arrive whole within read_timeout and fit in max_request_bytes, checked
// as it arrives and, for a body, on its Content-Length before any of it is read; only GET and
// HEAD are served; an idle kept-alive connection is closed after keep_alive_timeout, a response
// not taken by the client within write_timeout is abandoned. Refusals are counted in the
// pvesafe_exporter_http_* metrics each /metrics answer carries.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "exporter/exporter.h"

namespace pvesafe::exporter {

struct HttpLimits {
  int max_connections = 256;
  size_t max_request_bytes = 16 * 1024;
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds keep_alive_timeout{20000};
  std::chrono::milliseconds write_timeout{30000};
  int keep_alive_max_requests = 100;
};

// Counters of the server (for its metrics and tests).
struct HttpStats {
  std::atomic<int> open_connections{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> refused_busy{0};       // over max_connections: 503
  std::atomic<uint64_t> refused_too_large{0};  // 413 / 431
  std::atomic<uint64_t> refused_timeout{0};    // 408: request not complete within read_timeout
  std::atomic<uint64_t> refused_method{0};     // 405 / 411
  std::atomic<uint64_t> refused_malformed{0};  // 400
};

class HttpServer {
 public:
  explicit HttpServer(Exporter& exporter, HttpLimits limits = {});
  ~HttpServer();
  // Binds host:port (port 0 picks a free one); returns the bound port. Throws kUsage/kIo.
  int bind(const std::string& host, int port);
  // Serves until stop() (blocking).
  void serve();
  // Safe to call from a signal handler.
  void stop();
  const HttpStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "HOST:PORT" / "[v6]:PORT"; throws kUsage.
std::pair<std::string, int> parse_listen(const std::string& listen);

// The time budget of a scrape from the X-Prometheus-Scrape-Timeout-Seconds header value ("" when
// absent): the larger of 80% of it and 0.5 s less, but at least 0.25 s less. A value that is not
// a number of seconds in (0, 3600] is ignored (10 s is assumed), so a header of "1e308" or "nan"
// cannot overflow the budget. (Exporter::collect bounds the budget to [0.2 s, max_scrape_time].)
std::chrono::milliseconds scrape_budget(const std::string& header_value);

}  // namespace pvesafe::exporter
