// Encrypting objects to a public key, for backup hosts that can write backups but not read
// them: the host holds only a PublicKey (openpgp_key.h); the secret key stays on the restore
// side (session_key.h).
//
// Message written by encrypt_message_to (binary, not armored):
//   * one PKESK v3 packet to the key's encryption key (PublicKey::encryption_key()):
//       RSA:  RSAES-PKCS1-v1_5 of (9, session key, 16-bit checksum);
//       ECDH on Curve25519: ephemeral X25519 public value, AES key wrap (RFC 3394) of the same
//             frame, PKCS#5-padded, under the key derived by RFC 6637's KDF with the key's own
//             KDF hash and wrap cipher (gpg 2.2: SHA-256, AES-128);
//   * one SEIPD v1 packet, AES-256 in OpenPGP CFB with the MDC, holding one literal data packet
//     (format 'b', date 0) exactly as encrypt_message writes it.
// The session key is 32 fresh bytes from the CSPRNG for every message, so `gpg --decrypt` (and
// sq, rnp) with the secret key alone opens every object, each with its own key.
//
// Cost: the SEIPD part is the same code and speed as encrypt_message; the PKESK adds one
// public-key operation per message (bench/crypto/pkesk_bench.cpp measures it). RSA pays one
// public-exponent RSA encryption per message. For ECDH the expensive part is the X25519
// ephemeral key pair and key agreement; a Recipient reuses one ephemeral key pair, and the
// key-encryption key derived from it, for a bounded number of messages and time
// (RecipientOptions), so most messages pay only an AES key wrap. Every message still has its own
// PKESK and random session key. What reuse reveals: messages sharing an ephemeral key show the
// same 32-byte ephemeral value (the store can tell they were written by the same session, which
// their timing already tells); what it risks: whoever reads this process's memory during that
// window (root on the backup host, who also sees the plaintext being backed up) can unwrap the
// session keys of the messages written with it. The ephemeral secret is wiped when it is
// replaced and when the Recipient is destroyed; set ecdh_ephemeral_messages = 1 for a fresh
// ephemeral key per message.
//
// A Recipient may be shared by several threads; copies share the ephemeral state.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "crypto/openpgp_key.h"

namespace pvesafe::crypto {

namespace detail {
class RecipientState;
}

struct RecipientOptions {
  // ECDH keys only: messages per ephemeral key pair (1: a fresh one for every message) and the
  // longest time one is used.
  uint32_t ecdh_ephemeral_messages = 4096;
  std::chrono::seconds ecdh_ephemeral_lifetime{300};
};

class Recipient {
 public:
  // Prepares encryption to key.encryption_key(). Throws kUsage for options out of range.
  explicit Recipient(const PublicKey& key, const RecipientOptions& options = {});
  ~Recipient();
  Recipient(const Recipient&);
  Recipient& operator=(const Recipient&);

  const PublicKey& key() const;

 private:
  friend size_t encrypt_message_to_into(const Recipient&, std::span<const std::span<const uint8_t>>,
                                        const std::function<uint8_t*(size_t)>&, std::string_view);
  std::shared_ptr<detail::RecipientState> state_;
};

// Encrypts plaintext into a complete OpenPGP message to the recipient (binary, not armored).
std::vector<uint8_t> encrypt_message_to(const Recipient& recipient,
                                        std::span<const uint8_t> plaintext,
                                        std::string_view literal_filename = {});

// The same message for literal data given as pieces, written into memory from `output(size)`,
// as encrypt_message_into. Returns the message size.
size_t encrypt_message_to_into(const Recipient& recipient,
                               std::span<const std::span<const uint8_t>> plaintext,
                               const std::function<uint8_t*(size_t)>& output,
                               std::string_view literal_filename = {});

}  // namespace pvesafe::crypto
