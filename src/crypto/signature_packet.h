// OpenPGP signature packets (RFC 9580 section 5.2), version 4, as far as pvesafe needs them to
// judge a key: the self-signatures that bind user IDs and subkeys to a primary key (carrying
// key flags and expiration times) and the revocation signatures that withdraw them. Parses the
// packet and its hashed subpackets and verifies a signature made by a primary key with RSA,
// EdDSA (Ed25519, legacy and RFC 9580 encodings) or ECDSA on the NIST curves, through OpenSSL.
// Internal to src/crypto.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/key_packet.h"

namespace pvesafe::crypto::detail {

// Signature types (RFC 9580 section 5.2.1).
inline constexpr uint8_t kSigCertGeneric = 0x10;
inline constexpr uint8_t kSigCertPositive = 0x13;
inline constexpr uint8_t kSigSubkeyBinding = 0x18;
inline constexpr uint8_t kSigDirectKey = 0x1F;
inline constexpr uint8_t kSigKeyRevocation = 0x20;
inline constexpr uint8_t kSigSubkeyRevocation = 0x28;
inline constexpr uint8_t kSigCertRevocation = 0x30;

// Key flags (first octet of subpacket 27).
inline constexpr uint8_t kFlagCertify = 0x01;
inline constexpr uint8_t kFlagSign = 0x02;
inline constexpr uint8_t kFlagEncryptCommunications = 0x04;
inline constexpr uint8_t kFlagEncryptStorage = 0x08;

struct SignaturePacket {
  uint8_t version = 0;  // only version 4 signatures are parsed further; others are ignored
  uint8_t type = 0;
  uint8_t pk_algorithm = 0;
  uint8_t hash_algorithm = 0;
  std::vector<uint8_t> hashed;  // version .. end of the hashed subpackets: what is hashed
  uint8_t left16[2] = {0, 0};
  std::vector<std::vector<uint8_t>> values;  // signature MPIs, or one native value (27, 28)
  // Hashed subpackets.
  std::optional<uint32_t> created;
  std::optional<uint32_t> expires_after;      // signature expiration, seconds after `created`
  std::optional<uint32_t> key_expires_after;  // key expiration, seconds after key creation
  std::optional<uint8_t> key_flags;
  std::optional<uint8_t> revocation_reason;
  bool unknown_critical = false;  // a critical subpacket this parser does not understand
  // Issuer key id (subpacket 16, or the end of an issuer fingerprint, 33), hashed or not; a
  // hint only, to skip other people's certifications without verifying them.
  std::optional<uint64_t> issuer;
};

// Throws kIntegrity when the packet is malformed.
SignaturePacket parse_signature(std::span<const uint8_t> body);

enum class Verified { kGood, kBad, kUnsupported };

// Verifies `sig`, made by `signer`, over the concatenation of `data` (the key and user ID
// prefixes of RFC 9580 section 5.2.4) followed by the signature's own hashed part and trailer.
// kUnsupported when the signer's algorithm, curve or the hash is not one pvesafe checks; kBad
// when the signature names another algorithm than the signer's.
Verified verify_signature(const KeyPacket& signer, const SignaturePacket& sig,
                          std::span<const std::span<const uint8_t>> data);

// 0xB4 (user ID) or 0xD1 (user attribute), a four-octet length and the packet body.
std::vector<uint8_t> user_id_hash_prefix(int tag, std::span<const uint8_t> body);

}  // namespace pvesafe::crypto::detail
