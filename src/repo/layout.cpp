#include "repo/layout.h"

#include <cstdio>

#include "core/hex.h"

namespace pvesafe::repo::layout {

namespace {
std::string join(std::string_view a, std::string_view b) {
  std::string s;
  s.reserve(a.size() + b.size());
  s.append(a);
  s.append(b);
  return s;
}
std::string fanned(std::string_view prefix, std::string_view id) {
  std::string s(prefix);
  s.append(id.substr(0, 2));
  s.push_back('/');
  s.append(id);
  return s;
}
}  // namespace

std::string key_file(std::string_view id) { return join(kKeys, id); }
std::string key_info(std::string_view id) { return join(kKeyInfo, id); }
std::string snapshot(std::string_view id) { return join(kSnapshots, id); }
std::string pack(std::string_view pack_id) { return fanned(kPacks, pack_id); }
std::string index(std::string_view index_id) { return join(kIndex, index_id); }
std::string loose_chunk(std::string_view chunk_id) { return fanned(kData, chunk_id); }
std::string lock(std::string_view id) { return join(kLocks, id); }

std::optional<std::string> id_in(std::string_view key, std::string_view prefix, size_t hex_digits) {
  if (!key.starts_with(prefix)) return std::nullopt;
  size_t slash = key.find_last_of('/');
  std::string_view name = slash == std::string_view::npos ? key : key.substr(slash + 1);
  if (!is_hex(name, hex_digits)) return std::nullopt;
  return std::string(name);
}

std::vector<std::string> fanout(std::string_view prefix) {
  std::vector<std::string> out;
  out.reserve(256);
  for (int i = 0; i < 256; ++i) {
    char dir[4];
    std::snprintf(dir, sizeof dir, "%02x", i);
    out.push_back(std::string(prefix) + dir + "/");
  }
  return out;
}

}  // namespace pvesafe::repo::layout
