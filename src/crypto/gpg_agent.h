// GpgAgentProvider: decrypts the session keys of messages with secret keys held by gpg-agent,
// so the key may stay in the restore host's GnuPG keyring, protected by its passphrase, or on a
// smartcard (OpenPGP card, YubiKey), and pvesafe never sees it.
//
// How: at construction, `gpg --with-colons --with-keygrip --list-secret-keys` names the keys the
// agent has (their keygrips) and `gpg --export` gives their public parts (for the ECDH KDF);
// `gpgconf --list-dirs agent-socket` names the agent's socket (`gpgconf --launch gpg-agent`
// starts it if needed). For each message, over the agent's Assuan socket:
//   SETKEY <keygrip>, SETKEYDESC <text for pinentry>, PKDECRYPT, and the PKESK's encrypted
//   value as an S-expression when the agent inquires CIPHERTEXT;
// the agent returns the RSA-decrypted session key frame, or for ECDH the X25519 shared point,
// from which pvesafe derives the key-encryption key and unwraps the session key. This is what
// gpg itself does, without a gpg process per object (bench/crypto/bench_pkesk.sh measures
// both). Cost per object: the agent reads the key file and, for a passphrase-protected key,
// unlocks it again with its own calibrated S2K for every operation (it caches passphrases, not
// keys): ~100 ms or more per object. For bulk restores with a protected key, a SecretKey loaded
// once (secret_key_provider.h) pays its S2K once; the agent suits unprotected keys, smartcards
// and small restores. Connections are pooled: concurrent callers use separate connections.
//
// Passphrases: by default gpg-agent asks through its pinentry (GPG_TTY, TERM and DISPLAY are
// passed on, as gpg does) or uses its cache. With `passphrase` set, the agent is put in loopback
// pinentry mode and the passphrase is given to it when it inquires (over the socket; never in
// argv). Errors:
//   kConfig  gpg or gpgconf missing, no agent socket, no RSA/Curve25519 secret key in gpg
//   kAuth    the agent could not unlock the key (bad passphrase, pinentry cancelled or absent)
//   kRemote  the agent refused otherwise (its message is given)
// A message for none of the agent's keys is std::nullopt (decrypt_message reports kAuth).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/secret.h"
#include "crypto/openpgp_key.h"
#include "crypto/session_key.h"

namespace pvesafe::crypto {

struct GpgAgentOptions {
  std::string gnupg_home;   // empty: $GNUPGHOME, else ~/.gnupg
  std::string gpg = "gpg";  // program names (looked up in PATH) or paths
  std::string gpgconf = "gpgconf";
  Secret passphrase;  // non-empty: loopback pinentry with this passphrase
};

class GpgAgentProvider final : public SessionKeyProvider {
 public:
  explicit GpgAgentProvider(GpgAgentOptions options = {});
  ~GpgAgentProvider() override;
  GpgAgentProvider(const GpgAgentProvider&) = delete;
  GpgAgentProvider& operator=(const GpgAgentProvider&) = delete;

  std::optional<SessionKey> session_key(std::span<const PkeskPacket> packets) override;

  // The RSA and Curve25519 ECDH keys gpg-agent holds secrets for.
  const std::vector<KeyInfo>& keys() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pvesafe::crypto
