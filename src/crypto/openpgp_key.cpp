// load_public_key: picks the key a write-only backup host encrypts to (see openpgp_key.h).
#include "crypto/openpgp_key.h"

#include "core/error.h"
#include "crypto/cert.h"

namespace pvesafe::crypto {

namespace {

using namespace detail;

constexpr size_t kMinRsaBits = 2048;

std::string reason_text(std::optional<uint8_t> reason) {
  if (!reason) return "";
  switch (*reason) {
    case 1:
      return " (reason: superseded)";
    case 2:
      return " (reason: compromised)";
    case 3:
      return " (reason: retired)";
    default:
      return "";
  }
}

std::string describe(const Cert& c, const CertValidity& v) {
  std::string s = fingerprint_hex(c.primary.fingerprint);
  if (!v.user_ids.empty()) s += " (" + v.user_ids.front() + ")";
  return s;
}

size_t rsa_bits(const KeyPacket& k) {
  if (k.mpis.empty() || k.mpis[0].empty()) return 0;
  size_t bits = k.mpis[0].size() * 8;
  for (uint8_t top = k.mpis[0][0]; (top & 0x80) == 0; top <<= 1) --bits;
  return bits;
}

bool usable_algorithm(const KeyPacket& k) {
  if (!k.pvesafe_can_encrypt()) return false;
  const bool rsa = k.algorithm == kPkRsa || k.algorithm == kPkRsaEncryptOnly;
  return !rsa || rsa_bits(k) >= kMinRsaBits;
}

}  // namespace

std::string fingerprint_hex(const Fingerprint& fpr) { return hex_upper(fpr); }
std::string key_id_hex(uint64_t key_id) { return detail::hex_key_id(key_id); }

const KeyInfo& PublicKey::primary() const { return d_->primary; }
const KeyInfo& PublicKey::encryption_key() const { return d_->encryption; }
const std::vector<std::string>& PublicKey::user_ids() const { return d_->user_ids; }
std::span<const uint8_t> PublicKey::packets() const { return d_->packets; }

PublicKey load_public_key(std::span<const uint8_t> data, std::time_t now) {
  WipedBytes binary = key_data_binary(data);
  std::vector<Cert> certs = parse_certs(binary.span());
  if (certs.size() != 1) {
    std::string list;
    for (const auto& c : certs)
      list += (list.empty() ? "" : ", ") + fingerprint_hex(c.primary.fingerprint);
    throw Error(Errc::kUsage,
                "the key data holds " + std::to_string(certs.size()) + " keys (" + list +
                    "); backups are encrypted to exactly one",
                "export only that key: gpg --export FINGERPRINT");
  }
  const Cert& c = certs.front();
  if (c.primary.is_secret()) {
    throw Error(Errc::kUsage,
                "the key data holds a secret key; a backup host needs only the public key, and "
                "must not hold the secret one",
                "export the public key (gpg --export FINGERPRINT, sq key extract-cert) and keep "
                "the secret key on the restore side");
  }
  CertValidity v = evaluate(c);
  const std::string who = describe(c, v);
  if (!v.primary.bound) {
    if (v.primary_unverifiable) {
      throw Error(Errc::kUnsupported,
                  "cannot check the self-signatures of key " + who + ": its primary key uses " +
                      c.primary.algorithm_description() +
                      "; pvesafe checks RSA, EdDSA and ECDSA on NIST curves",
                  "use a key made by gpg 2.2, sq or rnp with their default algorithms");
    }
    throw Error(Errc::kIntegrity,
                "key " + who + " has no valid self-signature (it was altered or damaged)",
                "export the key again from the keyring that made it");
  }
  if (v.primary.revoked) {
    throw Error(Errc::kConfig,
                "key " + who + " was revoked" + reason_text(v.primary.revocation_reason),
                "encrypt backups to a key that is not revoked (e.g. gpg --quick-gen-key)");
  }
  if (v.primary.expires != 0 && v.primary.expires <= now) {
    throw Error(Errc::kConfig, "key " + who + " expired on " + format_date(v.primary.expires),
                "extend it (gpg --quick-set-expire " + fingerprint_hex(c.primary.fingerprint) +
                    " 2y, and the same with '*' for its subkeys), then export it again");
  }

  // Candidates: the primary key if it may encrypt, then bound subkeys flagged for encryption;
  // a valid subkey is always preferred to the primary, the newest among subkeys.
  struct Candidate {
    const KeyPacket* key;
    const KeyValidity* validity;
  };
  std::vector<Candidate> candidates;
  if (v.primary.can_encrypt(c.primary)) candidates.push_back({&c.primary, &v.primary});
  for (size_t i = 0; i < c.subkeys.size(); ++i) {
    if (v.subkeys[i].bound && v.subkeys[i].can_encrypt(c.subkeys[i].key)) {
      candidates.push_back({&c.subkeys[i].key, &v.subkeys[i]});
    }
  }
  if (candidates.empty()) {
    throw Error(Errc::kConfig, "key " + who + " has no encryption subkey",
                "add one (gpg --quick-add-key " + fingerprint_hex(c.primary.fingerprint) +
                    " cv25519 encr) and export the key again");
  }
  const Candidate* chosen = nullptr;
  const Candidate* newest_refused = nullptr;
  std::string refusal;
  std::string unsupported;
  for (const auto& cand : candidates) {
    const KeyPacket& k = *cand.key;
    if (!usable_algorithm(k)) {
      if (unsupported.empty()) {
        unsupported = k.algorithm == kPkRsa || k.algorithm == kPkRsaEncryptOnly
                          ? "RSA with " + std::to_string(rsa_bits(k)) + " bits (too weak)"
                          : k.algorithm_description();
      }
      continue;
    }
    const bool expired = cand.validity->expires != 0 && cand.validity->expires <= now;
    if (cand.validity->revoked || expired) {
      if (newest_refused == nullptr || k.created >= newest_refused->key->created) {
        newest_refused = &cand;
        refusal = cand.validity->revoked
                      ? "was revoked" + reason_text(cand.validity->revocation_reason)
                      : "expired on " + format_date(cand.validity->expires);
      }
      continue;
    }
    if (chosen == nullptr || chosen->key == &c.primary || k.created >= chosen->key->created) {
      chosen = &cand;
    }
  }
  if (chosen == nullptr) {
    if (newest_refused != nullptr) {
      const KeyPacket& k = *newest_refused->key;
      throw Error(Errc::kConfig,
                  "the encryption key " + key_id_hex(k.key_id) + " of key " + who + " " + refusal +
                      ", and the key has no other valid encryption key",
                  newest_refused->validity->revoked
                      ? "add a new encryption subkey (gpg --quick-add-key " +
                            fingerprint_hex(c.primary.fingerprint) +
                            " cv25519 encr) and export the key again"
                      : "extend it (gpg --quick-set-expire " +
                            fingerprint_hex(c.primary.fingerprint) +
                            " 2y '*') and export the key again");
    }
    throw Error(Errc::kUnsupported,
                "the encryption key of key " + who + " uses " + unsupported +
                    "; pvesafe encrypts to RSA (2048 bits or more) and to ECDH on Curve25519",
                "add a cv25519 or rsa3072 encryption subkey (gpg --quick-add-key " +
                    fingerprint_hex(c.primary.fingerprint) + " cv25519 encr)");
  }
  if (chosen->key->algorithm == kPkEcdh) check_ecdh_params(ecdh_params_of(*chosen->key));

  auto d = std::make_shared<PublicKeyData>();
  d->primary = key_info(c.primary, v.primary.expires);
  d->encryption = key_info(*chosen->key, chosen->validity->expires);
  d->user_ids = v.user_ids;
  d->packets.assign(c.packets.begin(), c.packets.end());
  d->encryption_key = *chosen->key;
  d->encryption_key.secret = {};
  PublicKey key;
  key.d_ = std::move(d);
  return key;
}

}  // namespace pvesafe::crypto
