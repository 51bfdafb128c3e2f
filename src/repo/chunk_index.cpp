#include "repo/chunk_index.h"

#include <openssl/sha.h>

#include <atomic>
#include <charconv>
#include <mutex>

#include "core/error.h"
#include "core/worker_group.h"
#include "repo/layout.h"
#include "repo/repository.h"

namespace pvesafe::repo {

namespace {

bool parse_u32(std::string_view s, uint32_t& v) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

uint32_t ChunkIndex::pack_number(const std::string& pack) {
  auto [it, inserted] = pack_numbers_.emplace(pack, static_cast<uint32_t>(packs_.size()));
  if (inserted) packs_.push_back(pack);
  return it->second;
}

void ChunkIndex::add(const IndexEntry& e) {
  ChunkLocation loc;
  loc.pack = pack_number(e.pack);
  loc.offset = e.offset;
  loc.length = e.length;
  loc.size = e.size;
  auto [it, inserted] = map_.emplace(e.id, loc);
  // A packed copy is preferred over a loose one (one request per chunk instead of a range of a
  // pack is the same cost, but packs are what gc keeps).
  if (!inserted && it->second.loose()) {
    it->second = loc;
    --loose_;
  }
}

void ChunkIndex::add_loose(const ChunkId& id) {
  if (map_.emplace(id, ChunkLocation{}).second) ++loose_;
}

std::vector<std::string> ChunkIndex::index_keys_naming(uint32_t pack) const {
  std::vector<std::string> out;
  if (pack >= pack_index_.size()) return out;
  for (uint32_t k : pack_index_[pack]) out.push_back(index_keys_.at(k));
  return out;
}

const ChunkLocation* ChunkIndex::find(const ChunkId& id) const {
  auto it = map_.find(id);
  return it == map_.end() ? nullptr : &it->second;
}

void ChunkIndex::for_each(
    const std::function<void(const ChunkId&, const ChunkLocation&)>& fn) const {
  for (const auto& [id, loc] : map_) fn(id, loc);
}

void ChunkIndex::load(Repository& repo, int threads) {
  std::vector<std::string> keys;
  repo.store().list(std::string(layout::kIndex), [&](const store::ObjectInfo& o) {
    if (layout::id_in(o.key, layout::kIndex, 64)) keys.push_back(o.key);
  });
  std::sort(keys.begin(), keys.end());
  std::vector<std::vector<IndexEntry>> parts(keys.size());
  std::atomic<size_t> next{0};
  WorkerGroup group;
  group.spawn(std::clamp<int>(threads, 1, std::max<int>(1, static_cast<int>(keys.size()))), [&] {
    for (size_t i = next++; i < keys.size() && !group.failed(); i = next++)
      parts[i] = read_index(repo, keys[i]);
  });
  group.join();
  size_t total = 0;
  for (const auto& p : parts) total += p.size();
  map_.reserve(map_.size() + total);
  const size_t first_key = index_keys_.size();
  for (size_t i = 0; i < parts.size(); ++i) {
    for (const auto& e : parts[i]) {
      add(e);
      const uint32_t pack = pack_numbers_.at(e.pack);
      if (pack_index_.size() <= pack) pack_index_.resize(pack + 1);
      auto& named_by = pack_index_[pack];
      const auto k = static_cast<uint32_t>(first_key + i);
      if (named_by.empty() || named_by.back() != k) named_by.push_back(k);
    }
  }
  index_keys_.insert(index_keys_.end(), keys.begin(), keys.end());
  // Format 1 chunks, one object each.
  repo.store().list(std::string(layout::kData), [&](const store::ObjectInfo& o) {
    auto hex = layout::id_in(o.key, layout::kData, 64);
    if (!hex) return;
    if (auto id = ChunkId::parse(*hex)) add_loose(*id);
  });
}

std::string index_text(const std::vector<IndexEntry>& entries, bool pack_column) {
  std::string out;
  out.reserve(entries.size() * (pack_column ? 160 : 90));
  for (const auto& e : entries) {
    out += e.id.hex();
    out += ' ';
    if (pack_column) {
      out += e.pack;
      out += ' ';
    }
    out += std::to_string(e.offset);
    out += ' ';
    out += std::to_string(e.length);
    out += ' ';
    out += std::to_string(e.size);
    out += '\n';
  }
  return out;
}

void parse_index_text(const std::string& text, const std::string& what,
                      std::vector<IndexEntry>& out, const std::string* pack) {
  const size_t fields = pack ? 4 : 5;
  size_t pos = 0, line = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    ++line;
    auto fail = [&] {
      throw Error(Errc::kIntegrity, what + ": line " + std::to_string(line) + " is malformed");
    };
    if (end == std::string::npos) fail();
    std::string_view l(text.data() + pos, end - pos);
    std::string_view f[5];
    size_t n = 0, p = 0;
    while (n < fields) {
      size_t sp = l.find(' ', p);
      f[n++] = l.substr(p, sp == std::string_view::npos ? std::string_view::npos : sp - p);
      if (sp == std::string_view::npos) break;
      p = sp + 1;
    }
    IndexEntry e;
    auto id = ChunkId::parse(f[0]);
    const std::string_view* num = pack ? f + 1 : f + 2;  // offset, length, size
    if (n != fields || !id || (!pack && !is_hex(f[1], 64)) || !parse_u32(num[0], e.offset) ||
        !parse_u32(num[1], e.length) || !parse_u32(num[2], e.size) || e.length == 0) {
      fail();
    }
    e.id = *id;
    e.pack = pack ? *pack : std::string(f[1]);
    out.push_back(std::move(e));
    pos = end + 1;
  }
}

WrittenIndex write_index(Repository& repo, const std::vector<IndexEntry>& entries,
                         const store::PutOptions& options) {
  auto sealed = repo.seal_text(index_text(entries));
  uint8_t digest[32];
  SHA256(sealed.data(), sealed.size(), digest);
  std::string key = layout::index(to_hex(digest));
  repo.store().put(key, sealed.span(), options);
  return {key, sealed.size()};
}

std::vector<IndexEntry> read_index(Repository& repo, const std::string& key) {
  std::string text = repo.unseal_text(repo.store().get(key), key);
  std::vector<IndexEntry> out;
  parse_index_text(text, "index object " + key, out);
  return out;
}

}  // namespace pvesafe::repo
