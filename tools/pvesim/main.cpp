// pvesim: a Proxmox VE API simulator over HTTPS, for the tests and the demo of pvesafe.
// See docs/pvesim.md.
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "auth.h"
#include "control.h"
#include "ha_manager.h"
#include "make_archive.h"
#include "pmxcfs.h"
#include "router.h"
#include "state.h"
#include "tasks.h"
#include "tls.h"

using namespace pvesim;

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "make-archive")
    return make_archive_main(argc - 1, argv + 1);
  // Archives go through compressor pipes: a compressor that dies is a write error, not SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{"pvesim - Proxmox VE API simulator (HTTPS, /api2/json)"};
  app.footer(
      "Also: pvesim make-archive vma|disks|ct|qemu ... writes vzdump archives and their disks "
      "without a server (pvesim make-archive --help).");
  std::string config, listen = "127.0.0.1:8006", data_dir, tokens_file, cert_out, version = "9.0.3";
  std::string backup_size = "4M";
  int nodes = 0, guests = 0, port = -1;
  double task_seconds = -1, ha_time_scale = 1;
  app.add_option("--config", config,
                 "cluster description (TOML, see tools/pvesim/pvesim.example.toml)");
  app.add_option("--nodes", nodes, "generate a cluster of N nodes pve-01..")
      ->check(CLI::Range(1, 1000));
  app.add_option("--guests", guests, "with M guests spread over the nodes")
      ->check(CLI::Range(0, 200000));
  app.add_option("--pve-version", version,
                 "pve-manager version of a generated cluster (8.x or 9.x)");
  app.add_option("--backup-size", backup_size,
                 "disk bytes in each archive of a generated guest (e.g. 4M)");
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0 picks a free port)");
  app.add_option("--port", port,
                 "port on 127.0.0.1 (overrides the port of --listen; 0 = free port)");
  app.add_option("--data-dir", data_dir,
                 "directory for storages and archives (created; default: a new temp dir)");
  app.add_option("--tokens", tokens_file,
                 "API tokens file (USER@REALM!TOKENID=SECRET ROLE), created if missing");
  app.add_option("--cert-out", cert_out, "write the server certificate (PEM) here");
  app.add_option("--task-seconds", task_seconds, "duration of simulated start/stop/create tasks");
  app.add_option("--ha-time-scale", ha_time_scale,
                 "multiply the HA manager's timings (fence delay 60 s, agent lock 120 s, rounds "
                 "10 s) by this; e.g. 0.05 for tests")
      ->check(CLI::Range(0.001, 10.0));
  CLI11_PARSE(app, argc, argv);

  try {
    ClusterSpec spec;
    if (!config.empty()) {
      spec = load_config(config);
    } else {
      if (nodes == 0) nodes = 3;
      if (guests == 0 && !app.count("--guests")) guests = 6;
      spec = generate_cluster(nodes, guests, version, parse_size(backup_size));
    }
    if (task_seconds >= 0) spec.task_seconds = task_seconds;
    if (std::stoi(spec.version) < 7 || std::stoi(spec.version) > 9)
      throw std::runtime_error("pve version must be 7.x, 8.x or 9.x, not " + spec.version);

    if (data_dir.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "pvesim.XXXXXX").string();
      if (!mkdtemp(tmpl.data()))
        throw std::runtime_error("cannot create a temporary data directory");
      data_dir = tmpl;
    }
    std::filesystem::create_directories(data_dir);
    data_dir = std::filesystem::canonical(data_dir).string();
    Options opts{data_dir, tokens_file.empty() ? data_dir + "/tokens" : tokens_file};
    Sim sim(std::move(spec), opts);
    for (auto& n : sim.c.nodes)
      for (auto& s : sim.c.storages)
        if (s.file_based() && sim.storage_on_node(s, n.name))
          std::filesystem::create_directories(sim.storage_path(s, n.name) + "/dump");
    load_or_create_tokens(sim, opts.tokens_file);
    sim.ha.time_scale = sim.ha.base_scale = ha_time_scale;

    std::string host = listen;
    int listen_port = 8006;
    auto colon = listen.rfind(':');
    if (colon != std::string::npos) {
      host = listen.substr(0, colon);
      listen_port = std::stoi(listen.substr(colon + 1));
    }
    if (port >= 0) listen_port = port;
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);

    ServerCert cert = make_server_cert();
    if (!cert_out.empty()) std::ofstream(cert_out) << cert.pem;
    // /etc/pve and the nodes' /etc as files (SSH clients read and write them there).
    Pmxcfs pmxcfs(sim, cert.pem);
    sim.pmxcfs = &pmxcfs;
    httplib::SSLServer server(cert.cert, cert.key);
    if (!server.is_valid()) throw std::runtime_error("cannot set up TLS");
    // pveproxy writes each response's header and body in one go; without TCP_NODELAY the body
    // segment here would wait for the client's delayed ACK of the header (40 ms per request on
    // Linux), a latency no real node has.
    server.set_tcp_nodelay(true);
    server.set_keep_alive_max_count(1000);
    server.set_keep_alive_timeout(30);
    server.set_payload_max_length(64 * 1024 * 1024);
    // Enough workers that slow-response faults and benchmark clients do not starve each other.
    server.new_task_queue = [] { return new httplib::ThreadPool(32); };

    Router router;
    register_access_routes(router);
    register_cluster_routes(router);
    register_ha_routes(router);
    register_node_routes(router);
    register_guest_routes(router);
    register_storage_routes(router);
    register_task_routes(router);
    register_vzdump_routes(router);
    register_misc_routes(router);

    auto api = [&](const httplib::Request& req, httplib::Response& res) {
      if (starts_with(req.path, "/pvesim/")) return handle_control(sim, req, res);
      if (starts_with(req.path, "/api2/json/") || req.path == "/api2/json")
        return router.handle(sim, req, res, req.path.substr(10));
      render_error(res,
                   ApiError(501, "Method '" + req.method + " " + req.path + "' not implemented"));
    };
    for (const char* pattern : {R"(/.*)"}) {
      server.Get(pattern, api);
      server.Post(pattern, api);
      server.Put(pattern, api);
      server.Delete(pattern, api);
    }

    // SIGTERM/SIGINT stop the server from a dedicated thread.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::thread([&server, set]() {
      int sig = 0;
      sigwait(&set, &sig);
      server.stop();
    }).detach();

    int bound = listen_port == 0 ? server.bind_to_any_port(host)
                                 : (server.bind_to_port(host, listen_port) ? listen_port : -1);
    if (bound <= 0)
      throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(listen_port));
    std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    HaManagerThread ha_manager(sim);
    std::cout << "pvesim listening on https://" << shown << ":" << bound << " fingerprint "
              << cert.fingerprint << std::endl;
    std::cerr << "pvesim: data dir " << data_dir << ", tokens file " << opts.tokens_file << ", "
              << sim.c.nodes.size() << " nodes, " << sim.c.guests.size() << " guests, PVE "
              << sim.c.version << std::endl;
    server.listen_after_bind();
    {
      std::lock_guard<std::mutex> lk(sim.mu);
      sim.pmxcfs = nullptr;  // task threads still running must not render into it any more
    }
    sim.hold_tasks = false;
    wait_for_tasks(sim);
    // Task threads still writing a large archive must not outlive the state they use.
    if (sim.running_workers.load() > 0) std::_Exit(0);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "pvesim: " << e.what() << std::endl;
    return 1;
  }
}
