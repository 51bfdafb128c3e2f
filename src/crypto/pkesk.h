// Public-Key Encrypted Session Key packets, version 3 (RFC 9580 section 5.1), for RSA and for
// ECDH on Curve25519 in the encoding of RFC 6637 that gpg 2.2, sq and rnp use:
//
//   session key frame   cipher id || session key || 16-bit sum of the key octets
//   RSA                 MPI of RSAES-PKCS1-v1_5(frame)
//   ECDH                MPI of the ephemeral point (0x40 || native X25519 public value),
//                       one octet length, AES key wrap (RFC 3394) of the frame padded to a
//                       multiple of 8 octets (PKCS#5), under a key-encryption key derived from
//                       the X25519 shared secret by the KDF of RFC 6637 section 7.
//
// Internal to src/crypto: the writer (recipient.cpp), the secret key, gpg-agent and tests use it.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "crypto/key_packet.h"
#include "crypto/session_key.h"
#include "crypto/wiped.h"

namespace pvesafe::crypto::detail {

// The fields of a PKESK v3 body. Throws kIntegrity when malformed, kUnsupported for versions
// other than 3 and algorithms other than RSA and ECDH (naming them).
struct PkeskFields {
  uint64_t key_id = 0;
  uint8_t algorithm = 0;
  std::span<const uint8_t> rsa_c;      // RSA: the encrypted value (leading zeros stripped)
  std::span<const uint8_t> ephemeral;  // ECDH: the ephemeral point MPI value
  std::span<const uint8_t> wrapped;    // ECDH: the wrapped session key frame
};
PkeskFields parse_pkesk(std::span<const uint8_t> body);

// What the ECDH KDF binds the key-encryption key to: the recipient key's curve, KDF
// parameters and fingerprint.
struct EcdhParams {
  std::vector<uint8_t> oid;
  uint8_t kdf_hash = 0;
  uint8_t kdf_cipher = 0;
  Fingerprint fingerprint{};
};
EcdhParams ecdh_params_of(const KeyPacket& key);
// Throws kUnsupported when the KDF hash or the key-wrap cipher is not one pvesafe knows.
void check_ecdh_params(const EcdhParams& p);
// Key-encryption key length for the params' cipher (16, 24 or 32).
size_t ecdh_kek_size(const EcdhParams& p);

// KEK = leftmost bytes of Hash(00 00 00 01 || shared || param), RFC 6637 section 7.
void ecdh_kdf(const EcdhParams& p, std::span<const uint8_t, 32> shared, std::span<uint8_t> kek);

// frame = cipher || key || checksum, into `out` (at most 35 bytes).
size_t session_key_frame(const SessionKey& key, uint8_t* out);
// Parses a frame; false when its checksum or length does not fit (a wrong key).
bool parse_session_key_frame(std::span<const uint8_t> frame, SessionKey& key);

// AES key wrap of the PKCS#5-padded frame; appends to `out`.
void ecdh_wrap(const EcdhParams& p, std::span<const uint8_t> kek, std::span<const uint8_t> frame,
               std::vector<uint8_t>& out);
// Unwraps and removes the padding; false when the wrap's integrity check fails (a wrong key).
bool ecdh_unwrap(const EcdhParams& p, std::span<const uint8_t> kek,
                 std::span<const uint8_t> wrapped, SessionKey& key);

// PKESK v3 packets (new-format header) appended to `out`.
void append_pkesk_rsa(std::vector<uint8_t>& out, uint64_t key_id, std::span<const uint8_t> c);
void append_pkesk_ecdh(std::vector<uint8_t>& out, uint64_t key_id,
                       std::span<const uint8_t, 32> ephemeral_public,
                       std::span<const uint8_t> wrapped);

// RSAES-PKCS1-v1_5 of the frame under `key`; the result without leading zero octets.
std::vector<uint8_t> rsa_encrypt_frame(EVP_PKEY* key, std::span<const uint8_t> frame);
// Decrypts an RSA PKESK value; false when the padding or the frame is wrong (a wrong key).
bool rsa_decrypt_session_key(EVP_PKEY* key, std::span<const uint8_t> c, SessionKey& out);

// Decrypts an ECDH PKESK with an X25519 private key (native byte order inside `own`).
bool ecdh_decrypt_session_key(EVP_PKEY* own, const EcdhParams& p, const PkeskFields& f,
                              SessionKey& out);
// The same from a shared secret computed elsewhere (gpg-agent).
bool ecdh_session_key_from_shared(const EcdhParams& p, std::span<const uint8_t, 32> shared,
                                  const PkeskFields& f, SessionKey& out);

}  // namespace pvesafe::crypto::detail
