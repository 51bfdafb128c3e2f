#include "crypto/pkesk.h"

#include <openssl/crypto.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <memory>

#include "core/error.h"
#include "crypto/algorithms.h"
#include "crypto/openssl_keys.h"
#include "crypto/packet.h"

namespace pvesafe::crypto::detail {

namespace {

const EVP_CIPHER* wrap_cipher(uint8_t id) {
  switch (id) {
    case kCipherAes128:
      return EVP_aes_128_wrap();
    case kCipherAes192:
      return EVP_aes_192_wrap();
    case kCipherAes256:
      return EVP_aes_256_wrap();
    default:
      return nullptr;
  }
}

void put_mpi(std::vector<uint8_t>& out, std::span<const uint8_t> v) {
  while (!v.empty() && v[0] == 0) v = v.subspan(1);
  size_t bits = v.size() * 8;
  if (!v.empty()) {
    for (uint8_t top = v[0]; (top & 0x80) == 0; top <<= 1) --bits;
  }
  out.push_back(static_cast<uint8_t>(bits >> 8));
  out.push_back(static_cast<uint8_t>(bits));
  out.insert(out.end(), v.begin(), v.end());
}

void put_header(std::vector<uint8_t>& out, size_t body) {
  out.push_back(0xC0 | kTagPkesk);
  uint8_t len[5];
  out.insert(out.end(), len, put_definite_length(len, body));
}

void put_key_id(std::vector<uint8_t>& out, uint64_t id) {
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(id >> s));
}

// AES key wrap / unwrap (RFC 3394) through OpenSSL's wrap ciphers; false when unwrapping fails
// its integrity check.
bool aes_wrap(uint8_t cipher_id, bool wrap, std::span<const uint8_t> kek,
              std::span<const uint8_t> in, uint8_t* out, size_t& out_len) {
  const EVP_CIPHER* c = wrap_cipher(cipher_id);
  if (c == nullptr || kek.size() != static_cast<size_t>(EVP_CIPHER_get_key_length(c))) {
    throw Error(Errc::kInternal, "bad ECDH key-wrap parameters");
  }
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
  if (!ctx) throw Error(Errc::kInternal, "out of memory in OpenSSL");
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_CipherInit_ex2(ctx.get(), c, kek.data(), nullptr, wrap ? 1 : 0, nullptr) != 1) {
    throw Error(Errc::kInternal, "cannot initialise AES key wrap in OpenSSL");
  }
  int n = 0;
  if (EVP_CipherUpdate(ctx.get(), out, &n, in.data(), static_cast<int>(in.size())) != 1 || n <= 0) {
    if (wrap) throw Error(Errc::kInternal, "AES key wrap failed in OpenSSL");
    return false;
  }
  out_len = static_cast<size_t>(n);
  return true;
}

}  // namespace

PkeskFields parse_pkesk(std::span<const uint8_t> b) {
  PkeskFields f;
  if (b.empty()) malformed("empty public-key encrypted session key packet");
  if (b[0] != 3) {
    throw Error(Errc::kUnsupported,
                "public-key encrypted session key packet version " + std::to_string(b[0]) +
                    (b[0] == 6 ? " (RFC 9580)" : "") + " is not supported",
                "decrypt the message with the program that wrote it");
  }
  if (b.size() < 10) malformed("public-key encrypted session key packet is truncated");
  for (size_t i = 1; i < 9; ++i) f.key_id = (f.key_id << 8) | b[i];
  f.algorithm = b[9];
  size_t pos = 10;
  auto mpi = [&](const char* what) -> std::span<const uint8_t> {
    if (b.size() < pos + 2) malformed(std::string(what) + " is truncated");
    size_t len = ((size_t{b[pos]} << 8 | b[pos + 1]) + 7) / 8;
    pos += 2;
    if (b.size() - pos < len) malformed(std::string(what) + " is truncated");
    auto v = b.subspan(pos, len);
    pos += len;
    return v;
  };
  switch (f.algorithm) {
    case kPkRsa:
    case kPkRsaEncryptOnly:
      f.rsa_c = mpi("RSA encrypted session key");
      while (!f.rsa_c.empty() && f.rsa_c[0] == 0) f.rsa_c = f.rsa_c.subspan(1);
      break;
    case kPkEcdh: {
      f.ephemeral = mpi("ECDH ephemeral key");
      if (b.size() < pos + 1) malformed("ECDH wrapped session key is truncated");
      size_t n = b[pos++];
      if (b.size() - pos < n) malformed("ECDH wrapped session key is truncated");
      f.wrapped = b.subspan(pos, n);
      pos += n;
      break;
    }
    default: {
      KeyPacket k;
      k.algorithm = f.algorithm;
      throw Error(Errc::kUnsupported,
                  "the message is encrypted to a " + k.algorithm_description() +
                      " key; pvesafe decrypts RSA and ECDH (Curve25519) only",
                  "decrypt it with gpg");
    }
  }
  if (pos != b.size()) malformed("public-key encrypted session key packet has trailing bytes");
  return f;
}

EcdhParams ecdh_params_of(const KeyPacket& key) {
  EcdhParams p;
  p.oid = key.oid;
  p.kdf_hash = key.kdf_hash;
  p.kdf_cipher = key.kdf_cipher;
  p.fingerprint = key.fingerprint;
  return p;
}

void check_ecdh_params(const EcdhParams& p) {
  if (p.kdf_hash != 8 && p.kdf_hash != 9 && p.kdf_hash != 10) {
    throw Error(Errc::kUnsupported,
                "ECDH key uses KDF hash " + hash_name(p.kdf_hash) +
                    "; pvesafe supports SHA-256, SHA-384 and SHA-512",
                "use a key made by gpg, sq or rnp with default settings");
  }
  if (wrap_cipher(p.kdf_cipher) == nullptr) {
    throw Error(Errc::kUnsupported,
                "ECDH key uses key-wrap cipher " + cipher_name(p.kdf_cipher) +
                    "; pvesafe supports AES-128, AES-192 and AES-256",
                "use a key made by gpg, sq or rnp with default settings");
  }
}

size_t ecdh_kek_size(const EcdhParams& p) {
  const EVP_CIPHER* c = wrap_cipher(p.kdf_cipher);
  if (c == nullptr) check_ecdh_params(p);
  return static_cast<size_t>(EVP_CIPHER_get_key_length(c));
}

void ecdh_kdf(const EcdhParams& p, std::span<const uint8_t, 32> shared, std::span<uint8_t> kek) {
  const EVP_MD* md = hash_md(p.kdf_hash);
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  static const uint8_t kCounter[4] = {0, 0, 0, 1};
  static const char kSender[] = "Anonymous Sender    ";
  const uint8_t oid_len = static_cast<uint8_t>(p.oid.size());
  const uint8_t params[5] = {kPkEcdh, 3, 1, p.kdf_hash, p.kdf_cipher};
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), kCounter, 4) != 1 ||
      EVP_DigestUpdate(ctx.get(), shared.data(), shared.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), &oid_len, 1) != 1 ||
      EVP_DigestUpdate(ctx.get(), p.oid.data(), p.oid.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), params, sizeof params) != 1 ||
      EVP_DigestUpdate(ctx.get(), kSender, 20) != 1 ||
      EVP_DigestUpdate(ctx.get(), p.fingerprint.data(), p.fingerprint.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &dlen) != 1 || dlen < kek.size()) {
    throw Error(Errc::kInternal, "ECDH key derivation failed in OpenSSL");
  }
  std::copy(digest, digest + kek.size(), kek.begin());
  OPENSSL_cleanse(digest, sizeof digest);
}

size_t session_key_frame(const SessionKey& key, uint8_t* out) {
  out[0] = key.cipher;
  std::copy(key.key.begin(), key.key.begin() + key.size, out + 1);
  unsigned sum = 0;
  for (size_t i = 0; i < key.size; ++i) sum += key.key[i];
  out[1 + key.size] = static_cast<uint8_t>(sum >> 8);
  out[2 + key.size] = static_cast<uint8_t>(sum);
  return 3u + key.size;
}

bool parse_session_key_frame(std::span<const uint8_t> frame, SessionKey& key) {
  if (frame.size() < 3) return false;
  const CipherInfo* c = find_cipher(frame[0]);
  if (c == nullptr || frame.size() != 3 + c->key_size) return false;
  unsigned sum = 0;
  for (size_t i = 0; i < c->key_size; ++i) sum += frame[1 + i];
  unsigned want = (unsigned{frame[1 + c->key_size]} << 8) | frame[2 + c->key_size];
  if ((sum & 0xFFFF) != want) return false;
  key.cipher = frame[0];
  key.size = static_cast<uint8_t>(c->key_size);
  std::copy(frame.begin() + 1, frame.begin() + 1 + static_cast<ptrdiff_t>(c->key_size),
            key.key.begin());
  return true;
}

void ecdh_wrap(const EcdhParams& p, std::span<const uint8_t> kek, std::span<const uint8_t> frame,
               std::vector<uint8_t>& out) {
  // PKCS#5 padding to a multiple of 8 octets (always at least one octet).
  uint8_t padded[48];
  size_t pad = 8 - frame.size() % 8;
  if (frame.size() + pad > sizeof padded)
    throw Error(Errc::kInternal, "session key frame too long");
  std::copy(frame.begin(), frame.end(), padded);
  std::fill(padded + frame.size(), padded + frame.size() + pad, static_cast<uint8_t>(pad));
  uint8_t wrapped[56];
  size_t n = 0;
  aes_wrap(p.kdf_cipher, true, kek, std::span(padded, frame.size() + pad), wrapped, n);
  OPENSSL_cleanse(padded, sizeof padded);
  out.insert(out.end(), wrapped, wrapped + n);
}

bool ecdh_unwrap(const EcdhParams& p, std::span<const uint8_t> kek,
                 std::span<const uint8_t> wrapped, SessionKey& key) {
  if (wrapped.size() < 24 || wrapped.size() > 64 || wrapped.size() % 8 != 0) return false;
  WipedBytes plain(wrapped.size());
  size_t n = 0;
  if (!aes_wrap(p.kdf_cipher, false, kek, wrapped, plain.data(), n) || n < 8) return false;
  // Frame, then 1..8 octets of PKCS#5 padding (AES key wrap already vouches for the content).
  const CipherInfo* c = find_cipher(plain[0]);
  if (c == nullptr) return false;
  size_t frame = 3 + c->key_size;
  if (n < frame + 1 || n - frame > 8) return false;
  return parse_session_key_frame(std::span(plain.data(), frame), key);
}

void append_pkesk_rsa(std::vector<uint8_t>& out, uint64_t key_id, std::span<const uint8_t> c) {
  std::vector<uint8_t> body;
  body.push_back(3);
  put_key_id(body, key_id);
  body.push_back(kPkRsa);
  put_mpi(body, c);
  put_header(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
}

void append_pkesk_ecdh(std::vector<uint8_t>& out, uint64_t key_id,
                       std::span<const uint8_t, 32> ephemeral_public,
                       std::span<const uint8_t> wrapped) {
  const size_t body = 1 + 8 + 1 + (2 + 33) + 1 + wrapped.size();
  put_header(out, body);
  out.push_back(3);
  put_key_id(out, key_id);
  out.push_back(kPkEcdh);
  out.push_back(0x01);  // 263 bits: 0x40 and 32 octets
  out.push_back(0x07);
  out.push_back(0x40);
  out.insert(out.end(), ephemeral_public.begin(), ephemeral_public.end());
  out.push_back(static_cast<uint8_t>(wrapped.size()));
  out.insert(out.end(), wrapped.begin(), wrapped.end());
}

std::vector<uint8_t> rsa_encrypt_frame(EVP_PKEY* key, std::span<const uint8_t> frame) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  size_t len = static_cast<size_t>(EVP_PKEY_get_size(key));
  std::vector<uint8_t> out(len);
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
      EVP_PKEY_encrypt(ctx.get(), out.data(), &len, frame.data(), frame.size()) != 1) {
    throw Error(Errc::kInternal, "RSA encryption failed in OpenSSL");
  }
  out.resize(len);
  size_t zeros = 0;
  while (zeros < out.size() && out[zeros] == 0) ++zeros;
  out.erase(out.begin(), out.begin() + static_cast<ptrdiff_t>(zeros));
  return out;
}

bool rsa_decrypt_session_key(EVP_PKEY* key, std::span<const uint8_t> c, SessionKey& out) {
  const size_t mod = static_cast<size_t>(EVP_PKEY_get_size(key));
  if (c.empty() || c.size() > mod) return false;
  std::vector<uint8_t> in(mod - c.size(), 0);
  in.insert(in.end(), c.begin(), c.end());
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  WipedBytes frame(mod);
  size_t len = mod;
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) {
    throw Error(Errc::kInternal, "cannot initialise RSA decryption in OpenSSL");
  }
  if (EVP_PKEY_decrypt(ctx.get(), frame.data(), &len, in.data(), in.size()) != 1) return false;
  return parse_session_key_frame(std::span(frame.data(), len), out);
}

bool ecdh_session_key_from_shared(const EcdhParams& p, std::span<const uint8_t, 32> shared,
                                  const PkeskFields& f, SessionKey& out) {
  uint8_t kek[32];
  size_t kek_size = ecdh_kek_size(p);
  ecdh_kdf(p, shared, std::span(kek, kek_size));
  bool ok = ecdh_unwrap(p, std::span(kek, kek_size), f.wrapped, out);
  OPENSSL_cleanse(kek, sizeof kek);
  return ok;
}

bool ecdh_decrypt_session_key(EVP_PKEY* own, const EcdhParams& p, const PkeskFields& f,
                              SessionKey& out) {
  if (f.ephemeral.size() != 33 || f.ephemeral[0] != 0x40) return false;
  PkeyPtr peer = x25519_public_key(f.ephemeral.subspan(1));
  uint8_t shared[32];
  if (!peer || !x25519_agree(own, peer.get(), shared)) return false;
  bool ok = ecdh_session_key_from_shared(p, std::span<const uint8_t, 32>(shared, 32), f, out);
  OPENSSL_cleanse(shared, sizeof shared);
  return ok;
}

}  // namespace pvesafe::crypto::detail
