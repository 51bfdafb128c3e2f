// load_secret_key: unlocks the secret material of the decryption keys of transferable secret
// keys (see openpgp_key.h).
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>

#include "core/error.h"
#include "crypto/algorithms.h"
#include "crypto/cert.h"
#include "crypto/openpgp_key.h"
#include "crypto/s2k.h"

namespace pvesafe::crypto {

namespace {

using namespace detail;

[[noreturn]] void malformed_secret(const KeyPacket& k, const std::string& what) {
  throw Error(Errc::kIntegrity,
              "secret key " + fingerprint_hex(k.fingerprint) + " is malformed: " + what,
              "export the secret key again (gpg --export-secret-keys)");
}

[[noreturn]] void unsupported_protection(const KeyPacket& k, const std::string& what) {
  throw Error(Errc::kUnsupported,
              "secret key " + fingerprint_hex(k.fingerprint) + " is protected with " + what +
                  ", which pvesafe does not read",
              "export it with gpg 2.2 (gpg --export-secret-keys), or use the gpg-agent provider");
}

uint16_t sum16(std::span<const uint8_t> b) {
  unsigned s = 0;
  for (uint8_t c : b) s += c;
  return static_cast<uint16_t>(s);
}

// The cleartext secret fields (MPIs) of a key packet, checksum removed. Empty when the packet
// carries no secret (a GnuPG stub: exported without it, or on a smartcard).
WipedBytes unlock(const KeyPacket& k, const Secret& passphrase) {
  std::span<const uint8_t> s = k.secret;
  if (s.empty()) malformed_secret(k, "no secret key fields");
  const uint8_t usage = s[0];
  if (usage == 0) {
    if (s.size() < 3) malformed_secret(k, "secret fields are truncated");
    auto mpis = s.subspan(1, s.size() - 3);
    if (sum16(mpis) != ((s[s.size() - 2] << 8) | s[s.size() - 1])) {
      malformed_secret(k, "checksum of the unprotected secret fields does not match");
    }
    return WipedBytes(mpis);
  }
  if (usage == 253) unsupported_protection(k, "AEAD (S2K usage 253, RFC 9580)");
  if (usage != 254 && usage != 255) {
    unsupported_protection(k, "the legacy S2K usage " + std::to_string(usage));
  }
  if (s.size() < 3) malformed_secret(k, "protection parameters are truncated");
  const uint8_t cipher_id = s[1];
  S2k spec;
  spec.type = s[2];
  size_t pos = 3;
  if (spec.type == 101) {
    // GnuPG extension: hash octet, "GNU", mode (1: no secret, 2: on a smartcard).
    if (s.size() >= pos + 5 && s[pos + 1] == 'G' && s[pos + 2] == 'N' && s[pos + 3] == 'U') {
      return WipedBytes();
    }
    unsupported_protection(k, "GnuPG S2K extension 101");
  }
  if (spec.type == 4) unsupported_protection(k, "Argon2 S2K (RFC 9580)");
  if (spec.type != kS2kSimple && spec.type != kS2kSalted && spec.type != kS2kIterated) {
    unsupported_protection(k, "S2K type " + std::to_string(spec.type));
  }
  if (s.size() < pos + 1) malformed_secret(k, "S2K is truncated");
  spec.hash = s[pos++];
  if (spec.type != kS2kSimple) {
    if (s.size() < pos + 8) malformed_secret(k, "S2K salt is truncated");
    std::copy(s.begin() + static_cast<ptrdiff_t>(pos), s.begin() + static_cast<ptrdiff_t>(pos + 8),
              spec.salt.begin());
    pos += 8;
  }
  if (spec.type == kS2kIterated) {
    if (s.size() < pos + 1) malformed_secret(k, "S2K count is truncated");
    spec.count = s[pos++];
  }
  const CipherInfo* cipher = find_cipher(cipher_id);
  if (cipher == nullptr) unsupported_protection(k, cipher_name(cipher_id));
  ecb_cipher(*cipher);  // kUnsupported naming the cipher when OpenSSL lacks it
  if (s.size() < pos + cipher->block_size) malformed_secret(k, "IV is truncated");
  auto iv = s.subspan(pos, cipher->block_size);
  pos += cipher->block_size;
  auto enc = s.subspan(pos);
  const size_t check = usage == 254 ? 20 : 2;
  if (enc.size() < check + 2) malformed_secret(k, "encrypted secret fields are truncated");
  if (passphrase.empty()) {
    throw Error(Errc::kAuth,
                "secret key " + fingerprint_hex(k.fingerprint) +
                    " is protected by a passphrase and none was given",
                "give the passphrase of the secret key");
  }

  std::array<uint8_t, kMaxKeySize> key{};
  s2k_derive(spec, passphrase.view(), std::span(key.data(), cipher->key_size));
  WipedBytes plain(enc.size());
  {
    CfbDecryptor d(*cipher, std::span(key.data(), cipher->key_size), iv);
    d.decrypt(enc.data(), enc.size(), plain.data());
  }
  OPENSSL_cleanse(key.data(), key.size());
  const size_t n = enc.size() - check;
  bool ok;
  if (usage == 254) {
    uint8_t digest[20];
    unsigned int len = 0;
    if (EVP_Digest(plain.data(), n, digest, &len, EVP_sha1(), nullptr) != 1) {
      throw Error(Errc::kInternal, "SHA-1 failed in OpenSSL");
    }
    ok = equal_ct(digest, plain.data() + n, 20);
  } else {
    ok = sum16(std::span(plain.data(), n)) == ((plain[n] << 8) | plain[n + 1]);
  }
  if (!ok) {
    throw Error(Errc::kAuth,
                "the passphrase does not unlock secret key " + fingerprint_hex(k.fingerprint),
                "check the passphrase of the secret key");
  }
  plain.shrink(n);
  return plain;
}

// Builds the OpenSSL key for one decryption key from its cleartext secret fields.
PkeyPtr private_key(const KeyPacket& k, const WipedBytes& fields) {
  size_t pos = 0;
  auto f = fields.span();
  if (k.algorithm == kPkEcdh) {
    auto v = read_mpi(f, pos, "ECDH secret key");
    if (v.size() > 32) malformed_secret(k, "the Curve25519 secret is longer than 32 octets");
    // Stored as a big-endian integer: the native (little-endian) X25519 value reversed.
    uint8_t native[32] = {};
    for (size_t i = 0; i < v.size(); ++i) native[i] = v[v.size() - 1 - i];
    PkeyPtr key = x25519_private_key(native);
    OPENSSL_cleanse(native, sizeof native);
    if (!key) throw Error(Errc::kInternal, "OpenSSL refuses an X25519 key");
    uint8_t pub[32];
    x25519_public_of(key.get(), pub);
    const auto& q = k.mpis[0];
    if (q.size() != 33 || q[0] != 0x40 || !std::equal(pub, pub + 32, q.begin() + 1)) {
      throw Error(Errc::kAuth,
                  "the secret of key " + fingerprint_hex(k.fingerprint) +
                      " does not match its public key (wrong passphrase or damaged key)",
                  "check the passphrase, or export the secret key again");
    }
    return key;
  }
  auto d = read_mpi(f, pos, "RSA secret exponent");
  auto p = read_mpi(f, pos, "RSA prime p");
  auto q = read_mpi(f, pos, "RSA prime q");
  auto u = read_mpi(f, pos, "RSA coefficient u");
  PkeyPtr key = rsa_private_key(k.mpis[0], k.mpis[1], d, p, q, u);
  if (!key) {
    throw Error(Errc::kAuth,
                "the secret of key " + fingerprint_hex(k.fingerprint) +
                    " does not match its public key (wrong passphrase or damaged key)",
                "check the passphrase, or export the secret key again");
  }
  return key;
}

}  // namespace

const std::vector<KeyInfo>& SecretKey::primaries() const { return d_->primaries; }
const std::vector<KeyInfo>& SecretKey::decryption_keys() const { return d_->infos; }

SecretKey load_secret_key(std::span<const uint8_t> data, const Secret& passphrase) {
  WipedBytes binary = key_data_binary(data);
  std::vector<Cert> certs = parse_certs(binary.span());
  auto d = std::make_shared<SecretKeyData>();
  bool any_secret_packet = false;
  std::string skipped;
  for (const Cert& c : certs) {
    d->primaries.push_back(key_info(c.primary, 0));
    // Keys whose valid self-signature says they do not encrypt are not unlocked (saves an S2K
    // derivation per signing key); flags, expiry and revocation otherwise do not matter here.
    const CertValidity v = evaluate(c);
    std::vector<std::pair<const KeyPacket*, const KeyValidity*>> keys = {{&c.primary, &v.primary}};
    for (size_t i = 0; i < c.subkeys.size(); ++i)
      keys.emplace_back(&c.subkeys[i].key, &v.subkeys[i]);
    for (const auto& [k, validity] : keys) {
      if (!k->is_secret()) continue;
      any_secret_packet = true;
      if (validity->bound && !validity->can_encrypt(*k)) continue;
      if (!k->pvesafe_can_encrypt()) {
        if (k->parsed && k->algorithm_can_encrypt()) {
          skipped += (skipped.empty() ? "" : ", ") + key_id_hex(k->key_id) + " (" +
                     k->algorithm_description() + ")";
        }
        continue;
      }
      WipedBytes fields = unlock(*k, passphrase);
      if (fields.empty()) continue;  // no secret here (stub)
      DecryptionKey dk;
      dk.info = key_info(*k, 0);
      dk.algorithm = k->algorithm;
      dk.pkey = private_key(*k, fields);
      if (k->algorithm == kPkEcdh) {
        dk.ecdh = ecdh_params_of(*k);
        check_ecdh_params(dk.ecdh);
      }
      d->infos.push_back(dk.info);
      d->keys.push_back(std::move(dk));
    }
  }
  if (!any_secret_packet) {
    throw Error(Errc::kUsage, "the key data holds only public keys, no secret key",
                "export the secret key: gpg --export-secret-keys FINGERPRINT");
  }
  if (d->keys.empty()) {
    throw Error(Errc::kConfig,
                "the secret key data holds no RSA or Curve25519 decryption key with its secret" +
                    (skipped.empty() ? std::string() : " (unsupported: " + skipped + ")"),
                "export the secret encryption subkey too (gpg --export-secret-keys, not "
                "--export-secret-subkeys of another key), or use the gpg-agent provider for a "
                "key on a smartcard");
  }
  SecretKey key;
  key.d_ = std::move(d);
  return key;
}

}  // namespace pvesafe::crypto
