// pvesafe::Error is the one error type of the project. Library code throws it; the CLI catches it,
// prints what() as a single line on stderr and exits with exit_code(code()).
//
// The message says what is wrong and names the object or cause; the hint says what to do.
// Neither may contain a secret (passphrase, key, token, S3 secret key, signed URL).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace pvesafe {

// Categories map 1:1 to documented exit codes (docs/exit-codes.md). Never renumber.
enum class Errc {
  kInternal = 1,      // a bug: unexpected state
  kUsage = 2,         // bad flags or arguments
  kConfig = 3,        // bad configuration, repository missing or not initialised
  kAuth = 4,          // wrong passphrase, bad credentials, 401/403
  kNotFound = 5,      // snapshot, object, guest, bucket, node does not exist
  kIntegrity = 6,     // corrupted, truncated or tampered data
  kTransient = 7,     // network/server failure that persisted after retries
  kIo = 8,            // local I/O: unreadable source, disk full, permissions
  kLocked = 9,        // repository locked by another process
  kRemote = 10,       // a remote operation (PVE task, S3 request) failed for good
  kCheckFailed = 11,  // a check ran and failed: drill over SLA, audit critical, drift
  kUnsupported = 12,  // format version from the future, unsupported feature or guest type
  kInterrupted = 130  // SIGINT/SIGTERM
};

int exit_code(Errc code);
std::string_view errc_name(Errc code);

class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message, std::string hint = {});

  Errc code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }

 private:
  Errc code_;
  std::string message_;
  std::string hint_;
};

}  // namespace pvesafe
