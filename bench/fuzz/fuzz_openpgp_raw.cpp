// OpenPGP reader on raw messages: the general (gpg-compatible) reader and the strict reader for
// pvesafe's own objects, both bounded to 1 MiB of plaintext. The passphrase is the one of the
// known-answer vectors (and of the seeds), so well-formed seeds decrypt and mutations reach the
// packets behind the session key.
#include "crypto/openpgp.h"
#include "crypto/openpgp_vectors.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pvesafe;
  std::span<const uint8_t> msg(data, size);
  constexpr std::string_view pass = crypto::testing::kVectorPassphrase;
  fuzz::refusal_ok([&] { crypto::decrypt_message(msg, pass, 1 << 20); });
  fuzz::refusal_ok([&] { crypto::decrypt_own_message(msg, pass, 1 << 20); });
  return 0;
}
