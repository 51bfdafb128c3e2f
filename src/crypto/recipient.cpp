#include "crypto/recipient.h"

#include <openssl/crypto.h>

#include <array>
#include <mutex>

#include "core/error.h"
#include "crypto/algorithms.h"
#include "crypto/cert.h"
#include "crypto/openpgp.h"
#include "crypto/openpgp_internal.h"
#include "crypto/openssl_keys.h"
#include "crypto/pkesk.h"

namespace pvesafe::crypto {

namespace detail {

class RecipientState {
 public:
  RecipientState(const PublicKey& key, const RecipientOptions& options, const PublicKeyData& data)
      : key_(key), options_(options), key_id_(data.encryption_key.key_id) {
    if (options.ecdh_ephemeral_messages == 0 || options.ecdh_ephemeral_lifetime.count() <= 0) {
      throw Error(Errc::kUsage, "ECDH ephemeral key reuse must allow at least one message");
    }
    const KeyPacket& k = data.encryption_key;
    algorithm_ = k.algorithm;
    if (k.algorithm == kPkEcdh) {
      ecdh_ = ecdh_params_of(k);
      check_ecdh_params(ecdh_);
      kek_size_ = ecdh_kek_size(ecdh_);
      const auto& q = k.mpis.at(0);
      if (q.size() != 33 || q[0] != 0x40) {
        throw Error(Errc::kIntegrity,
                    "OpenPGP key is malformed: Curve25519 point is not 0x40 || 32 octets",
                    "export the key again");
      }
      peer_ = x25519_public_key(std::span(q).subspan(1));
      if (!peer_) throw Error(Errc::kIntegrity, "OpenSSL refuses the key's Curve25519 point");
    } else {
      rsa_ = rsa_public_key(k.mpis.at(0), k.mpis.at(1));
    }
  }

  ~RecipientState() { OPENSSL_cleanse(eph_.kek, sizeof eph_.kek); }

  const PublicKey& key() const { return key_; }

  // Appends the PKESK holding `session_key` (AES-256) to `head`.
  void write_pkesk(std::span<const uint8_t, 32> session_key, std::vector<uint8_t>& head) {
    SessionKey sk;
    sk.cipher = kCipherAes256;
    sk.size = 32;
    std::copy(session_key.begin(), session_key.end(), sk.key.begin());
    uint8_t frame[3 + 32];
    const size_t frame_len = session_key_frame(sk, frame);
    if (algorithm_ != kPkEcdh) {
      auto c = rsa_encrypt_frame(rsa_.get(), std::span(frame, frame_len));
      OPENSSL_cleanse(frame, sizeof frame);
      append_pkesk_rsa(head, key_id_, c);
      return;
    }
    Ephemeral e;
    if (options_.ecdh_ephemeral_messages == 1) {
      fresh(e);
    } else {
      std::lock_guard lock(mu_);
      const auto now = std::chrono::steady_clock::now();
      if (eph_.uses == 0 || eph_.uses >= options_.ecdh_ephemeral_messages ||
          now - eph_.born >= options_.ecdh_ephemeral_lifetime) {
        fresh(eph_);
        eph_.born = now;
        eph_.uses = 0;
      }
      ++eph_.uses;
      e = eph_;
    }
    std::vector<uint8_t> wrapped;
    ecdh_wrap(ecdh_, std::span(e.kek, kek_size_), std::span(frame, frame_len), wrapped);
    OPENSSL_cleanse(frame, sizeof frame);
    append_pkesk_ecdh(head, key_id_, e.pub, wrapped);
  }

 private:
  struct Ephemeral {
    uint8_t pub[32] = {};
    uint8_t kek[32] = {};
    uint32_t uses = 0;
    std::chrono::steady_clock::time_point born;
    ~Ephemeral() { OPENSSL_cleanse(kek, sizeof kek); }
  };

  // A new ephemeral X25519 key pair: its public value and the KEK agreed with the recipient.
  // The ephemeral secret exists only inside this function.
  void fresh(Ephemeral& e) {
    uint8_t secret[32];
    random_bytes(secret);
    PkeyPtr own = x25519_private_key(secret);
    OPENSSL_cleanse(secret, sizeof secret);
    uint8_t shared[32];
    if (!own || !x25519_agree(own.get(), peer_.get(), shared)) {
      throw Error(Errc::kInternal, "X25519 key agreement failed in OpenSSL");
    }
    x25519_public_of(own.get(), e.pub);
    ecdh_kdf(ecdh_, std::span<const uint8_t, 32>(shared, 32), std::span(e.kek, kek_size_));
    OPENSSL_cleanse(shared, sizeof shared);
  }

  PublicKey key_;
  RecipientOptions options_;
  uint64_t key_id_;
  uint8_t algorithm_ = 0;
  PkeyPtr rsa_;
  PkeyPtr peer_;
  EcdhParams ecdh_;
  size_t kek_size_ = 0;
  std::mutex mu_;
  Ephemeral eph_;
};

}  // namespace detail

Recipient::Recipient(const PublicKey& key, const RecipientOptions& options)
    : state_(std::make_shared<detail::RecipientState>(key, options, *key.d_)) {}
Recipient::~Recipient() = default;
Recipient::Recipient(const Recipient&) = default;
Recipient& Recipient::operator=(const Recipient&) = default;

const PublicKey& Recipient::key() const { return state_->key(); }

size_t encrypt_message_to_into(const Recipient& recipient,
                               std::span<const std::span<const uint8_t>> plaintext,
                               const std::function<uint8_t*(size_t)>& output,
                               std::string_view literal_filename) {
  std::array<uint8_t, 32> session_key;
  random_bytes(session_key);
  struct Wipe {
    std::array<uint8_t, 32>& k;
    ~Wipe() { OPENSSL_cleanse(k.data(), k.size()); }
  } wipe{session_key};
  std::vector<uint8_t> head;
  head.reserve(600);
  recipient.state_->write_pkesk(session_key, head);
  detail::WriterOptions o;
  o.literal_filename = literal_filename;
  return detail::encrypt_pieces_keyed(plaintext, head, session_key, o, output);
}

std::vector<uint8_t> encrypt_message_to(const Recipient& recipient,
                                        std::span<const uint8_t> plaintext,
                                        std::string_view literal_filename) {
  std::vector<uint8_t> out;
  const std::span<const uint8_t> one[] = {plaintext};
  encrypt_message_to_into(
      recipient, one,
      [&out](size_t n) {
        detail::resize_for_output(out, n);
        return out.data();
      },
      literal_filename);
  return out;
}

}  // namespace pvesafe::crypto
