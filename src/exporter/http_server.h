// The exporter's HTTP endpoints (cpp-httplib, plain HTTP; put TLS in front if needed):
//   GET /metrics[?target=NAME]   Prometheus text format 0.0.4
//   GET /probe?target=NAME       the same, for configs written for the multi-target pattern
//   GET /[?target=NAME]          HTML status page
//   GET /-/healthy               "ok" (the exporter runs; says nothing about the sources)
// The scrape budget is Prometheus' X-Prometheus-Scrape-Timeout-Seconds minus a margin, so a
// scrape answers before Prometheus gives up on it.
#pragma once

#include <memory>
#include <string>

#include "exporter/exporter.h"

namespace pvesafe::exporter {

class HttpServer {
 public:
  explicit HttpServer(Exporter& exporter);
  ~HttpServer();
  // Binds host:port (port 0 picks a free one); returns the bound port. Throws kUsage/kIo.
  int bind(const std::string& host, int port);
  // Serves until stop() (blocking).
  void serve();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Splits "HOST:PORT" / "[v6]:PORT"; throws kUsage.
std::pair<std::string, int> parse_listen(const std::string& listen);

}  // namespace pvesafe::exporter
