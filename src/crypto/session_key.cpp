#include "crypto/session_key.h"

#include <openssl/crypto.h>

#include <string>

#include "core/error.h"
#include "crypto/algorithms.h"

namespace pvesafe::crypto {

SessionKey::~SessionKey() { OPENSSL_cleanse(key.data(), key.size()); }

Secret format_session_key(const SessionKey& key) {
  static const char* d = "0123456789ABCDEF";
  std::string s;
  s.reserve(4 + 2 * key.key.size());  // no reallocation leaves unwiped copies
  s += std::to_string(key.cipher);
  s += ':';
  for (size_t i = 0; i < key.size; ++i) {
    s += d[key.key[i] >> 4];
    s += d[key.key[i] & 15];
  }
  Secret out(s);
  wipe(s);
  return out;
}

SessionKey parse_session_key(std::string_view text) {
  auto bad = [](const std::string& what) {
    return Error(Errc::kIntegrity, "session key is malformed: " + what,
                 "expected ALGO:HEX, e.g. 9:<64 hex digits> as gpg --show-session-key prints");
  };
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n')) {
    text.remove_suffix(1);
  }
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 3) throw bad("no algorithm number");
  unsigned algo = 0;
  for (char c : text.substr(0, colon)) {
    if (c < '0' || c > '9') throw bad("the algorithm is not a number");
    algo = algo * 10 + static_cast<unsigned>(c - '0');
  }
  if (algo > 255) throw bad("the algorithm is not an OpenPGP cipher id");
  const detail::CipherInfo* c = detail::find_cipher(static_cast<uint8_t>(algo));
  if (c == nullptr) {
    throw Error(
        Errc::kUnsupported,
        "session key for " + detail::cipher_name(static_cast<uint8_t>(algo)) + " is not supported");
  }
  auto hex = text.substr(colon + 1);
  if (hex.size() != 2 * c->key_size) {
    throw bad("expected " + std::to_string(2 * c->key_size) + " hex digits for " + c->name);
  }
  auto nibble = [&](char h) -> int {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
  };
  SessionKey k;
  k.cipher = static_cast<uint8_t>(algo);
  k.size = static_cast<uint8_t>(c->key_size);
  for (size_t i = 0; i < c->key_size; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) throw bad("not a hex digit");
    k.key[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return k;
}

}  // namespace pvesafe::crypto
