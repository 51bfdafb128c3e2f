// pvesafe nbd SNAPSHOT --disk NAME | --image FILE  (--socket PATH | --listen HOST:PORT)
// Serves one disk read-only over NBD until SIGINT/SIGTERM; SIGUSR1 prints the counters.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/disk_source.h"
#include "core/error.h"
#include "nbd/server.h"

namespace pvesafe::cli {

namespace {

struct NbdFlags {
  DiskSourceFlags source;
  std::string socket;
  std::string listen;
  bool allow_remote = false;
  std::string tls_cert, tls_key, tls_ca;
  std::string export_name;
  int threads = 8;
};

constexpr char kNbdFooter[] = R"(
The disk is served read-only: NBD_CMD_READ, BLOCK_STATUS (base:allocation: unused parts of the
disk are reported as holes and cost no repository reads), FLUSH; writes are refused (EPERM).
Several clients and parallel requests are fine (CAN_MULTI_CONN). A read the repository cannot
deliver (a chunk that fails authentication, a store that stays unreachable) fails that one
request with EIO; nothing else is affected and no wrong byte is ever sent.

Where it listens:
  --socket PATH          a Unix socket, mode 0600 (only this user can connect). Preferred; to
                         reach it from another host, forward it over SSH:
                         ssh -L /tmp/disk.sock:/run/pvesafe/disk.sock backup-host
  --listen HOST:PORT     TCP. Loopback only (127.0.0.1, ::1, localhost) unless --allow-remote,
                         which then requires TLS with client certificates (--tls-cert,
                         --tls-key, --tls-ca): the export is decrypted disk content.

Clients:
  qemu-img convert -O raw 'nbd+unix:///?socket=/run/pvesafe/disk.sock' disk.raw
  nbdinfo --map 'nbd+unix:///?socket=/run/pvesafe/disk.sock'
  qemu-system-x86_64 ... -drive file=nbd+unix:///?socket=/run/pvesafe/disk.sock,format=raw,snapshot=on
  nbds://HOST:PORT/NAME?tls-certificates=DIR for libnbd over TLS.

Stop with Ctrl-C or SIGTERM (requests in flight are answered first, exit 0); SIGUSR1 prints
the counters (requests, bytes, bytes fetched from the source, failures). With --json, one JSON
object per line on stdout: "listening", "stats" and a final "summary".
Exit codes: 0 stopped by a signal, 2 usage, 5 snapshot/image not found, 3 configuration,
4 passphrase, 8 local I/O, 12 unsupported (see docs/exit-codes.md).)";

nlohmann::json stats_json(const nbd::ServerStats& s, const char* type) {
  nlohmann::json j{{"message_type", type},
                   {"connections_accepted", s.connections_accepted},
                   {"connections_open", s.connections_open},
                   {"requests", s.requests},
                   {"read_requests", s.read_requests},
                   {"read_bytes", s.read_bytes},
                   {"hole_bytes", s.hole_bytes},
                   {"failed_requests", s.failed_requests},
                   {"failed_reads", s.failed_reads},
                   {"source_fetched_bytes", s.source_fetched_bytes}};
  if (!s.last_failure.empty()) j["last_failure"] = s.last_failure;
  return j;
}

void print_stats(const GlobalOptions& g, const nbd::ServerStats& s, const char* type) {
  if (g.json) {
    std::cout << stats_json(s, type).dump() << std::endl;
    return;
  }
  std::cout << (std::string(type) == "summary" ? "served " : "") << s.requests << " requests, "
            << human_bytes(s.read_bytes) << " read (" << human_bytes(s.hole_bytes)
            << " of it holes), " << human_bytes(s.source_fetched_bytes)
            << " fetched from the source, " << s.failed_reads << " failed reads, "
            << s.connections_open << " clients connected" << std::endl;
  if (!s.last_failure.empty()) std::cout << "last failure: " << s.last_failure << std::endl;
}

void run_nbd(const GlobalOptions& g, const NbdFlags& f) {
  if (f.socket.empty() == f.listen.empty()) {
    throw Error(Errc::kUsage, "give exactly one of --socket PATH and --listen HOST:PORT");
  }
  const bool tls = !f.tls_cert.empty() || !f.tls_key.empty() || !f.tls_ca.empty();
  if (tls && !f.socket.empty()) {
    throw Error(Errc::kUsage, "TLS is for --listen; a Unix socket is protected by its mode (0600)");
  }
  nbd::ServerOptions opt;
  opt.export_name =
      f.export_name.empty() ? (f.source.disk.empty() ? "" : f.source.disk) : f.export_name;
  opt.threads = f.threads < 1 ? 1 : f.threads;
  if (tls) {
    opt.tls = std::make_shared<nbd::TlsContext>(nbd::TlsOptions{f.tls_cert, f.tls_key, f.tls_ca});
  }
  // Listen before opening the disk: a bad address fails fast, before any repository work.
  nbd::Listener listener = f.socket.empty() ? nbd::Listener::tcp(f.listen, f.allow_remote)
                                            : nbd::Listener::unix_socket(f.socket);
  auto source = open_disk_source(g, f.source);

  // The server's threads inherit this mask: the signals are taken here, by sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  nbd::Server server(source, opt);
  server.start(std::move(listener));
  const std::string uri = server.uri();
  if (g.json) {
    std::cout << nlohmann::json{{"message_type", "listening"},    {"uri", uri},
                                {"export_name", opt.export_name}, {"source", source->name()},
                                {"size_bytes", source->size()},   {"tls", tls}}
                     .dump()
              << std::endl;
  } else {
    std::cout << "serving " << source->name() << " (" << human_bytes(source->size())
              << ") read-only at " << uri << std::endl;
  }
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGUSR1) {
      print_stats(g, server.stats(), "stats");
      continue;
    }
    break;
  }
  server.stop();
  print_stats(g, server.stats(), "summary");
}

}  // namespace

void register_nbd(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "nbd", "Serve a snapshot's disk read-only over NBD (QEMU, qemu-img, nbdcopy)");
  cmd->footer(kNbdFooter);
  auto f = std::make_shared<NbdFlags>();
  add_disk_source_flags(cmd, f->source);
  cmd->add_option("--socket", f->socket, "Listen on this Unix socket (created mode 0600)");
  cmd->add_option("--listen", f->listen, "Listen on HOST:PORT (loopback unless --allow-remote)");
  cmd->add_flag("--allow-remote", f->allow_remote,
                "Allow --listen on an address other machines can reach (requires TLS)");
  cmd->add_option("--tls-cert", f->tls_cert, "Server certificate (chain), PEM");
  cmd->add_option("--tls-key", f->tls_key, "Server private key, PEM (keep it mode 0600)");
  cmd->add_option("--tls-ca", f->tls_ca, "CA that signs the clients' certificates (mutual TLS)");
  cmd->add_option("--export-name", f->export_name,
                  "Name of the export (default: the disk's name; \"\" always works too)");
  cmd->add_option("--threads", f->threads, "Parallel reads from the source (default 8)");
  cmd->callback([&g, f] { run_nbd(g, *f); });
}

}  // namespace pvesafe::cli
