#include "core/error.h"

namespace pvesafe {

namespace {
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}
}  // namespace

int exit_code(Errc code) { return static_cast<int>(code); }

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::kInternal: return "internal";
    case Errc::kUsage: return "usage";
    case Errc::kConfig: return "config";
    case Errc::kAuth: return "auth";
    case Errc::kNotFound: return "not-found";
    case Errc::kIntegrity: return "integrity";
    case Errc::kTransient: return "transient-io";
    case Errc::kIo: return "io";
    case Errc::kLocked: return "locked";
    case Errc::kRemote: return "remote";
    case Errc::kCheckFailed: return "check-failed";
    case Errc::kUnsupported: return "unsupported";
    case Errc::kInterrupted: return "interrupted";
  }
  return "unknown";
}

Error::Error(Errc code, const std::string& message, std::string hint)
    : std::runtime_error(one_line(hint.empty() ? message : message + "; " + hint)),
      code_(code),
      message_(one_line(message)),
      hint_(one_line(std::move(hint))) {}

}  // namespace pvesafe
