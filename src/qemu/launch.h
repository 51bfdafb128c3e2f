// Launching QEMU for a guest pvesafe runs itself (instant recovery on a plain Linux host, the
// tests and benchmarks; on a Proxmox VE node qemu-server launches and pvesafe only talks QMP).
//
// Machine describes the guest; base_args() turns it into QEMU arguments with no default
// devices, no display, the serial console on a Unix socket and QMP on another. The caller adds
// its disks. start_daemonized() runs QEMU with -daemonize: it returns once QEMU is set up and
// ready for QMP, and the guest keeps running after this process exits (a restored guest must
// outlive the command that restored it). QEMU's own error lines become the message of
// Error(kRemote) when it refuses to start.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace pvesafe::qemu {

struct Machine {
  std::string binary = "qemu-system-x86_64";
  std::string accel = "kvm:tcg";  // KVM when the host has it, else TCG
  int memory_mib = 512;
  int cpus = 1;
  std::string kernel, initrd, append;   // direct kernel boot (test guests); empty: the disk boots
  std::vector<std::string> extra_args;  // appended as given (network, display, CPU model...)
};

std::vector<std::string> base_args(const Machine& machine, const std::string& qmp_socket,
                                   const std::string& serial_socket);

// Returns the pid of the running QEMU (from its -pidfile).
pid_t start_daemonized(const std::string& binary, std::vector<std::string> args,
                       const std::string& pidfile,
                       std::chrono::seconds timeout = std::chrono::seconds(60));

// True while `pid` runs (a zombie does not count).
bool process_alive(pid_t pid);
// Waits up to `timeout` for `pid` to exit; true when it is gone.
bool wait_gone(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace pvesafe::qemu
