#include "crypto/session_key_command.h"

#include <string_view>

#include "core/error.h"
#include "crypto/subprocess.h"

namespace pvesafe::crypto {

SessionKeyCommand::SessionKeyCommand(std::string command) : command_(std::move(command)) {
  if (command_.empty()) throw Error(Errc::kUsage, "the session key command is empty");
}

std::optional<SessionKey> SessionKeyCommand::session_key(std::span<const PkeskPacket> packets) {
  std::vector<uint8_t> input;
  for (const auto& p : packets) input.insert(input.end(), p.packet.begin(), p.packet.end());
  detail::ProcessOptions o;
  o.capture_stderr = false;
  o.max_stdout = 4096;
  detail::ProcessResult r = detail::run_process({"/bin/sh", "-c", command_}, input, o);
  if (r.status != 0) {
    throw Error(Errc::kAuth,
                "the session key command failed (exit status " + std::to_string(r.status) + ")",
                "run the command by hand with the PKESK packets of an object on its stdin");
  }
  std::string_view out(reinterpret_cast<const char*>(r.out.data()), r.out.size());
  size_t end = out.find('\n');
  if (end != std::string_view::npos) out = out.substr(0, end);
  while (!out.empty() && (out.back() == '\r' || out.back() == ' ')) out.remove_suffix(1);
  if (out.empty()) return std::nullopt;
  try {
    return parse_session_key(out);
  } catch (const Error& e) {
    throw Error(e.code() == Errc::kUnsupported ? Errc::kUnsupported : Errc::kAuth,
                "the session key command printed no valid session key: " + e.message(),
                "it must print ALGO:HEX, e.g. 9:<64 hex digits>");
  }
}

}  // namespace pvesafe::crypto
