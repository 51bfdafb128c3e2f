// Runs a helper program (gpg, gpgconf, a session key command) with bytes on its stdin, and
// collects its stdout into wiped memory (it may carry a session key). No shell unless the caller
// passes "/bin/sh", "-c", ...; arguments never carry secrets. Safe in threaded programs
// (posix_spawn; SIGPIPE from a child that stops reading is blocked for the writing thread and
// consumed, never delivered to the process). Internal to src/crypto.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "crypto/wiped.h"

namespace pvesafe::crypto::detail {

struct ProcessOptions {
  std::vector<std::string> extra_env;  // "NAME=value" entries set in the child
  bool capture_stderr = true;          // false: the child's stderr is ours (diagnostics, prompts)
  size_t max_stdout = 16 << 20;        // more is an error
};

struct ProcessResult {
  int status = 0;   // exit status, or 128 + signal
  WipedBytes out;   // stdout
  std::string err;  // stderr (at most 64 KiB kept), when captured
};

// Throws kConfig when the program cannot be started (naming it), kIo on pipe failures, kUsage
// when stdout exceeds max_stdout.
ProcessResult run_process(const std::vector<std::string>& argv, std::span<const uint8_t> input,
                          const ProcessOptions& options = {});

}  // namespace pvesafe::crypto::detail
