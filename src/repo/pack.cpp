#include "repo/pack.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/hex.h"
#include "repo/layout.h"
#include "repo/repository.h"

namespace pvesafe::repo {

namespace {

constexpr char kMagic[4] = {'P', 'V', 'P', 'K'};

std::vector<IndexEntry> parse_header(const Repository& repo, const std::string& pack_id,
                                     std::span<const uint8_t> header_message) {
  const std::string key = layout::pack(pack_id);
  std::string text = repo.unseal_text(header_message, key + " (header)");
  std::vector<IndexEntry> out;
  parse_index_text(text, "header of pack " + key, out, &pack_id);
  return out;
}

uint32_t trailer_length(const std::string& key, std::span<const uint8_t> trailer,
                        uint64_t pack_size) {
  if (trailer.size() != kPackTrailerBytes || std::memcmp(trailer.data(), kMagic, 4) != 0) {
    throw Error(Errc::kIntegrity, "pack " + key + " has no valid trailer (damaged or truncated)",
                "run pvesafe verify --read-data");
  }
  uint32_t n = static_cast<uint32_t>(trailer[4]) << 24 | static_cast<uint32_t>(trailer[5]) << 16 |
               static_cast<uint32_t>(trailer[6]) << 8 | trailer[7];
  if (n == 0 || n > pack_size - kPackTrailerBytes) {
    throw Error(
        Errc::kIntegrity,
        "pack " + key + " names a header of " + std::to_string(n) + " bytes, which does not fit",
        "run pvesafe verify --read-data");
  }
  return n;
}

}  // namespace

PackBuilder::PackBuilder(size_t target_bytes) : target_(target_bytes) {}

void PackBuilder::reserve(size_t more) {
  if (used_ + more <= buf_.size()) return;
  size_t cap = std::max(used_ + more, buf_.size() ? buf_.size() * 2 : target_ + (1 << 20));
  AlignedBuffer bigger(cap);
  if (used_) std::memcpy(bigger.data(), buf_.data(), used_);
  buf_ = std::move(bigger);
}

void PackBuilder::reuse(AlignedBuffer spare) {
  if (used_ != 0 || spare.capacity() < target_) return;
  spare.restore();
  buf_ = std::move(spare);
}

void PackBuilder::add(const ChunkId& id, std::span<const uint8_t> sealed, uint32_t plaintext_size) {
  reserve(sealed.size());
  std::memcpy(buf_.data() + used_, sealed.data(), sealed.size());
  IndexEntry e;
  e.id = id;
  e.offset = static_cast<uint32_t>(used_);
  e.length = static_cast<uint32_t>(sealed.size());
  e.size = plaintext_size;
  entries_.push_back(std::move(e));
  used_ += sealed.size();
}

PackBuilder::Pack PackBuilder::finish(const Repository& repo) {
  Pack p = finish_unnamed(repo);
  name(p);
  return p;
}

void PackBuilder::name(Pack& p) {
  uint8_t digest[32];
  SHA256(p.bytes.data(), p.bytes.size(), digest);
  p.id = to_hex(digest);
  for (auto& e : p.entries) e.pack = p.id;
}

PackBuilder::Pack PackBuilder::finish_unnamed(const Repository& repo) {
  auto header = repo.seal_text(index_text(entries_, false));
  reserve(header.size() + kPackTrailerBytes);
  std::memcpy(buf_.data() + used_, header.data(), header.size());
  used_ += header.size();
  uint8_t* t = buf_.data() + used_;
  std::memcpy(t, kMagic, 4);
  const uint32_t n = static_cast<uint32_t>(header.size());
  t[4] = static_cast<uint8_t>(n >> 24);
  t[5] = static_cast<uint8_t>(n >> 16);
  t[6] = static_cast<uint8_t>(n >> 8);
  t[7] = static_cast<uint8_t>(n);
  used_ += kPackTrailerBytes;
  Pack p;
  buf_.shrink(used_);
  p.bytes = std::move(buf_);
  p.entries = std::move(entries_);
  buf_ = AlignedBuffer();
  entries_.clear();
  used_ = 0;
  return p;
}

std::vector<IndexEntry> read_pack_header(Repository& repo, const std::string& pack_id,
                                         uint64_t pack_size) {
  const std::string key = layout::pack(pack_id);
  if (pack_size < kPackTrailerBytes) {
    throw Error(Errc::kIntegrity, "pack " + key + " is too short to be a pack",
                "run pvesafe verify --read-data");
  }
  auto trailer = repo.store().get_range(key, pack_size - kPackTrailerBytes, kPackTrailerBytes);
  uint32_t n = trailer_length(key, trailer, pack_size);
  auto header = repo.store().get_range(key, pack_size - kPackTrailerBytes - n, n);
  if (header.size() != n)
    throw Error(Errc::kIntegrity, "pack " + key + " is truncated",
                "run pvesafe verify --read-data");
  return parse_header(repo, pack_id, header);
}

std::vector<IndexEntry> parse_pack(const Repository& repo, const std::string& pack_id,
                                   std::span<const uint8_t> pack) {
  const std::string key = layout::pack(pack_id);
  if (pack.size() < kPackTrailerBytes) {
    throw Error(Errc::kIntegrity, "pack " + key + " is too short to be a pack",
                "run pvesafe verify --read-data");
  }
  uint32_t n = trailer_length(key, pack.subspan(pack.size() - kPackTrailerBytes), pack.size());
  const size_t header_at = pack.size() - kPackTrailerBytes - n;
  auto entries = parse_header(repo, pack_id, pack.subspan(header_at, n));
  uint64_t expect = 0;
  for (const auto& e : entries) {
    if (e.offset != expect) {
      throw Error(Errc::kIntegrity, "pack " + key + ": its header does not describe its contents",
                  "run pvesafe verify --read-data");
    }
    expect += e.length;
  }
  if (expect != header_at) {
    throw Error(Errc::kIntegrity, "pack " + key + ": its header does not describe its contents",
                "run pvesafe verify --read-data");
  }
  return entries;
}

}  // namespace pvesafe::repo
