// Snapshot manifest JSON (repo::manifest_from_json), as read from a decrypted snapshots/ object.
#include "fuzz_target.h"
#include "repo/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pvesafe;
  std::string text(fuzz::as_text(data, size));
  fuzz::refusal_ok([&] { repo::manifest_from_json(text, "snapshots/fuzz"); });
  return 0;
}
