#include "crypto/secret_key_provider.h"

#include "core/error.h"
#include "crypto/cert.h"
#include "crypto/pkesk.h"

namespace pvesafe::crypto {

SecretKeyProvider::SecretKeyProvider(SecretKey key) : key_(std::move(key)) {}

std::optional<SessionKey> SecretKeyProvider::session_key(std::span<const PkeskPacket> packets) {
  using namespace detail;
  for (const PkeskPacket& p : packets) {
    PkeskFields f;
    try {
      f = parse_pkesk(p.body);
    } catch (const Error& e) {
      // A packet to another kind of key (ElGamal, RFC 9580 versions) cannot be one of ours.
      if (e.code() != Errc::kUnsupported) throw;
      continue;
    }
    for (const DecryptionKey& k : key_.d_->keys) {
      const bool algo_fits =
          k.algorithm == kPkEcdh ? f.algorithm == kPkEcdh : f.algorithm != kPkEcdh;
      if (!algo_fits || (f.key_id != 0 && f.key_id != k.info.key_id)) continue;
      SessionKey sk;
      bool ok = k.algorithm == kPkEcdh ? ecdh_decrypt_session_key(k.pkey.get(), k.ecdh, f, sk)
                                       : rsa_decrypt_session_key(k.pkey.get(), f.rsa_c, sk);
      if (ok) return sk;
    }
  }
  return std::nullopt;
}

}  // namespace pvesafe::crypto
