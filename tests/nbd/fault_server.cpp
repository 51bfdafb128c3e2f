// pvesafe-nbd-fault-server: nbd::Server over a raw image wrapped in FaultyBlockSource, for the
// tests and benchmarks that need a source that fails or is slow on purpose (the product's
// `pvesafe nbd` has no such switches).
//
//   pvesafe-nbd-fault-server --image FILE --socket PATH [--export-name NAME]
//       [--fail-range OFFSET:LENGTH[:integrity|transient|io]]...   reads touching it fail
//       [--fail-flag FILE]      every read fails (transient) while FILE exists
//       [--latency-us N]        each read waits N microseconds (in parallel)
//       [--bandwidth BYTES/s]   all reads share this bandwidth
//       [--threads N]
// Prints one JSON line {"uri": ...} when listening; SIGUSR1 prints a stats line
// {"source_fetched_bytes": ..., "read_bytes": ..., "failed_reads": ...}; SIGTERM stops.
#include <pthread.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "core/faulty_block_source.h"
#include "nbd/server.h"

using namespace pvesafe;

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "pvesafe-nbd-fault-server: " << why << "\n";
  std::exit(2);
}

Errc parse_code(const std::string& s) {
  if (s == "integrity") return Errc::kIntegrity;
  if (s == "transient") return Errc::kTransient;
  if (s == "io") return Errc::kIo;
  usage("unknown error category " + s);
}

void print_stats(const nbd::Server& s) {
  auto st = s.stats();
  std::printf(
      "{\"source_fetched_bytes\":%llu,\"read_bytes\":%llu,\"hole_bytes\":%llu,\"failed_reads\":%"
      "llu,\"requests\":%llu}\n",
      static_cast<unsigned long long>(st.source_fetched_bytes),
      static_cast<unsigned long long>(st.read_bytes),
      static_cast<unsigned long long>(st.hole_bytes),
      static_cast<unsigned long long>(st.failed_reads),
      static_cast<unsigned long long>(st.requests));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("log"));  // stdout carries JSON
  std::string image, socket, name, flag;
  std::vector<std::string> ranges;
  long latency_us = 0, threads = 8;
  unsigned long long bandwidth = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--image")
      image = next();
    else if (a == "--socket")
      socket = next();
    else if (a == "--export-name")
      name = next();
    else if (a == "--fail-range")
      ranges.push_back(next());
    else if (a == "--fail-flag")
      flag = next();
    else if (a == "--latency-us")
      latency_us = std::stol(next());
    else if (a == "--bandwidth")
      bandwidth = std::stoull(next());
    else if (a == "--threads")
      threads = std::stol(next());
    else
      usage("unknown argument " + a);
  }
  if (image.empty() || socket.empty()) usage("give --image FILE and --socket PATH");
  try {
    auto src = std::make_shared<FaultyBlockSource>(std::make_shared<FileBlockSource>(image));
    for (const auto& r : ranges) {
      auto c1 = r.find(':');
      if (c1 == std::string::npos) usage("--fail-range OFFSET:LENGTH[:CATEGORY]");
      auto c2 = r.find(':', c1 + 1);
      uint64_t off = std::stoull(r.substr(0, c1));
      uint64_t len =
          std::stoull(r.substr(c1 + 1, c2 == std::string::npos ? std::string::npos : c2 - c1 - 1));
      src->fail_range(off, len,
                      c2 == std::string::npos ? Errc::kIntegrity : parse_code(r.substr(c2 + 1)));
    }
    if (!flag.empty()) src->set_fail_flag_file(flag);
    src->set_latency(std::chrono::microseconds(latency_us));
    src->set_bandwidth(bandwidth);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    nbd::ServerOptions opt;
    opt.export_name = name;
    opt.threads = static_cast<int>(threads);
    nbd::Server server(src, opt);
    server.start(nbd::Listener::unix_socket(socket));
    std::printf("{\"uri\":\"%s\"}\n", server.uri().c_str());
    std::fflush(stdout);
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGUSR1) {
        print_stats(server);
        continue;
      }
      break;
    }
    server.stop();
    print_stats(server);
  } catch (const Error& e) {
    std::cerr << "pvesafe-nbd-fault-server: " << e.what() << "\n";
    return exit_code(e.code());
  }
  return 0;
}
