// pvesafe instant-restore SNAPSHOT --disk NAME | --image FILE | --nbd URI  --to TARGET
// Runs the guest at once in a local QEMU from the backup, copies its disk to TARGET behind it
// (jobs/instant_restore.h), and leaves the guest running from TARGET alone.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/disk_source.h"
#include "core/error.h"
#include "jobs/instant_restore.h"

namespace pvesafe::cli {

namespace {

std::atomic<bool> g_cancel{false};
extern "C" void on_signal(int) { g_cancel.store(true); }

struct InstantFlags {
  DiskSourceFlags source;
  std::string nbd_uri;
  std::string to, format = "raw", overlay, run_dir;
  std::string qemu = "qemu-system-x86_64", accel = "kvm:tcg";
  int memory = 1024, cpus = 1;
  std::string kernel, initrd, append;
  std::vector<std::string> qemu_args;
  std::string health_send, health_expect = "login:", health_timeout = "5m";
  std::string copy_start = "healthy";
  std::string copy_rate;
};

constexpr char kFooter[] = R"(
How it works: the disk is exported over NBD from this process (the repository stays open here
and nothing secret leaves it); QEMU runs the guest on a local qcow2 overlay backed by that
export, so the guest starts at once and reads only what it touches, while its writes stay local.
A QEMU mirror job then copies the whole disk, backup and guest writes together, into --to; when
it has converged QEMU switches the guest onto the target, the overlay and the export are
dropped, and the guest runs from the target alone. The command returns then; the guest keeps
running (QEMU was started detached): its QMP and serial sockets are in the run directory.

Health check: the guest's serial console (ttyS0) is watched for --health-expect (default
"login:", a getty's prompt); with --health-send the line is sent every second until the answer
comes. --copy-start healthy (default) lets the boot have the whole link and starts the copy
once the guest is healthy; --copy-start now copies while it boots.

Examples:
  pvesafe instant-restore --image /srv/restore/vm-100-disk-0.raw \
      --to /var/lib/vz/images/100/vm-100-disk-0.raw --memory 2048 --cpus 2 \
      --qemu-arg=-netdev --qemu-arg=user,id=n0 --qemu-arg=-device --qemu-arg=virtio-net-pci,netdev=n0
  pvesafe instant-restore --nbd 'nbd+unix:///?socket=/run/pvesafe/disk.sock' --to /dev/vg0/vm-100 \
      --health-send ping --health-expect 'PVESAFE pong' --copy-start now --copy-rate 200M
(QEMU arguments that start with '-' are given as --qemu-arg=-ARG.)

Progress goes to stderr on a terminal. With --json, one JSON object per line on stdout:
"status" lines (phase, copied_bytes, total_bytes, rate_bytes_per_second,
source_fetched_bytes) and a final "summary".

If the source fails during the copy, the copy stops with the source's error; the guest runs on
from its overlay (its writes are kept there) and this command keeps serving the export until
the guest stops or it gets SIGTERM. Ctrl-C/SIGTERM before the end cancels the copy and stops the
guest (its writes stay in the overlay).

Exit codes: 0 the guest runs from the target alone; 2 usage (e.g. the target exists: nothing is
overwritten); 5 not found; 6 integrity (the backup's data failed authentication during the
copy); 7 transient (the source stopped answering); 8 local I/O (target); 10 remote (QEMU
refused); 11 check-failed (no healthy guest in time: it was stopped); 12 unsupported;
130 interrupted. See docs/instant-recovery.md.)";

uint64_t parse_rate(const std::string& s) {
  if (s.empty()) return 0;
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  std::string unit = s.substr(pos);
  if (!unit.empty() && unit.back() == 's' && unit.size() > 1 && unit[unit.size() - 2] == '/')
    unit.resize(unit.size() - 2);
  double mult = 1;
  if (unit == "" || unit == "B")
    mult = 1;
  else if (unit == "K" || unit == "KiB")
    mult = 1024.0;
  else if (unit == "M" || unit == "MiB")
    mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB")
    mult = 1024.0 * 1024 * 1024;
  else
    pos = 0;
  if (pos == 0 || v <= 0) {
    throw Error(Errc::kUsage, "bad rate '" + s + "'",
                "use bytes per second with K, M or G, e.g. 100M");
  }
  return static_cast<uint64_t>(v * mult);
}

std::string default_run_dir() {
  const std::string pid = std::to_string(::getpid());
  if (::geteuid() == 0) return "/run/pvesafe/instant-" + pid;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x)
    return std::string(x) + "/pvesafe-instant-" + pid;
  return "/tmp/pvesafe-instant-" + std::to_string(::geteuid()) + "-" + pid;
}

const char* phase_name(jobs::InstantProgress::Phase p) {
  using P = jobs::InstantProgress::Phase;
  switch (p) {
    case P::kBooting:
      return "booting";
    case P::kHealthy:
      return "healthy";
    case P::kCopying:
      return "copying";
    case P::kPivoted:
      return "pivoted";
    case P::kDone:
      return "done";
    case P::kFailed:
      return "failed";
  }
  return "?";
}

// Progress: NDJSON with --json; a line on a terminal; phase changes only otherwise.
std::function<void(const jobs::InstantProgress&)> make_reporter(const GlobalOptions& g) {
  auto last_phase = std::make_shared<int>(-1);
  auto last_time = std::make_shared<double>(-10);
  const bool tty = !g.quiet && isatty(2);
  return [&g, last_phase, last_time, tty](const jobs::InstantProgress& p) {
    const bool changed = static_cast<int>(p.phase) != *last_phase;
    if (!changed && p.elapsed_seconds - *last_time < (g.json ? 1.0 : 0.25)) return;
    *last_phase = static_cast<int>(p.phase);
    *last_time = p.elapsed_seconds;
    if (g.json) {
      nlohmann::json j{{"message_type", "status"},
                       {"phase", phase_name(p.phase)},
                       {"elapsed_seconds", p.elapsed_seconds},
                       {"copied_bytes", p.copied_bytes},
                       {"total_bytes", p.total_bytes},
                       {"rate_bytes_per_second", p.rate_bytes_per_second},
                       {"source_fetched_bytes", p.source_fetched_bytes}};
      if (!p.message.empty()) j["message"] = p.message;
      std::cout << j.dump() << std::endl;
      return;
    }
    std::string line;
    using P = jobs::InstantProgress::Phase;
    switch (p.phase) {
      case P::kBooting:
        line = fmt::format("booting the guest ({:.1f} s)", p.elapsed_seconds);
        break;
      case P::kHealthy:
        line = fmt::format("guest healthy after {:.1f} s ({} read from the source)",
                           p.elapsed_seconds, human_bytes(p.source_fetched_bytes));
        break;
      case P::kCopying:
        line = fmt::format("copying {} / {} ({:.0f}%)  {}/s", human_bytes(p.copied_bytes),
                           human_bytes(p.total_bytes),
                           p.total_bytes ? 100.0 * static_cast<double>(p.copied_bytes) /
                                               static_cast<double>(p.total_bytes)
                                         : 0.0,
                           human_bytes(static_cast<uint64_t>(p.rate_bytes_per_second)));
        // The offset moves fast over holes; what the source delivered tells the real cost.
        if (p.source_fetched_bytes) line += "  fetched " + human_bytes(p.source_fetched_bytes);
        break;
      case P::kPivoted:
        line = fmt::format("copy complete after {:.1f} s: the guest runs from the target",
                           p.elapsed_seconds);
        break;
      case P::kDone:
        return;
      case P::kFailed:
        line = "failed: " + p.message;
        break;
    }
    if (tty) {
      std::fprintf(stderr, "\r%-110s%s", line.c_str(),
                   changed && p.phase != P::kCopying ? "\n" : "");
      std::fflush(stderr);
    } else if (changed && !g.quiet) {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  };
}

void run(const GlobalOptions& g, const InstantFlags& f) {
  jobs::InstantRestoreOptions o;
  if (!f.nbd_uri.empty()) {
    if (disk_source_given(f.source))
      throw Error(Errc::kUsage, "give either --nbd URI or a disk, not both");
    o.nbd_uri = f.nbd_uri;
  } else {
    o.disk = open_disk_source(g, f.source);
  }
  if (f.to.empty()) throw Error(Errc::kUsage, "give the target: --to FILE|DEVICE");
  if (f.copy_start != "healthy" && f.copy_start != "now") {
    throw Error(Errc::kUsage, "--copy-start is healthy or now, not " + f.copy_start);
  }
  o.target = f.to;
  o.target_format = f.format;
  o.overlay = f.overlay;
  o.run_dir = f.run_dir.empty() ? default_run_dir() : f.run_dir;
  o.machine.binary = f.qemu;
  o.machine.accel = f.accel;
  o.machine.memory_mib = f.memory;
  o.machine.cpus = f.cpus;
  o.machine.kernel = f.kernel;
  o.machine.initrd = f.initrd;
  o.machine.append = f.append;
  o.machine.extra_args = f.qemu_args;
  o.health.send = f.health_send;
  o.health.expect = f.health_expect;
  o.health.timeout = parse_duration(f.health_timeout);
  o.copy_start = f.copy_start == "now" ? jobs::CopyStart::kAtOnce : jobs::CopyStart::kAfterHealthy;
  o.copy_rate_bytes_per_second = parse_rate(f.copy_rate);
  o.progress = make_reporter(g);
  o.cancel = &g_cancel;

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  // The audit log (pvesafe report) gets every instant restore, good or failed.
  repo::CatalogEvent ev;
  ev.kind = "instant-restore";
  ev.repository = f.source.image.empty() && f.nbd_uri.empty() ? g.repo : "";
  ev.snapshot_id = f.source.snapshot;
  ev.file_name = !f.source.image.empty() ? f.source.image
                 : !f.nbd_uri.empty()    ? f.nbd_uri
                                         : f.source.disk;
  jobs::InstantRestoreResult r;
  try {
    r = jobs::run_instant_restore(o);
  } catch (const Error& e) {
    record_failure(g, ev, e);
    throw;
  }
  ev.size_bytes = static_cast<int64_t>(r.disk_bytes);
  ev.duration_seconds = r.copied ? r.seconds_to_copied : 0;
  ev.throughput_bytes_per_second =
      r.seconds_to_copied > 0 ? static_cast<double>(r.copied_bytes) / r.seconds_to_copied : 0;
  ev.details_json = nlohmann::json{
      {"target", r.target},
      {"healthy", r.healthy},
      {"seconds_to_healthy", r.seconds_to_healthy},
      {"source_bytes_at_healthy", r.source_bytes_at_healthy},
      {"guest_read_bytes_at_healthy", r.guest_read_bytes_at_healthy},
      {"source_bytes_total", r.source_bytes_total},
      {"copied_bytes",
       r.copied_bytes}}.dump();
  if (r.failure) {
    record_failure(g, ev, *r.failure);
  } else {
    record_event(g, ev);
  }
  if (g.json) {
    nlohmann::json j{{"message_type", "summary"},
                     {"healthy", r.healthy},
                     {"copied", r.copied},
                     {"seconds_to_started", r.seconds_to_started},
                     {"seconds_to_healthy", r.seconds_to_healthy},
                     {"seconds_to_copied", r.seconds_to_copied},
                     {"disk_bytes", r.disk_bytes},
                     {"copied_bytes", r.copied_bytes},
                     {"source_bytes_at_healthy", r.source_bytes_at_healthy},
                     {"guest_read_bytes_at_healthy", r.guest_read_bytes_at_healthy},
                     {"source_bytes_total", r.source_bytes_total},
                     {"target", r.target},
                     {"overlay", r.overlay},
                     {"qmp_socket", r.qmp_socket},
                     {"serial_socket", r.serial_socket},
                     {"qemu_pid", r.qemu_pid},
                     {"guest_running", r.guest_running}};
    if (r.failure) {
      j["error"] = r.failure->message();
      j["error_category"] = std::string(errc_name(r.failure->code()));
    }
    std::cout << j.dump() << std::endl;
  } else if (r.copied) {
    std::cout << fmt::format(
        "guest running from {} (healthy after {:.1f} s having read {} from the source; copy "
        "complete after {:.1f} s)\nQEMU pid {}, QMP {}, serial console {}\n",
        r.target, r.seconds_to_healthy, human_bytes(r.source_bytes_at_healthy), r.seconds_to_copied,
        r.qemu_pid, r.qmp_socket, r.serial_socket);
  }
  if (r.failure) throw *r.failure;
}

}  // namespace

void register_instant_restore(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "instant-restore",
      "Run a guest from its backup at once, copy its disk to local storage behind it");
  cmd->footer(kFooter);
  auto f = std::make_shared<InstantFlags>();
  add_disk_source_flags(cmd, f->source);
  cmd->add_option(
      "--nbd", f->nbd_uri,
      "Use an NBD export served elsewhere (nbd+unix:///NAME?socket=PATH, nbd://HOST:PORT/NAME)");
  cmd->add_option("--to", f->to, "Target: a file (created; never overwritten) or a block device")
      ->required();
  cmd->add_option("--format", f->format, "Target format: raw (default) or qcow2");
  cmd->add_option("--overlay", f->overlay,
                  "qcow2 for the guest's writes during the copy (default TARGET.overlay.qcow2; "
                  "RUN_DIR/overlay.qcow2 for a device)");
  cmd->add_option("--run-dir", f->run_dir,
                  "Directory for the sockets (QMP, serial, NBD) and pid file (0700)");
  cmd->add_option("--qemu", f->qemu, "QEMU binary (default qemu-system-x86_64)");
  cmd->add_option("--accel", f->accel, "QEMU accelerator (default kvm:tcg: KVM when available)");
  cmd->add_option("--memory", f->memory, "Guest memory in MiB (default 1024)");
  cmd->add_option("--cpus", f->cpus, "Guest vCPUs (default 1)");
  cmd->add_option("--kernel", f->kernel, "Boot this kernel directly (else the disk boots)");
  cmd->add_option("--initrd", f->initrd, "Initramfs for --kernel");
  cmd->add_option("--append", f->append, "Kernel command line for --kernel");
  cmd->add_option("--qemu-arg", f->qemu_args,
                  "Extra QEMU argument, repeatable (network, CPU model...)")
      ->allow_extra_args(false);
  cmd->add_option("--health-send", f->health_send,
                  "Line sent to the serial console every second until healthy");
  cmd->add_option("--health-expect", f->health_expect,
                  "Console text that means healthy (default \"login:\")");
  cmd->add_option("--health-timeout", f->health_timeout, "How long to wait for it (default 5m)");
  cmd->add_option("--copy-start", f->copy_start,
                  "healthy (default): copy once the guest is healthy; now: at once");
  cmd->add_option("--copy-rate", f->copy_rate,
                  "Limit the copy to this many bytes/s (e.g. 100M); default unlimited");
  cmd->callback([&g, f] { run(g, *f); });
}

}  // namespace pvesafe::cli
