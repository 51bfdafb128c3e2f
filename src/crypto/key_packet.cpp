#include "crypto/key_packet.h"

#include <openssl/evp.h>

#include <algorithm>

#include "core/error.h"

namespace pvesafe::crypto::detail {

namespace {

[[noreturn]] void malformed_key(const std::string& what) {
  throw Error(Errc::kIntegrity, "OpenPGP key is malformed: " + what,
              "export the key again (gpg --export, sq key extract-cert, rnpkeys --export-key)");
}

template <size_t N>
bool oid_is(const std::vector<uint8_t>& oid, const uint8_t (&want)[N]) {
  return oid.size() == N && std::equal(oid.begin(), oid.end(), want);
}

size_t mpi_bits(std::span<const uint8_t> v) {
  if (v.empty()) return 0;
  size_t bits = v.size() * 8;
  for (uint8_t top = v[0]; (top & 0x80) == 0; top <<= 1) --bits;
  return bits;
}

std::string curve_name(const std::vector<uint8_t>& oid) {
  if (oid_is(oid, kOidCurve25519Legacy)) return "cv25519";
  if (oid_is(oid, kOidEd25519Legacy)) return "ed25519";
  if (oid_is(oid, kOidNistP256)) return "nistp256";
  if (oid_is(oid, kOidNistP384)) return "nistp384";
  if (oid_is(oid, kOidNistP521)) return "nistp521";
  return "unknown curve";
}

}  // namespace

std::span<const uint8_t> read_mpi(std::span<const uint8_t> data, size_t& pos, const char* what) {
  if (data.size() < pos + 2) malformed_key(std::string(what) + " is truncated");
  size_t bits = (size_t{data[pos]} << 8) | data[pos + 1];
  size_t len = (bits + 7) / 8;
  pos += 2;
  if (data.size() - pos < len) malformed_key(std::string(what) + " is truncated");
  auto v = data.subspan(pos, len);
  pos += len;
  while (!v.empty() && v[0] == 0) v = v.subspan(1);
  return v;
}

std::string hex_upper(std::span<const uint8_t> bytes) {
  static const char* d = "0123456789ABCDEF";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}

std::string hex_key_id(uint64_t key_id) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(key_id >> (56 - 8 * i));
  return hex_upper(b);
}

bool KeyPacket::pvesafe_can_encrypt() const {
  if (!parsed) return false;
  if (algorithm == kPkRsa || algorithm == kPkRsaEncryptOnly) return true;
  return algorithm == kPkEcdh && oid_is(oid, kOidCurve25519Legacy);
}

bool KeyPacket::algorithm_can_encrypt() const {
  switch (algorithm) {
    case kPkRsa:
    case kPkRsaEncryptOnly:
    case kPkElgamal:
    case kPkEcdh:
    case kPkX25519:
    case kPkX448:
      return true;
    default:
      return false;
  }
}

std::string KeyPacket::algorithm_name() const {
  auto bits = [&] { return std::to_string(mpis.empty() ? 0 : mpi_bits(mpis[0])); };
  switch (algorithm) {
    case kPkRsa:
    case kPkRsaEncryptOnly:
    case kPkRsaSignOnly:
      return "rsa" + bits();
    case kPkElgamal:
      return "elg" + bits();
    case kPkDsa:
      return "dsa" + bits();
    case kPkEcdh:
    case kPkEcdsa:
    case kPkEddsaLegacy:
      return curve_name(oid);
    case kPkX25519:
      return "x25519";
    case kPkX448:
      return "x448";
    case kPkEd25519:
      return "ed25519";
    case kPkEd448:
      return "ed448";
    default:
      return "algorithm " + std::to_string(algorithm);
  }
}

std::string KeyPacket::algorithm_description() const {
  switch (algorithm) {
    case kPkEcdh:
      return "ECDH on " + curve_name(oid);
    case kPkEcdsa:
      return "ECDSA on " + curve_name(oid);
    case kPkEddsaLegacy:
      return "EdDSA on " + curve_name(oid);
    case kPkElgamal:
      return "ElGamal";
    case kPkDsa:
      return "DSA";
    case kPkX25519:
      return "X25519 (RFC 9580)";
    case kPkX448:
      return "X448";
    default:
      return algorithm_name();
  }
}

KeyPacket parse_key_packet(int tag, std::span<const uint8_t> body) {
  KeyPacket k;
  k.tag = tag;
  if (body.empty()) malformed_key("empty key packet");
  k.version = body[0];
  if (k.version != 4) {
    throw Error(Errc::kUnsupported,
                "OpenPGP key version " + std::to_string(k.version) +
                    " is not supported (pvesafe reads version 4 keys, as gpg 2.2, sq and rnp "
                    "write them)",
                "use a version 4 key");
  }
  if (body.size() < 6) malformed_key("key packet is truncated");
  k.created =
      (uint32_t{body[1]} << 24) | (uint32_t{body[2]} << 16) | (uint32_t{body[3]} << 8) | body[4];
  k.algorithm = body[5];
  size_t pos = 6;
  auto mpi = [&](const char* what) {
    auto v = read_mpi(body, pos, what);
    k.mpis.emplace_back(v.begin(), v.end());
  };
  auto oid = [&] {
    if (body.size() < pos + 1) malformed_key("curve OID is truncated");
    size_t n = body[pos++];
    if (n == 0 || n == 0xFF || body.size() - pos < n) malformed_key("curve OID is invalid");
    k.oid.assign(body.begin() + static_cast<ptrdiff_t>(pos),
                 body.begin() + static_cast<ptrdiff_t>(pos + n));
    pos += n;
  };
  auto native = [&](size_t n) {
    if (body.size() - pos < n) malformed_key("public key is truncated");
    k.native.assign(body.begin() + static_cast<ptrdiff_t>(pos),
                    body.begin() + static_cast<ptrdiff_t>(pos + n));
    pos += n;
  };
  k.parsed = true;
  switch (k.algorithm) {
    case kPkRsa:
    case kPkRsaEncryptOnly:
    case kPkRsaSignOnly:
      mpi("RSA modulus");
      mpi("RSA exponent");
      break;
    case kPkElgamal:
      mpi("ElGamal prime");
      mpi("ElGamal generator");
      mpi("ElGamal public value");
      break;
    case kPkDsa:
      mpi("DSA prime");
      mpi("DSA group order");
      mpi("DSA generator");
      mpi("DSA public value");
      break;
    case kPkEcdsa:
    case kPkEddsaLegacy:
      oid();
      mpi("EC point");
      break;
    case kPkEcdh: {
      oid();
      mpi("EC point");
      if (body.size() < pos + 1) malformed_key("ECDH KDF parameters are truncated");
      size_t n = body[pos++];
      if (n < 3 || body.size() - pos < n) malformed_key("ECDH KDF parameters are truncated");
      if (body[pos] != 1) {
        throw Error(
            Errc::kUnsupported,
            "ECDH KDF parameters version " + std::to_string(body[pos]) + " is not supported",
            "use a key made by gpg, sq or rnp");
      }
      k.kdf_hash = body[pos + 1];
      k.kdf_cipher = body[pos + 2];
      pos += n;
      break;
    }
    case kPkX25519:
      native(32);
      break;
    case kPkX448:
      native(56);
      break;
    case kPkEd25519:
      native(32);
      break;
    case kPkEd448:
      native(57);
      break;
    default:
      k.parsed = false;
      break;
  }
  size_t public_end = k.parsed ? pos : body.size();
  if (!k.parsed && k.is_secret()) {
    // The boundary between public and secret fields is unknown: no fingerprint.
    k.public_body.assign(body.begin(), body.end());
    return k;
  }
  k.public_body.assign(body.begin(), body.begin() + static_cast<ptrdiff_t>(public_end));
  if (k.is_secret()) {
    k.secret = body.subspan(public_end);
  } else if (public_end != body.size()) {
    malformed_key("public key packet has " + std::to_string(body.size() - public_end) +
                  " unexpected trailing bytes");
  }
  auto prefix = key_hash_prefix(k);
  unsigned int len = 0;
  if (EVP_Digest(prefix.data(), prefix.size(), k.fingerprint.data(), &len, EVP_sha1(), nullptr) !=
          1 ||
      len != 20) {
    throw Error(Errc::kInternal, "SHA-1 failed in OpenSSL");
  }
  for (int i = 12; i < 20; ++i) k.key_id = (k.key_id << 8) | k.fingerprint[static_cast<size_t>(i)];
  return k;
}

std::vector<uint8_t> key_hash_prefix(const KeyPacket& key) {
  if (key.public_body.size() > 0xFFFF) malformed_key("key packet is longer than 65535 bytes");
  std::vector<uint8_t> out;
  out.reserve(3 + key.public_body.size());
  out.push_back(0x99);
  out.push_back(static_cast<uint8_t>(key.public_body.size() >> 8));
  out.push_back(static_cast<uint8_t>(key.public_body.size()));
  out.insert(out.end(), key.public_body.begin(), key.public_body.end());
  return out;
}

}  // namespace pvesafe::crypto::detail
