// Transferable keys (certificates, RFC 9580 section 10.1) as packet structure: a primary key
// packet, its direct signatures, user IDs and attributes with their signatures, subkeys with
// theirs; and the validity pvesafe derives from the self-signatures: binding, revocation,
// expiry and key flags. Also the shared data behind PublicKey and SecretKey (openpgp_key.h).
// Internal to src/crypto.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/key_packet.h"
#include "crypto/openpgp_key.h"
#include "crypto/openssl_keys.h"
#include "crypto/pkesk.h"
#include "crypto/signature_packet.h"
#include "crypto/wiped.h"

namespace pvesafe::crypto::detail {

struct UserIdEntry {
  int tag = kTagUserId;
  std::vector<uint8_t> body;
  std::vector<SignaturePacket> sigs;
};

struct SubkeyEntry {
  KeyPacket key;
  std::vector<SignaturePacket> sigs;
};

struct Cert {
  KeyPacket primary;
  std::vector<SignaturePacket> direct_sigs;
  std::vector<UserIdEntry> user_ids;
  std::vector<SubkeyEntry> subkeys;
  std::span<const uint8_t> packets;  // the certificate's bytes in the parsed data
};

// The binary form of key data: dearmored when armored (all blocks concatenated), else a copy.
// Wiped when freed: it may hold secret keys.
WipedBytes key_data_binary(std::span<const uint8_t> data);

// Splits binary key data into certificates. Trust, marker and padding packets are skipped.
// Throws kIntegrity when malformed, kUsage when the data is not a key (e.g. a message).
std::vector<Cert> parse_certs(std::span<const uint8_t> binary);

struct KeyValidity {
  bool bound = false;  // has a valid self-signature (primary) / binding signature
  bool revoked = false;
  std::optional<uint8_t> revocation_reason;
  int64_t expires = 0;           // Unix time, 0: never
  std::optional<uint8_t> flags;  // key flags of the newest valid self/binding signature
  bool can_encrypt(const KeyPacket& k) const;
};

struct CertValidity {
  KeyValidity primary;
  bool primary_unverifiable = false;  // the primary's algorithm is one pvesafe cannot check
  std::vector<KeyValidity> subkeys;   // parallel to Cert::subkeys
  std::vector<std::string> user_ids;  // user IDs with a valid, unrevoked self-signature
};

CertValidity evaluate(const Cert& cert);

KeyInfo key_info(const KeyPacket& k, int64_t expires);

// "2027-01-31" (UTC).
std::string format_date(int64_t unix_time);

struct PublicKeyData {
  KeyInfo primary;
  KeyInfo encryption;
  std::vector<std::string> user_ids;
  std::vector<uint8_t> packets;
  KeyPacket encryption_key;  // public fields of the encryption key
};

struct DecryptionKey {
  KeyInfo info;
  uint8_t algorithm = 0;
  PkeyPtr pkey;     // RSA or X25519 private key
  EcdhParams ecdh;  // ECDH keys
};

struct SecretKeyData {
  std::vector<KeyInfo> primaries;
  std::vector<KeyInfo> infos;
  std::vector<DecryptionKey> keys;
};

}  // namespace pvesafe::crypto::detail
