#include "core/hex.h"

#include <algorithm>

namespace pvesafe {

std::string to_hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s(b.size() * 2, '\0');
  for (size_t i = 0; i < b.size(); ++i) {
    s[2 * i] = d[b[i] >> 4];
    s[2 * i + 1] = d[b[i] & 15];
  }
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_hex(std::string_view s, size_t len) {
  if (len != 0 && s.size() != len) return false;
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return hex_value(c) >= 0; });
}

bool from_hex(std::string_view s, std::span<uint8_t> out) {
  if (s.size() != out.size() * 2) return false;
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace pvesafe
