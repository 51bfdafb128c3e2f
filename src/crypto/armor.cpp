#include "crypto/armor.h"

#include <algorithm>
#include <string_view>

#include "core/error.h"
#include "crypto/openpgp_key.h"

namespace pvesafe::crypto::detail {

namespace {

[[noreturn]] void bad_armor(const std::string& what, size_t line) {
  throw Error(
      Errc::kIntegrity,
      "ASCII-armored OpenPGP data is malformed: " + what + " (line " + std::to_string(line) + ")",
      "export the key again (gpg --export --armor, sq key extract-cert, rnpkeys "
      "--export-key)");
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {}
  bool next(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    line = trim(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    ++number_;
    return true;
  }
  size_t number() const { return number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  size_t number_ = 0;
};

constexpr std::string_view kBegin = "-----BEGIN PGP ";
constexpr std::string_view kEnd = "-----END PGP ";
constexpr std::string_view kDashes = "-----";

}  // namespace

uint32_t crc24(std::span<const uint8_t> data) {
  uint32_t crc = 0xB704CE;
  for (uint8_t b : data) {
    crc ^= uint32_t{b} << 16;
    for (int i = 0; i < 8; ++i) {
      crc <<= 1;
      if (crc & 0x1000000) crc ^= 0x1864CFB;
    }
  }
  return crc & 0xFFFFFF;
}

bool looks_armored(std::span<const uint8_t> data) {
  std::string_view s(reinterpret_cast<const char*>(data.data()), data.size());
  size_t i = s.find_first_not_of(" \t\r\n");
  return i != std::string_view::npos && s.substr(i, kBegin.size()) == kBegin;
}

std::vector<ArmoredBlock> dearmor(std::span<const uint8_t> input) {
  std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
  Lines lines(text);
  std::vector<ArmoredBlock> blocks;
  std::string_view line;
  while (lines.next(line)) {
    if (line.substr(0, kBegin.size()) != kBegin) continue;
    if (line.size() < kBegin.size() + kDashes.size() ||
        line.substr(line.size() - kDashes.size()) != kDashes) {
      bad_armor("BEGIN line does not end with five dashes", lines.number());
    }
    ArmoredBlock block;
    block.label =
        std::string(line.substr(kBegin.size(), line.size() - kBegin.size() - kDashes.size()));
    // Armor headers ("Key: value") up to an empty line. Some writers omit the empty line when
    // there are no headers: a line without ": " is then already data.
    std::string_view first_data;
    bool have_first = false;
    while (lines.next(line)) {
      if (line.empty()) break;
      if (line.find(": ") == std::string_view::npos) {
        first_data = line;
        have_first = true;
        break;
      }
    }
    // The decoded size is at most 3/4 of the rest of the text.
    WipedBytes out(text.size() / 4 * 3 + 3);
    size_t used = 0;
    uint32_t acc = 0;
    int bits = 0;
    bool ended = false;
    bool padded = false;
    std::string_view crc_text;
    auto take = [&](std::string_view data_line) {
      for (char c : data_line) {
        if (c == '=') {
          padded = true;
          continue;
        }
        int v = base64_value(c);
        if (v < 0 || padded) {
          bad_armor(v < 0 ? "character outside base64" : "data after base64 padding",
                    lines.number());
        }
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
          bits -= 8;
          out[used++] = static_cast<uint8_t>(acc >> bits);
        }
      }
    };
    if (have_first) take(first_data);
    while (lines.next(line)) {
      if (line.substr(0, kEnd.size()) == kEnd) {
        ended = true;
        break;
      }
      if (line.empty()) continue;
      // The checksum line: '=' and four base64 characters, on a line of its own.
      if (line[0] == '=' && line.size() == 5) {
        crc_text = line.substr(1);
        continue;
      }
      if (!crc_text.empty()) bad_armor("data after the checksum line", lines.number());
      take(line);
    }
    if (!ended) bad_armor("no END line", lines.number());
    if (!crc_text.empty()) {
      uint32_t want = 0;
      for (char c : crc_text) {
        int v = base64_value(c);
        if (v < 0) bad_armor("checksum line is not base64", lines.number());
        want = (want << 6) | static_cast<uint32_t>(v);
      }
      if (want != crc24(std::span<const uint8_t>(out.data(), used))) {
        throw Error(Errc::kIntegrity,
                    "ASCII-armored OpenPGP data does not match its CRC-24 checksum (block " +
                        block.label + ")",
                    "the text was changed or truncated; copy or export it again");
      }
    }
    out.shrink(used);
    block.data = std::move(out);
    blocks.push_back(std::move(block));
  }
  if (blocks.empty()) {
    throw Error(Errc::kIntegrity, "no ASCII-armored OpenPGP block found",
                "give the key as exported by gpg --export (binary or --armor)");
  }
  return blocks;
}

}  // namespace pvesafe::crypto::detail

namespace pvesafe::crypto {

std::string armor_public_key(std::span<const uint8_t> packets) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  auto base64 = [](std::span<const uint8_t> in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    for (size_t i = 0; i < in.size(); i += 3) {
      const uint32_t n = uint32_t{in[i]} << 16 |
                         (i + 1 < in.size() ? uint32_t{in[i + 1]} << 8 : 0) |
                         (i + 2 < in.size() ? uint32_t{in[i + 2]} : 0);
      out += kB64[n >> 18 & 63];
      out += kB64[n >> 12 & 63];
      out += i + 1 < in.size() ? kB64[n >> 6 & 63] : '=';
      out += i + 2 < in.size() ? kB64[n & 63] : '=';
    }
    return out;
  };
  std::string body = base64(packets);
  std::string out = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n";
  for (size_t i = 0; i < body.size(); i += 64) out += body.substr(i, 64) + "\n";
  const uint32_t crc = detail::crc24(packets);
  const uint8_t c[3] = {static_cast<uint8_t>(crc >> 16), static_cast<uint8_t>(crc >> 8),
                        static_cast<uint8_t>(crc)};
  out += "=" + base64(c) + "\n-----END PGP PUBLIC KEY BLOCK-----\n";
  return out;
}

}  // namespace pvesafe::crypto
