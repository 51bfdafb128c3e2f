#include "crypto/signature_packet.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <memory>

#include "core/error.h"
#include "crypto/algorithms.h"
#include "crypto/openssl_keys.h"

namespace pvesafe::crypto::detail {

namespace {

[[noreturn]] void malformed_sig(const std::string& what) {
  throw Error(Errc::kIntegrity, "OpenPGP key is malformed: signature " + what,
              "export the key again (gpg --export, sq key extract-cert, rnpkeys --export-key)");
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Subpacket types this parser understands (a critical one of any other type voids the
// signature, RFC 9580 section 5.2.3.7).
bool understood(uint8_t type) {
  switch (type) {
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 9:
    case 11:
    case 12:
    case 16:
    case 21:
    case 22:
    case 23:
    case 24:
    case 25:
    case 26:
    case 27:
    case 28:
    case 29:
    case 30:
    case 31:
    case 32:
    case 33:
    case 34:
    case 35:
    case 39:
      return true;
    default:
      return false;  // includes 20, notations: a critical one is a notation we cannot honour
  }
}

void parse_subpackets(std::span<const uint8_t> area, SignaturePacket& sig, bool hashed) {
  size_t pos = 0;
  while (pos < area.size()) {
    size_t len = area[pos++];
    if (len >= 192 && len < 255) {
      if (pos >= area.size()) malformed_sig("subpacket length is truncated");
      len = ((len - 192) << 8) + area[pos++] + 192;
    } else if (len == 255) {
      if (area.size() - pos < 4) malformed_sig("subpacket length is truncated");
      len = be32(&area[pos]);
      pos += 4;
    }
    if (len == 0 || area.size() - pos < len) malformed_sig("subpacket is truncated");
    uint8_t type = area[pos] & 0x7F;
    bool critical = (area[pos] & 0x80) != 0;
    auto data = area.subspan(pos + 1, len - 1);
    pos += len;
    if (type == 16 && data.size() == 8) {
      uint64_t id = 0;
      for (uint8_t b : data) id = (id << 8) | b;
      sig.issuer = id;
    } else if (type == 33 && data.size() == 21 && data[0] == 4) {
      uint64_t id = 0;
      for (size_t i = 13; i < 21; ++i) id = (id << 8) | data[i];
      sig.issuer = id;
    }
    if (!hashed) continue;  // unhashed subpackets are not protected by the signature
    if (critical && !understood(type)) sig.unknown_critical = true;
    switch (type) {
      case 2:
        if (data.size() == 4) sig.created = be32(data.data());
        break;
      case 3:
        if (data.size() == 4) sig.expires_after = be32(data.data());
        break;
      case 9:
        if (data.size() == 4) sig.key_expires_after = be32(data.data());
        break;
      case 27:
        if (!data.empty()) sig.key_flags = data[0];
        break;
      case 29:
        if (!data.empty()) sig.revocation_reason = data[0];
        break;
      default:
        break;
    }
  }
}

std::vector<uint8_t> left_pad(std::span<const uint8_t> v, size_t n) {
  if (v.size() > n) return {};
  std::vector<uint8_t> out(n - v.size(), 0);
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

bool verify_ed25519(std::span<const uint8_t> pub32, std::span<const uint8_t> sig64,
                    std::span<const uint8_t> digest) {
  if (pub32.size() != 32 || sig64.size() != 64) return false;
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub32.data(), 32));
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!key || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), sig64.data(), 64, digest.data(), digest.size()) == 1;
}

bool verify_pkey(EVP_PKEY* key, std::span<const uint8_t> sig, std::span<const uint8_t> digest,
                 const EVP_MD* md_for_rsa) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) return false;
  if (md_for_rsa != nullptr && (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
                                EVP_PKEY_CTX_set_signature_md(ctx.get(), md_for_rsa) != 1)) {
    return false;
  }
  return EVP_PKEY_verify(ctx.get(), sig.data(), sig.size(), digest.data(), digest.size()) == 1;
}

std::vector<uint8_t> ecdsa_der(std::span<const uint8_t> r, std::span<const uint8_t> s) {
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* br = BN_bin2bn(r.data(), static_cast<int>(r.size()), nullptr);
  BIGNUM* bs = BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr);
  std::vector<uint8_t> der;
  if (sig != nullptr && br != nullptr && bs != nullptr && ECDSA_SIG_set0(sig, br, bs) == 1) {
    br = bs = nullptr;
    int n = i2d_ECDSA_SIG(sig, nullptr);
    if (n > 0) {
      der.resize(static_cast<size_t>(n));
      uint8_t* p = der.data();
      i2d_ECDSA_SIG(sig, &p);
    }
  }
  BN_free(br);
  BN_free(bs);
  ECDSA_SIG_free(sig);
  return der;
}

}  // namespace

SignaturePacket parse_signature(std::span<const uint8_t> body) {
  SignaturePacket sig;
  if (body.empty()) malformed_sig("packet is empty");
  sig.version = body[0];
  if (sig.version != 4) return sig;
  if (body.size() < 6) malformed_sig("packet is truncated");
  sig.type = body[1];
  sig.pk_algorithm = body[2];
  sig.hash_algorithm = body[3];
  size_t hashed_len = (size_t{body[4]} << 8) | body[5];
  if (body.size() < 6 + hashed_len + 2) malformed_sig("hashed subpackets are truncated");
  auto hashed = body.subspan(6, hashed_len);
  sig.hashed.assign(body.begin(), body.begin() + static_cast<ptrdiff_t>(6 + hashed_len));
  size_t pos = 6 + hashed_len;
  size_t unhashed_len = (size_t{body[pos]} << 8) | body[pos + 1];
  pos += 2;
  if (body.size() - pos < unhashed_len + 2) malformed_sig("unhashed subpackets are truncated");
  auto unhashed = body.subspan(pos, unhashed_len);
  pos += unhashed_len;
  sig.left16[0] = body[pos];
  sig.left16[1] = body[pos + 1];
  pos += 2;
  parse_subpackets(hashed, sig, true);
  parse_subpackets(unhashed, sig, false);
  auto rest = body.subspan(pos);
  if (sig.pk_algorithm == kPkEd25519 || sig.pk_algorithm == kPkEd448) {
    sig.values.emplace_back(rest.begin(), rest.end());
  } else {
    size_t p = 0;
    while (p < rest.size()) {
      auto v = read_mpi(rest, p, "signature value");
      sig.values.emplace_back(v.begin(), v.end());
    }
  }
  return sig;
}

std::vector<uint8_t> user_id_hash_prefix(int tag, std::span<const uint8_t> body) {
  std::vector<uint8_t> out;
  out.reserve(5 + body.size());
  out.push_back(tag == kTagUserAttribute ? 0xD1 : 0xB4);
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(body.size() >> s));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Verified verify_signature(const KeyPacket& signer, const SignaturePacket& sig,
                          std::span<const std::span<const uint8_t>> data) {
  if (sig.version != 4 || !signer.parsed) return Verified::kUnsupported;
  if (sig.pk_algorithm != signer.algorithm) return Verified::kBad;
  // Hashes accepted on self-signatures: SHA-1 (still on older keys) and the SHA-2 family.
  switch (sig.hash_algorithm) {
    case 2:
    case 8:
    case 9:
    case 10:
    case 11:
      break;
    default:
      return Verified::kUnsupported;
  }
  const EVP_MD* md = nullptr;
  try {
    md = hash_md(sig.hash_algorithm);
  } catch (const Error&) {
    return Verified::kUnsupported;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1) {
    throw Error(Errc::kInternal, "cannot initialise " + hash_name(sig.hash_algorithm));
  }
  for (const auto& d : data) EVP_DigestUpdate(ctx.get(), d.data(), d.size());
  EVP_DigestUpdate(ctx.get(), sig.hashed.data(), sig.hashed.size());
  uint8_t trailer[6] = {4, 0xFF};
  for (int i = 0; i < 4; ++i) {
    trailer[2 + i] = static_cast<uint8_t>(sig.hashed.size() >> (24 - 8 * i));
  }
  EVP_DigestUpdate(ctx.get(), trailer, sizeof trailer);
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &dlen) != 1) {
    throw Error(Errc::kInternal, "hashing failed in OpenSSL");
  }
  if (digest[0] != sig.left16[0] || digest[1] != sig.left16[1]) return Verified::kBad;
  std::span<const uint8_t> dig(digest, dlen);

  switch (signer.algorithm) {
    case kPkRsa:
    case kPkRsaSignOnly: {
      if (sig.values.size() != 1 || signer.mpis.size() != 2) return Verified::kBad;
      PkeyPtr key = rsa_public_key(signer.mpis[0], signer.mpis[1]);
      auto s = left_pad(sig.values[0], static_cast<size_t>(EVP_PKEY_get_size(key.get())));
      if (s.empty()) return Verified::kBad;
      return verify_pkey(key.get(), s, dig, md) ? Verified::kGood : Verified::kBad;
    }
    case kPkEddsaLegacy: {
      if (signer.oid !=
          std::vector<uint8_t>(std::begin(kOidEd25519Legacy), std::end(kOidEd25519Legacy))) {
        return Verified::kUnsupported;
      }
      const auto& q = signer.mpis[0];
      if (q.size() != 33 || q[0] != 0x40 || sig.values.size() != 2) return Verified::kBad;
      auto r = left_pad(sig.values[0], 32);
      auto s = left_pad(sig.values[1], 32);
      if (r.empty() || s.empty()) return Verified::kBad;
      r.insert(r.end(), s.begin(), s.end());
      return verify_ed25519(std::span(q).subspan(1), r, dig) ? Verified::kGood : Verified::kBad;
    }
    case kPkEd25519:
      if (sig.values.size() != 1) return Verified::kBad;
      return verify_ed25519(signer.native, sig.values[0], dig) ? Verified::kGood : Verified::kBad;
    case kPkEcdsa: {
      const char* group = ec_group_name(signer.oid);
      if (group == nullptr) return Verified::kUnsupported;
      if (sig.values.size() != 2) return Verified::kBad;
      PkeyPtr key = ec_public_key(group, signer.mpis[0]);
      if (!key) return Verified::kBad;
      auto der = ecdsa_der(sig.values[0], sig.values[1]);
      if (der.empty()) return Verified::kBad;
      return verify_pkey(key.get(), der, dig, nullptr) ? Verified::kGood : Verified::kBad;
    }
    default:
      return Verified::kUnsupported;
  }
}

}  // namespace pvesafe::crypto::detail
