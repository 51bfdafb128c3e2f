// Lowercase hexadecimal text for binary ids (chunk ids, pack ids, snapshot ids).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pvesafe {

std::string to_hex(std::span<const uint8_t> bytes);
// Value of one hex digit (either case), or -1.
int hex_value(char c);
// True when s is exactly `len` hex digits (len 0: any length).
bool is_hex(std::string_view s, size_t len = 0);
// Decodes exactly out.size() bytes from 2*out.size() hex digits; false on any other input.
bool from_hex(std::string_view s, std::span<uint8_t> out);

}  // namespace pvesafe
