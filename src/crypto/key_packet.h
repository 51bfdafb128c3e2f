// OpenPGP key packets (RFC 9580 section 5.5): public key, public subkey, secret key and secret
// subkey packets of version 4, the only version gpg 2.2, sq 0.27 and rnp 0.16 write. Parses the
// public fields of the algorithms pvesafe meets, computes the v4 fingerprint (SHA-1 over 0x99,
// a two-octet length and the public part of the body) and key id (its last 8 octets), and
// locates the secret part of secret key packets. Internal to src/crypto.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace pvesafe::crypto::detail {

inline constexpr int kTagSecretKey = 5;
inline constexpr int kTagPublicKey = 6;
inline constexpr int kTagSecretSubkey = 7;
inline constexpr int kTagTrust = 12;
inline constexpr int kTagUserId = 13;
inline constexpr int kTagPublicSubkey = 14;
inline constexpr int kTagUserAttribute = 17;

// OpenPGP public-key algorithm ids (RFC 9580 section 9.1).
inline constexpr uint8_t kPkRsa = 1;
inline constexpr uint8_t kPkRsaEncryptOnly = 2;
inline constexpr uint8_t kPkRsaSignOnly = 3;
inline constexpr uint8_t kPkElgamal = 16;
inline constexpr uint8_t kPkDsa = 17;
inline constexpr uint8_t kPkEcdh = 18;
inline constexpr uint8_t kPkEcdsa = 19;
inline constexpr uint8_t kPkEddsaLegacy = 22;
inline constexpr uint8_t kPkX25519 = 25;
inline constexpr uint8_t kPkX448 = 26;
inline constexpr uint8_t kPkEd25519 = 27;
inline constexpr uint8_t kPkEd448 = 28;

// Curve OIDs (DER contents, without tag and length).
inline constexpr uint8_t kOidCurve25519Legacy[] = {0x2B, 0x06, 0x01, 0x04, 0x01,
                                                   0x97, 0x55, 0x01, 0x05, 0x01};
inline constexpr uint8_t kOidEd25519Legacy[] = {0x2B, 0x06, 0x01, 0x04, 0x01,
                                                0xDA, 0x47, 0x0F, 0x01};
inline constexpr uint8_t kOidNistP256[] = {0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07};
inline constexpr uint8_t kOidNistP384[] = {0x2B, 0x81, 0x04, 0x00, 0x22};
inline constexpr uint8_t kOidNistP521[] = {0x2B, 0x81, 0x04, 0x00, 0x23};

using Fingerprint = std::array<uint8_t, 20>;

struct KeyPacket {
  int tag = 0;
  uint8_t version = 0;
  uint32_t created = 0;
  uint8_t algorithm = 0;
  // False when the algorithm's fields are unknown to this parser (the key cannot be used; for a
  // public packet the fingerprint is still right, for a secret packet it is not computed).
  bool parsed = false;
  std::vector<uint8_t> public_body;  // body up to the end of the public fields
  Fingerprint fingerprint{};
  uint64_t key_id = 0;
  // Public fields: MPI values (leading zero octets stripped) in packet order; for EC algorithms
  // the curve OID and the point MPI (mpis[0]); for ECDH the KDF hash and key-wrap cipher ids;
  // for algorithms 25..28 the native public key.
  std::vector<std::vector<uint8_t>> mpis;
  std::vector<uint8_t> oid;
  uint8_t kdf_hash = 0;
  uint8_t kdf_cipher = 0;
  std::vector<uint8_t> native;
  // Secret key packets: the bytes after the public fields, in the caller's buffer.
  std::span<const uint8_t> secret;

  bool is_secret() const { return tag == kTagSecretKey || tag == kTagSecretSubkey; }
  bool is_subkey() const { return tag == kTagPublicSubkey || tag == kTagSecretSubkey; }
  // Whether pvesafe can encrypt to / decrypt with this key: RSA (1, 2) or ECDH on Curve25519.
  bool pvesafe_can_encrypt() const;
  // Whether the algorithm can encrypt at all (used when a signature has no key flags).
  bool algorithm_can_encrypt() const;
  // gpg's names: "rsa3072", "cv25519", "ed25519", "nistp256", "dsa2048", "elg2048", ...
  std::string algorithm_name() const;
  // "ECDH on NIST P-256" style text for error messages.
  std::string algorithm_description() const;
};

// Parses a key packet body (tag 5, 6, 7 or 14). Throws kIntegrity when malformed, kUnsupported
// for key versions other than 4 (naming the version).
KeyPacket parse_key_packet(int tag, std::span<const uint8_t> body);

// 0x99, two-octet length, public body: what v4 fingerprints and key signatures hash.
std::vector<uint8_t> key_hash_prefix(const KeyPacket& key);

// Reads one MPI at data[pos]; returns its value (leading zero octets stripped) and advances pos.
// Throws kIntegrity naming `what` when truncated.
std::span<const uint8_t> read_mpi(std::span<const uint8_t> data, size_t& pos, const char* what);

// 40 uppercase hex digits; 16 for a key id.
std::string hex_upper(std::span<const uint8_t> bytes);
std::string hex_key_id(uint64_t key_id);

}  // namespace pvesafe::crypto::detail
