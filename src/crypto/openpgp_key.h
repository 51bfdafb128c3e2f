// OpenPGP keys for public-key encryption of objects (write-only backup hosts): a backup host
// holds only a public key and encrypts every object to it (recipient.h); a restore host holds
// the secret key and decrypts (session_key.h).
//
// Reads version 4 transferable keys (RFC 4880 / RFC 9580 section 10.1) as gpg 2.2 (Debian 12),
// sq 0.27 and rnp 0.16 export them, binary or ASCII-armored:
//
// load_public_key: exactly one certificate (primary key, user IDs, subkeys, signatures).
//   Self-signatures are verified (RSA, EdDSA/Ed25519, ECDSA on NIST curves); a subkey without a
//   valid binding signature is ignored. The encryption key is the newest valid subkey whose key
//   flags allow encryption (communications or storage; without a key flags subpacket, one whose
//   algorithm encrypts), else the primary key if its flags allow encryption. Refused, with an
//   error naming the key, its expiry or revocation and what to do:
//     kConfig       revoked or expired primary key; no valid encryption key (none, or only
//                   revoked or expired ones)
//     kUnsupported  the encryption keys use algorithms other than RSA (2048 bits or more) and
//                   ECDH on Curve25519 (legacy "cv25519", OID 1.3.6.1.4.1.3029.1.5.1); key
//                   versions other than 4; a primary key algorithm whose signatures pvesafe
//                   cannot check (DSA)
//     kUsage        several certificates in one file; a secret key given where a public one
//                   belongs (a backup host must never hold it)
//     kIntegrity    malformed packets or armor; no self-signature of the primary key verifies
//
// load_secret_key: transferable secret keys as `gpg --export-secret-keys`, `sq key generate`
//   and `rnpkeys --export-key --secret` write them (one or several certificates), unprotected
//   (S2K usage 0) or protected (usage 254 with a SHA-1 check, or 255 with a 16-bit checksum;
//   S2K simple, salted or iterated+salted; AES-128/192/256 and the other CFB ciphers of
//   algorithms.h). Every RSA and Curve25519 ECDH key with its secret present is kept for
//   decryption unless a valid self-signature says it does not encrypt (signing keys are not
//   unlocked), whatever its expiry or revocation: backups made before a key expired must stay
//   readable. Keys without secret (gpg's --export-secret-subkeys stubs, smartcard
//   stubs) are skipped. Throws kAuth when the passphrase is missing or does not unlock a key,
//   kConfig when no decryption key with its secret is in the data, and as above.
//   Decrypted key material lives only in wiped buffers and OpenSSL key objects.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/secret.h"

namespace pvesafe::crypto {

namespace detail {
struct PublicKeyData;
struct SecretKeyData;
}  // namespace detail

using Fingerprint = std::array<uint8_t, 20>;

// 40 uppercase hex digits, as gpg --with-colons prints them.
std::string fingerprint_hex(const Fingerprint& fpr);
// 16 uppercase hex digits.
std::string key_id_hex(uint64_t key_id);

struct KeyInfo {
  Fingerprint fingerprint{};
  uint64_t key_id = 0;         // the last 64 bits of the fingerprint
  uint8_t algorithm = 0;       // OpenPGP public-key algorithm id: 1 RSA, 18 ECDH, 22 EdDSA
  std::string algorithm_name;  // gpg's names: "rsa3072", "cv25519", "ed25519", ...
  int64_t created = 0;         // Unix time
  int64_t expires = 0;         // Unix time; 0 when it does not expire
};

class PublicKey {
 public:
  // Made by load_public_key only.
  const KeyInfo& primary() const;
  // The key messages are encrypted to: a subkey, or the primary key itself.
  const KeyInfo& encryption_key() const;
  const std::vector<std::string>& user_ids() const;
  // The certificate as binary packets (dearmored), e.g. to store beside a repository.
  std::span<const uint8_t> packets() const;

 private:
  friend class Recipient;
  friend PublicKey load_public_key(std::span<const uint8_t>, std::time_t);
  PublicKey() = default;
  std::shared_ptr<const detail::PublicKeyData> d_;
};

// A certificate (binary packets) as an ASCII-armored PUBLIC KEY BLOCK with its CRC-24, the form
// gpg --armor --export prints.
std::string armor_public_key(std::span<const uint8_t> packets);

// `now` decides expiry (Unix time).
PublicKey load_public_key(std::span<const uint8_t> data, std::time_t now = std::time(nullptr));

class SecretKey {
 public:
  // Made by load_secret_key only. KeyInfo::expires is not evaluated here (0): expiry does not
  // stop decryption.
  // The primary keys of the certificates in the data, in order.
  const std::vector<KeyInfo>& primaries() const;
  // The keys that can decrypt (RSA, Curve25519 ECDH) with their secret material loaded.
  const std::vector<KeyInfo>& decryption_keys() const;

 private:
  friend class SecretKeyProvider;
  friend SecretKey load_secret_key(std::span<const uint8_t>, const Secret&);
  SecretKey() = default;
  std::shared_ptr<const detail::SecretKeyData> d_;
};

// `passphrase` may be empty for unprotected keys.
SecretKey load_secret_key(std::span<const uint8_t> data, const Secret& passphrase);

}  // namespace pvesafe::crypto
