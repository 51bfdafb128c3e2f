// OpenPGP key material as OpenSSL 3 EVP_PKEY objects: RSA public and private keys from their
// OpenPGP MPIs, X25519 keys, ECDSA public keys on the NIST curves. Private keys are built from
// buffers the caller wipes; OpenSSL clears its own copy when the EVP_PKEY is freed.
// Internal to src/crypto.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace pvesafe::crypto::detail {

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

// RSA public key (n, e big-endian). Throws kIntegrity when OpenSSL refuses the values.
PkeyPtr rsa_public_key(std::span<const uint8_t> n, std::span<const uint8_t> e);

// RSA private key from OpenPGP's secret MPIs d, p, q and u = p^-1 mod q. Returns null when the
// values are inconsistent (n != p * q), which is how a wrong 16-bit-checksummed passphrase shows.
PkeyPtr rsa_private_key(std::span<const uint8_t> n, std::span<const uint8_t> e,
                        std::span<const uint8_t> d, std::span<const uint8_t> p,
                        std::span<const uint8_t> q, std::span<const uint8_t> u);

// X25519 keys from native (little-endian) 32-byte values.
PkeyPtr x25519_public_key(std::span<const uint8_t> native);
PkeyPtr x25519_private_key(std::span<const uint8_t> native);
// The public value of an X25519 private key.
void x25519_public_of(EVP_PKEY* key, uint8_t out[32]);
// X25519(private, peer public) into out[32]; false when OpenSSL refuses (e.g. a low-order point
// giving an all-zero secret).
bool x25519_agree(EVP_PKEY* own_private, EVP_PKEY* peer_public, uint8_t out[32]);

// OpenSSL group name for a NIST curve OID, nullptr for others.
const char* ec_group_name(std::span<const uint8_t> oid);
// EC public key from an uncompressed point (0x04 || x || y); null when invalid.
PkeyPtr ec_public_key(const char* group, std::span<const uint8_t> point);

}  // namespace pvesafe::crypto::detail
