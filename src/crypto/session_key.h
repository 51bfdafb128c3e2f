// Decrypting objects encrypted to a public key (PKESK v3 + SEIPD v1, see recipient.h), with the
// secret key held wherever the restore host keeps it. A SessionKeyProvider turns the
// Public-Key Encrypted Session Key packets of one message into that message's session key:
//
//   SecretKeyProvider   an OpenPGP secret key loaded into this process (openpgp_key.h)
//   GpgAgentProvider    gpg-agent, which may keep the key on a smartcard (gpg_agent.h)
//   SessionKeyCommand   any program: PKESK packets on its stdin, session key on its stdout
//                       (session_key_command.h)
//
// Every object has its own random session key and every call recovers it from that object's
// own PKESK; nothing is cached between calls, so no secret outlives the message it opens.
// Providers may be called from several threads at once.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/secret.h"
#include "crypto/openpgp.h"

namespace pvesafe::crypto {

// A message's session key: its symmetric algorithm and key bytes; wiped when destroyed.
struct SessionKey {
  uint8_t cipher = 0;  // OpenPGP symmetric algorithm id (9 = AES-256)
  uint8_t size = 0;    // key length in bytes
  std::array<uint8_t, 32> key{};

  SessionKey() = default;
  SessionKey(const SessionKey&) = default;
  SessionKey& operator=(const SessionKey&) = default;
  ~SessionKey();
  std::span<const uint8_t> bytes() const { return {key.data(), size}; }
};

// "9:64 HEX DIGITS", the form of gpg's --show-session-key and --override-session-key.
Secret format_session_key(const SessionKey& key);
// Parses that form (hex in either case, surrounding white space ignored). Throws kIntegrity
// when malformed, kUnsupported for a cipher pvesafe does not know. Never echoes the text.
SessionKey parse_session_key(std::string_view text);

// One Public-Key Encrypted Session Key packet of a message.
struct PkeskPacket {
  uint8_t version = 0;              // 3
  uint64_t key_id = 0;              // the recipient key id; 0 for an anonymous recipient (gpg -R)
  uint8_t algorithm = 0;            // OpenPGP public-key algorithm id: 1 RSA, 18 ECDH
  std::span<const uint8_t> packet;  // the whole packet, header included, as in the message
  std::span<const uint8_t> body;    // the packet body
};

class SessionKeyProvider {
 public:
  virtual ~SessionKeyProvider() = default;
  // The session key one of `packets` holds for a key this provider has, or std::nullopt when
  // none of them is addressed to such a key. Throws pvesafe::Error when a key is there but
  // cannot be used (kAuth: wrong passphrase, agent refused; kConfig/kIo: provider unreachable).
  // Must be safe to call from several threads at once.
  virtual std::optional<SessionKey> session_key(std::span<const PkeskPacket> packets) = 0;
};

// The PKESK packets of a message (before its encrypted data), e.g. to name the keys it is
// encrypted to; their spans point into `message`. Throws like decrypt_message on malformed
// framing.
std::vector<PkeskPacket> pkesk_packets(std::span<const uint8_t> message);

// Decrypts a message encrypted to a public key (what encrypt_message_to writes, and what gpg,
// sq and rnp write to an RSA or Curve25519 key with SEIPD v1: any cipher, compression and
// packet framing decrypt_message(passphrase) reads). Throws pvesafe::Error:
//   kAuth        no PKESK of the message is for a key of the provider (the message names the
//                key ids it is encrypted to), or the session key does not open the data
//   kIntegrity   MDC mismatch, truncated or malformed packets
//   kUnsupported as decrypt_message(passphrase); also a message with only passphrase packets
// and whatever the provider throws.
std::vector<uint8_t> decrypt_message(std::span<const uint8_t> message, SessionKeyProvider& provider,
                                     uint64_t max_plaintext_bytes = kDefaultMaxPlaintextBytes);

}  // namespace pvesafe::crypto
