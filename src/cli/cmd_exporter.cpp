// pvesafe exporter: Prometheus exporter for Proxmox VE clusters (see src/exporter/exporter.h and
// docs/monitoring.md).
#include <malloc.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "cli/pve_options.h"
#include "cluster/corosync_runtime.h"
#include "core/error.h"
#include "exporter/exporter.h"
#include "exporter/http_server.h"
#include "pve/client.h"

namespace pvesafe::cli {

namespace {

// pve::Client is not thread-safe, and the exporter calls the API concurrently: keep a pool of
// clients (each with its own kept-alive TLS connection) and lend one per call.
class ClientPool {
 public:
  explicit ClientPool(pve::ClientOptions o) : opts_(std::move(o)) {}
  nlohmann::json get(const std::string& path) {
    std::unique_ptr<pve::Client> c;
    {
      std::lock_guard lk(mu_);
      if (!idle_.empty()) {
        c = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!c) c = std::make_unique<pve::Client>(opts_);
    nlohmann::json r = c->get(path);  // on error the client is dropped (fresh connection next)
    std::lock_guard lk(mu_);
    if (idle_.size() < 32) idle_.push_back(std::move(c));
    return r;
  }

 private:
  pve::ClientOptions opts_;
  std::mutex mu_;
  std::vector<std::unique_ptr<pve::Client>> idle_;
};

exporter::ApiGet pool_get(pve::ClientOptions o) {
  auto pool = std::make_shared<ClientPool>(std::move(o));
  return [pool](const std::string& path) { return pool->get(path); };
}

std::pair<std::string, std::string> split_eq(const std::string& s, const char* flag) {
  auto eq = s.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
    throw pvesafe::Error(Errc::kUsage, std::string(flag) + " '" + s + "' is not NAME=VALUE",
                         std::string("write ") + flag + " NAME=VALUE");
  return {s.substr(0, eq), s.substr(eq + 1)};
}

exporter::HttpServer* g_server = nullptr;
void on_signal(int) {
  if (g_server) g_server->stop();
}

}  // namespace

void register_exporter(CLI::App& app, GlobalOptions& global) {
  struct Flags {
    std::string listen = "127.0.0.1:9221";
    std::string mode = "node";
    std::string node;
    bool no_corosync = false;
    bool no_catalog = false;
    bool no_ceph = false;
    bool no_node_details = false;
    std::vector<std::string> targets;       // NAME=HOST[:PORT]
    std::vector<std::string> fingerprints;  // NAME=FP
    double call_timeout = 4;
    double max_scrape = 9;
    int parallel = 8;
    int audit_interval = 0;
    double cache_ttl = 1;
    int max_connections = 256;
    size_t max_request_size = 16 * 1024;
    double read_timeout = 10;
    double keep_alive_timeout = 20;
    double write_timeout = 30;
    PveFlags pve;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "exporter",
      "Prometheus exporter: /metrics (node mode: corosync + local node; central mode: "
      "/metrics?target=CLUSTER through the PVE API), status page at /");
  cmd->add_option("--listen", f->listen, "HOST:PORT to serve on")->capture_default_str();
  cmd->add_option("--mode", f->mode, "node (run on every PVE node) or central (many clusters)")
      ->check(CLI::IsMember({"node", "central"}))
      ->capture_default_str();
  cmd->add_option("--node", f->node, "Node mode: this node's name (default: from corosync)");
  cmd->add_flag("--no-corosync", f->no_corosync, "Node mode: do not read corosync");
  cmd->add_flag("--no-catalog", f->no_catalog, "Do not read the pvesafe catalog");
  cmd->add_flag("--no-ceph", f->no_ceph, "Do not query Ceph status");
  cmd->add_flag("--no-node-details", f->no_node_details,
                "Central mode: skip per-node status and package versions (two calls per node)");
  cmd->add_option("--target", f->targets,
                  "Central mode: cluster NAME=HOST[:PORT], repeatable; scraped as "
                  "/metrics?target=NAME (API credentials from the --pve-* flags)");
  cmd->add_option("--target-fingerprint", f->fingerprints,
                  "Central mode: NAME=AB:CD:... certificate pin for one target");
  cmd->add_option("--call-timeout", f->call_timeout,
                  "Seconds per API call; keep it below the scrape timeout")
      ->capture_default_str();
  cmd->add_option("--max-scrape-time", f->max_scrape,
                  "Upper bound in seconds for one scrape (Prometheus' scrape timeout also applies)")
      ->capture_default_str();
  cmd->add_option("--parallel", f->parallel, "Concurrent API calls per scrape")
      ->capture_default_str();
  cmd->add_option("--audit-interval", f->audit_interval,
                  "Central mode: run the cluster audit (the checks of `pvesafe audit`) in the "
                  "background every this many seconds (e.g. 300) and report its findings in each "
                  "scrape; 0: off")
      ->check(CLI::Range(0, 86400 * 7))
      ->capture_default_str();
  cmd->add_option("--cache-ttl", f->cache_ttl,
                  "Seconds after its start a collection is reused for further scrapes of the same "
                  "target (several Prometheus servers, or a burst of requests, cost the PVE API "
                  "one collection; scrapes arriving while it runs wait for it). Keep it below the "
                  "scrape interval; 0: collect on every scrape")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  cmd->add_option("--max-connections", f->max_connections,
                  "HTTP connections served at once; more are answered 503 and closed")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--max-request-size", f->max_request_size,
                  "Bytes an HTTP request (request line, headers and body) may have; larger ones "
                  "are refused (431/413) as soon as that is known, a body on its Content-Length "
                  "before it is read")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--read-timeout", f->read_timeout,
                  "Seconds a client has to send a whole request once it started, and to start "
                  "the first one on a new connection (slow clients get 408)")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  cmd->add_option("--keep-alive-timeout", f->keep_alive_timeout,
                  "Seconds an idle kept-alive connection waits for its next request")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->add_option("--write-timeout", f->write_timeout,
                  "Seconds a client has to take a whole response")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  add_pve_flags(cmd, f->pve);

  cmd->callback([f, &global] {
    // Scrapes run on short-lived worker threads; without a cap glibc gives each its own arena
    // and the resident size grows with every large JSON answer. One arena: the peak of a
    // 10,000-guest scrape is 51 MiB instead of 57 MiB with two, at the same scrape time.
    mallopt(M_ARENA_MAX, 1);
    exporter::ExporterOptions o;
    o.node_mode = f->mode == "node";
    o.pve.parallel = f->parallel;
    o.pve.ceph = !f->no_ceph;
    o.pve.node_details = !f->no_node_details;
    o.max_scrape_time = std::chrono::milliseconds(static_cast<long long>(f->max_scrape * 1000));
    o.audit_interval = std::chrono::seconds(f->audit_interval);
    o.cache_ttl = std::chrono::milliseconds(static_cast<long long>(f->cache_ttl * 1000));
    o.log = [](const std::string& line) { spdlog::warn("exporter: {}", line); };
    auto call_timeout =
        std::chrono::milliseconds(static_cast<long long>(f->call_timeout * 1000));
    if (!f->no_catalog) {
      // An explicit catalog that is missing is a failed source; the default one is optional.
      bool explicit_path = !global.catalog.empty() || std::getenv("PVESAFE_CATALOG");
      std::string path = catalog_path(global);
      if (!path.empty() && (explicit_path || std::filesystem::exists(path))) o.catalog_path = path;
    }
    auto client_options = [&](const std::string& host_port) {
      PveFlags pf = f->pve;
      if (!host_port.empty()) {
        auto colon = host_port.rfind(':');
        auto bracket = host_port.find(']');
        if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
          pf.host = host_port.substr(0, colon);
          pf.port = std::atoi(host_port.substr(colon + 1).c_str());
        } else {
          pf.host = host_port;
        }
        if (pf.host.size() > 2 && pf.host.front() == '[') pf.host = pf.host.substr(1, pf.host.size() - 2);
      }
      pve::ClientOptions co = pve_client_options(pf);
      co.timeout = call_timeout;
      co.get_retries = 0;  // the next scrape is the retry; a scrape must stay within its budget
      return co;
    };

    if (o.node_mode) {
      o.corosync = !f->no_corosync;
      o.node_name = f->node;
      if (o.corosync && !cluster::corosync_support_built())
        throw pvesafe::Error(Errc::kUnsupported, "this pvesafe was built without corosync support",
                             "run with --no-corosync, or rebuild with libcmap-dev libcfg-dev");
      if (o.node_name.empty() && o.corosync) {
        try {
          auto rt = cluster::read_corosync_runtime();
          for (const auto& n : rt.nodes)
            if (n.local) o.node_name = n.name;
        } catch (const pvesafe::Error& e) {
          spdlog::warn("exporter: corosync not readable at start: {}", e.message());
        }
      }
      bool have_api = !f->pve.host.empty() || std::getenv("PVESAFE_PVE_HOST");
      if (have_api) o.local_api = pool_get(client_options(""));
    } else {
      std::map<std::string, std::string> fps;
      for (const auto& s : f->fingerprints) fps.insert(split_eq(s, "--target-fingerprint"));
      for (const auto& s : f->targets) {
        auto [name, hp] = split_eq(s, "--target");
        PveFlags saved = f->pve;
        if (fps.count(name)) f->pve.fingerprint = fps[name];
        o.targets[name] = pool_get(client_options(hp));
        f->pve = saved;
      }
      if (o.targets.empty()) {
        if (f->pve.host.empty() && !std::getenv("PVESAFE_PVE_HOST"))
          throw pvesafe::Error(Errc::kUsage, "central mode needs at least one cluster",
                               "add --target NAME=HOST[:PORT] (or --pve-host HOST)");
        o.targets["default"] = pool_get(client_options(""));
      }
    }

    exporter::Exporter ex(std::move(o));
    auto ms = [](double s) { return std::chrono::milliseconds(static_cast<long long>(s * 1000)); };
    exporter::HttpLimits limits;
    limits.max_connections = f->max_connections;
    limits.max_request_bytes = f->max_request_size;
    limits.read_timeout = ms(f->read_timeout);
    limits.keep_alive_timeout = ms(f->keep_alive_timeout);
    limits.write_timeout = ms(f->write_timeout);
    exporter::HttpServer server(ex, limits);
    auto [host, port] = exporter::parse_listen(f->listen);
    int bound = server.bind(host, port);
    g_server = &server;
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    spdlog::info("exporter: listening on http://{}:{}/metrics ({} mode)", host, bound, f->mode);
    // Tests and scripts with --listen HOST:0 learn the port from this line on stdout.
    std::printf("pvesafe exporter listening on http://%s:%d\n", host.c_str(), bound);
    std::fflush(stdout);
    server.serve();
    g_server = nullptr;
  });
}

}  // namespace pvesafe::cli
