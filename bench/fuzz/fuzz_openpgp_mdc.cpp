// OpenPGP reader behind a valid MDC: the input is the packet sequence inside the encrypted data
// (literal, compressed, signature ... packets, partial lengths). The harness encrypts it with a
// correct SKESK, SEIPD and MDC, so every input reaches the inner packet parser and the
// decompressors instead of failing the integrity check.
#include "crypto/openpgp.h"
#include "crypto/openpgp_internal.h"
#include "fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pvesafe;
  constexpr std::string_view pass = "fuzz";
  std::vector<uint8_t> msg = crypto::detail::encrypt_packets({data, size}, pass);
  fuzz::refusal_ok([&] { crypto::decrypt_message(msg, pass, 1 << 20); });
  fuzz::refusal_ok([&] { crypto::decrypt_own_message(msg, pass, 1 << 20); });
  return 0;
}
