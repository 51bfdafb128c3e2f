// SessionKeyCommand: obtains each message's session key from a program, so the secret key can
// live anywhere a command can reach (another host over ssh, a vault, an HSM tool, gpg itself).
//
// Protocol, one run per message (objects have their own session keys; nothing is cached):
//   run      /bin/sh -c COMMAND (the command line is configuration, never a secret)
//   stdin    the message's PKESK packets, binary, exactly as they appear in the message: a
//            valid OpenPGP packet sequence (RFC 9580 section 5.1), then end of file
//   stdout   one line "ALGO:HEX": the OpenPGP symmetric algorithm id in decimal, a colon and
//            the session key in hex (gpg's --show-session-key form, e.g. "9:" and 64 digits
//            for AES-256); nothing at all when none of the packets is for a key it has
//   status   0 when it printed a key or nothing; anything else is a failure (kAuth, naming
//            the status)
//   stderr   passed through (diagnostics; prompts should use /dev/tty)
// A key that does not open the message is reported by decrypt_message (kAuth).
//
// With gpg as the command (it reports the session key of a message made of the packets and a
// stub encrypted data packet of 22 octets, then fails on the stub):
//   { cat; printf '\322\026\001'; head -c 21 /dev/zero; } |
//     gpg -q --batch --status-fd 3 --show-session-key -d -o /dev/null 3>&1 >/dev/null 2>&1 |
//     sed -n 's/^\[GNUPG:\] SESSION_KEY //p'
// Thread-safe: every call runs its own process.
#pragma once

#include <string>

#include "crypto/session_key.h"

namespace pvesafe::crypto {

class SessionKeyCommand final : public SessionKeyProvider {
 public:
  explicit SessionKeyCommand(std::string command);
  std::optional<SessionKey> session_key(std::span<const PkeskPacket> packets) override;

 private:
  std::string command_;
};

}  // namespace pvesafe::crypto
