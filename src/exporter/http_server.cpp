#include "exporter/http_server.h"

#include <httplib.h>
#include <malloc.h>

#include <chrono>
#include <cstdlib>
#include <memory>

#include "core/error.h"
#include "exporter/status_page.h"

namespace pvesafe::exporter {

namespace {
std::chrono::milliseconds budget_from(const httplib::Request& req) {
  double t = 10.0;
  if (req.has_header("X-Prometheus-Scrape-Timeout-Seconds")) {
    t = std::atof(req.get_header_value("X-Prometheus-Scrape-Timeout-Seconds").c_str());
    if (t <= 0) t = 10.0;
  }
  // Answer well before Prometheus' timeout: 80% of it, at most 0.5 s less.
  double b = std::max(t * 0.8, t - 0.5);
  if (b > t - 0.25) b = t - 0.25;
  return std::chrono::milliseconds(static_cast<long long>(b * 1000));
}
}  // namespace

struct HttpServer::Impl {
  Exporter& exporter;
  httplib::Server server;
  explicit Impl(Exporter& e) : exporter(e) {}
};

HttpServer::HttpServer(Exporter& exporter) : impl_(std::make_unique<Impl>(exporter)) {
  auto& srv = impl_->server;
  srv.set_tcp_nodelay(true);  // the last chunk must not wait for the scraper's delayed ACK
  Exporter& ex = impl_->exporter;
  auto metrics = [&ex](const httplib::Request& req, httplib::Response& res) {
    std::string target = req.get_param_value("target");
    if (!ex.has_target(target)) {
      res.status = 404;
      res.set_content("unknown target '" + target + "'\n", "text/plain");
      return;
    }
    try {
      // The text is streamed from the collected samples in 64 KiB chunks instead of being built
      // whole: for a large cluster it is several times the size of the samples themselves.
      auto m = std::make_shared<MetricSet>(ex.collect(target, budget_from(req)));
      auto cursor = std::make_shared<size_t>(0);
      auto buf = std::make_shared<std::string>();
      res.set_chunked_content_provider(
          "text/plain; version=0.0.4; charset=utf-8",
          [m, cursor, buf](size_t, httplib::DataSink& sink) {
            if (m->render_chunk(*cursor, *buf)) return sink.write(buf->data(), buf->size());
            sink.done();
            return true;
          },
          [m, buf](bool) {
            *m = MetricSet();
            std::string().swap(*buf);
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
      MetricSet m = ex.collect(target, std::chrono::milliseconds(5000));
      if (target.empty() && !ex.options().node_mode && ex.target_names().size() == 1) {
        // Central mode with one cluster: show it on the front page too.
        m.merge(ex.collect(ex.target_names().front(), std::chrono::milliseconds(5000)));
      }
      double now = std::chrono::duration<double>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
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
  return bound;
}

void HttpServer::serve() { impl_->server.listen_after_bind(); }
void HttpServer::stop() { impl_->server.stop(); }

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
