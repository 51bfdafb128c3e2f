#include "crypto/cert.h"

#include <time.h>

#include <algorithm>

#include "core/error.h"
#include "crypto/armor.h"
#include "crypto/packet.h"

namespace pvesafe::crypto::detail {

namespace {

[[noreturn]] void malformed_key(const std::string& what) {
  throw Error(Errc::kIntegrity, "OpenPGP key is malformed: " + what,
              "export the key again (gpg --export, sq key extract-cert, rnpkeys --export-key)");
}

[[noreturn]] void not_a_key(const std::string& what) {
  throw Error(Errc::kUsage, "the data is not an OpenPGP key: " + what,
              "give a key as exported by gpg --export, sq key extract-cert or rnpkeys "
              "--export-key (binary or ASCII-armored)");
}

bool is_message_packet(int tag) {
  return tag == kTagPkesk || tag == kTagSkesk || tag == kTagCompressed || tag == kTagSed ||
         tag == kTagLiteral || tag == kTagSeipd || tag == kTagAead || tag == kTagOnePassSignature;
}

// The newest of two candidate signatures (by creation time; the later one wins ties, as it
// comes later in the key).
bool newer(const SignaturePacket& a, const SignaturePacket* best) {
  return best == nullptr || a.created.value_or(0) >= best->created.value_or(0);
}

}  // namespace

std::string format_date(int64_t unix_time) {
  time_t t = static_cast<time_t>(unix_time);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

WipedBytes key_data_binary(std::span<const uint8_t> data) {
  if (!looks_armored(data)) return WipedBytes(data);
  auto blocks = dearmor(data);
  size_t total = 0;
  for (const auto& b : blocks) {
    if (b.label.find("MESSAGE") != std::string::npos ||
        b.label.find("SIGNATURE") != std::string::npos) {
      not_a_key("it is an armored " + b.label);
    }
    total += b.data.size();
  }
  WipedBytes out(total);
  size_t at = 0;
  for (const auto& b : blocks) {
    std::copy(b.data.data(), b.data.data() + b.data.size(), out.data() + at);
    at += b.data.size();
  }
  return out;
}

std::vector<Cert> parse_certs(std::span<const uint8_t> data) {
  std::vector<Cert> certs;
  size_t pos = 0;
  size_t cert_start = 0;
  enum class Last { kNone, kPrimary, kUserId, kSubkey } last = Last::kNone;
  auto next = [&]() -> int { return pos < data.size() ? data[pos++] : -1; };
  auto close_cert = [&](size_t end) {
    if (!certs.empty()) certs.back().packets = data.subspan(cert_start, end - cert_start);
  };
  PacketHeader h;
  for (;;) {
    const size_t at = pos;
    if (!parse_header(next, h)) break;
    if (h.kind != LengthKind::kDefinite) {
      malformed_key("packet at offset " + std::to_string(at) + " has no definite length");
    }
    if (h.length > data.size() - pos) {
      malformed_key("packet at offset " + std::to_string(at) + " is truncated");
    }
    auto body = data.subspan(pos, static_cast<size_t>(h.length));
    pos += static_cast<size_t>(h.length);
    switch (h.tag) {
      case kTagPublicKey:
      case kTagSecretKey: {
        close_cert(at);
        cert_start = at;
        Cert c;
        c.primary = parse_key_packet(h.tag, body);
        certs.push_back(std::move(c));
        last = Last::kPrimary;
        break;
      }
      case kTagUserId:
      case kTagUserAttribute:
        if (certs.empty()) not_a_key("a user ID comes before any key");
        certs.back().user_ids.push_back(
            {h.tag, std::vector<uint8_t>(body.begin(), body.end()), {}});
        last = Last::kUserId;
        break;
      case kTagPublicSubkey:
      case kTagSecretSubkey:
        if (certs.empty()) not_a_key("a subkey comes before any primary key");
        if ((h.tag == kTagSecretSubkey) != certs.back().primary.is_secret()) {
          malformed_key("public and secret key packets are mixed in one key");
        }
        certs.back().subkeys.push_back({parse_key_packet(h.tag, body), {}});
        last = Last::kSubkey;
        break;
      case kTagSignature: {
        if (certs.empty()) {
          not_a_key(
              "it starts with a signature (a revocation certificate or a detached "
              "signature?)");
        }
        SignaturePacket s = parse_signature(body);
        Cert& c = certs.back();
        if (last == Last::kPrimary) {
          c.direct_sigs.push_back(std::move(s));
        } else if (last == Last::kUserId) {
          c.user_ids.back().sigs.push_back(std::move(s));
        } else {
          c.subkeys.back().sigs.push_back(std::move(s));
        }
        break;
      }
      case kTagTrust:
      case kTagMarker:
      case kTagPadding:
        break;
      default:
        if (is_message_packet(h.tag)) not_a_key("it is an OpenPGP message");
        if (certs.empty()) not_a_key("unexpected packet (tag " + std::to_string(h.tag) + ")");
        break;  // unknown packets inside a key are skipped
    }
  }
  close_cert(data.size());
  if (certs.empty()) not_a_key("no key packet found");
  return certs;
}

bool KeyValidity::can_encrypt(const KeyPacket& k) const {
  if (flags) return (*flags & (kFlagEncryptCommunications | kFlagEncryptStorage)) != 0;
  return k.algorithm_can_encrypt();
}

KeyInfo key_info(const KeyPacket& k, int64_t expires) {
  KeyInfo i;
  i.fingerprint = k.fingerprint;
  i.key_id = k.key_id;
  i.algorithm = k.algorithm;
  i.algorithm_name = k.algorithm_name();
  i.created = k.created;
  i.expires = expires;
  return i;
}

CertValidity evaluate(const Cert& c) {
  CertValidity v;
  const auto pprefix = key_hash_prefix(c.primary);
  bool unsupported = false;
  auto good = [&](const SignaturePacket& s, std::initializer_list<std::span<const uint8_t>> data) {
    if (s.version != 4 || s.unknown_critical) return false;
    if (s.issuer && *s.issuer != c.primary.key_id) return false;  // someone else's signature
    std::vector<std::span<const uint8_t>> pieces(data);
    Verified r = verify_signature(c.primary, s, pieces);
    if (r == Verified::kUnsupported) unsupported = true;
    return r == Verified::kGood;
  };
  auto expiry = [](const KeyPacket& k, const SignaturePacket& s) -> int64_t {
    uint32_t after = s.key_expires_after.value_or(0);
    return after == 0 ? 0 : int64_t{k.created} + after;
  };

  // Primary key: the newest valid self-signature, direct or over a user ID that is not revoked.
  const SignaturePacket* best = nullptr;
  for (const auto& s : c.direct_sigs) {
    if (s.type == kSigDirectKey && good(s, {pprefix})) {
      if (newer(s, best)) best = &s;
    } else if (s.type == kSigKeyRevocation && good(s, {pprefix})) {
      v.primary.revoked = true;
      v.primary.revocation_reason = s.revocation_reason;
    }
  }
  for (const auto& uid : c.user_ids) {
    const auto uprefix = user_id_hash_prefix(uid.tag, uid.body);
    const SignaturePacket* cert_sig = nullptr;
    const SignaturePacket* revocation = nullptr;
    for (const auto& s : uid.sigs) {
      if (s.type >= kSigCertGeneric && s.type <= kSigCertPositive) {
        if (good(s, {pprefix, uprefix}) && newer(s, cert_sig)) cert_sig = &s;
      } else if (s.type == kSigCertRevocation) {
        if (good(s, {pprefix, uprefix}) && newer(s, revocation)) revocation = &s;
      }
    }
    if (cert_sig == nullptr) continue;
    if (revocation != nullptr && revocation->created.value_or(0) >= cert_sig->created.value_or(0)) {
      continue;
    }
    if (uid.tag == kTagUserId) v.user_ids.emplace_back(uid.body.begin(), uid.body.end());
    if (newer(*cert_sig, best)) best = cert_sig;
  }
  if (best != nullptr) {
    v.primary.bound = true;
    v.primary.flags = best->key_flags;
    v.primary.expires = expiry(c.primary, *best);
  } else {
    v.primary_unverifiable = unsupported;
  }

  for (const auto& sub : c.subkeys) {
    KeyValidity kv;
    const auto sprefix = key_hash_prefix(sub.key);
    const SignaturePacket* binding = nullptr;
    for (const auto& s : sub.sigs) {
      if (s.type == kSigSubkeyBinding && good(s, {pprefix, sprefix})) {
        if (newer(s, binding)) binding = &s;
      } else if (s.type == kSigSubkeyRevocation && good(s, {pprefix, sprefix})) {
        kv.revoked = true;
        kv.revocation_reason = s.revocation_reason;
      }
    }
    if (binding != nullptr) {
      kv.bound = true;
      kv.flags = binding->key_flags;
      kv.expires = expiry(sub.key, *binding);
    }
    v.subkeys.push_back(kv);
  }
  return v;
}

}  // namespace pvesafe::crypto::detail
