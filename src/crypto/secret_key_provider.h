// SecretKeyProvider: opens the PKESK packets of messages with a secret key loaded into this
// process (load_secret_key, openpgp_key.h), e.g. from a key file on a restore host.
//
// For each message it tries the PKESK packets addressed to one of the key's decryption keys
// (by key id; a packet with the anonymous key id 0 is tried with every key of its algorithm)
// and returns the first session key whose checksum and key wrap hold. Thread-safe: the keys
// are read-only OpenSSL objects.
#pragma once

#include "crypto/openpgp_key.h"
#include "crypto/session_key.h"

namespace pvesafe::crypto {

class SecretKeyProvider final : public SessionKeyProvider {
 public:
  explicit SecretKeyProvider(SecretKey key);
  std::optional<SessionKey> session_key(std::span<const PkeskPacket> packets) override;

 private:
  SecretKey key_;
};

}  // namespace pvesafe::crypto
