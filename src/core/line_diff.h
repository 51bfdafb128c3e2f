// A unified diff of two texts, line by line (Myers' O(ND) algorithm), in the layout of
// `diff -u`: "--- A", "+++ B", hunks "@@ -l,n +l,n @@" with `context` lines around each change.
// Empty when the texts are equal. A text without a final newline is compared as if it had one.
#pragma once

#include <string>

namespace pvesafe {

std::string unified_diff(const std::string& a, const std::string& b, const std::string& a_name,
                         const std::string& b_name, int context = 3);

}  // namespace pvesafe
