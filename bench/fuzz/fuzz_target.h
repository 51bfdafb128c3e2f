// What every fuzz target of bench/fuzz shares: the libFuzzer entry point each file defines, and
// the rule for exceptions. A parser may refuse its input only with pvesafe::Error (the error
// model every caller handles); any other exception escapes the target, and libFuzzer (or the
// corpus replay of fuzz_replay.cpp) reports it as a crash, like a sanitizer finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace pvesafe::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs f; a pvesafe::Error is the parser refusing the input, which is fine.
template <class F>
void refusal_ok(F&& f) {
  try {
    f();
  } catch (const pvesafe::Error&) {
  }
}

}  // namespace pvesafe::fuzz
