#include "archive/tar.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <vector>

#include "core/error.h"

namespace pvesafe::archive {

namespace {

constexpr size_t kBlock = 512;

// ustar header field offsets and lengths.
struct Field {
  size_t off, len;
};
constexpr Field kName{0, 100}, kMode{100, 8}, kUid{108, 8}, kGid{116, 8}, kSize{124, 12},
    kMtime{136, 12}, kChksum{148, 8}, kType{156, 1}, kLink{157, 100}, kMagic{257, 6},
    kVersion{263, 2}, kUname{265, 32}, kGname{297, 32}, kPrefix{345, 155};

void put_str(uint8_t* h, Field f, const std::string& s) {
  std::memcpy(h + f.off, s.data(), std::min(s.size(), f.len));
}

// Octal, NUL-terminated, zero-padded; false when it does not fit.
bool put_octal(uint8_t* h, Field f, uint64_t v) {
  std::string s = fmt::format("{:0{}o}", v, f.len - 1);
  if (s.size() > f.len - 1) return false;
  std::memcpy(h + f.off, s.data(), s.size());
  h[f.off + f.len - 1] = 0;
  return true;
}

std::string get_str(const uint8_t* h, Field f) {
  size_t n = 0;
  while (n < f.len && h[f.off + n]) ++n;
  return std::string(reinterpret_cast<const char*>(h + f.off), n);
}

std::optional<uint64_t> get_num(const uint8_t* h, Field f) {
  if (h[f.off] & 0x80) {  // GNU base-256
    uint64_t v = h[f.off] & 0x7f;
    for (size_t i = 1; i < f.len; ++i) v = (v << 8) | h[f.off + i];
    return v;
  }
  uint64_t v = 0;
  bool any = false;
  for (size_t i = 0; i < f.len; ++i) {
    char c = static_cast<char>(h[f.off + i]);
    if (c == 0 || c == ' ') {
      if (any) break;
      continue;
    }
    if (c < '0' || c > '7') return std::nullopt;
    v = v * 8 + static_cast<uint64_t>(c - '0');
    any = true;
  }
  return v;
}

uint32_t checksum(const uint8_t* h) {
  uint32_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    sum += (i >= kChksum.off && i < kChksum.off + kChksum.len) ? ' ' : h[i];
  }
  return sum;
}

// One pax record: "LEN key=value\n", LEN counting itself.
std::string pax_record(const std::string& key, const std::string& value) {
  size_t base = key.size() + value.size() + 3;  // ' ', '=', '\n'
  size_t len = base + 1;
  while (std::to_string(len).size() + base != len) ++len;
  return fmt::format("{} {}={}\n", len, key, value);
}

std::map<std::string, std::string> parse_pax(const std::string& data, uint64_t at) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t sp = data.find(' ', pos);
    if (sp == std::string::npos) break;
    size_t len = 0;
    try {
      len = std::stoul(data.substr(pos, sp - pos));
    } catch (const std::exception&) {
      len = 0;
    }
    if (len == 0 || pos + len > data.size() || data[pos + len - 1] != '\n') {
      throw Error(Errc::kIntegrity, fmt::format("tar: bad pax record at offset {}", at));
    }
    std::string rec = data.substr(sp + 1, pos + len - sp - 2);
    auto eq = rec.find('=');
    if (eq != std::string::npos) out[rec.substr(0, eq)] = rec.substr(eq + 1);
    pos += len;
  }
  return out;
}

std::string strip_name(std::string p) {
  while (p.rfind("./", 0) == 0) p = p.substr(2);
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

bool safe_relative_path(const std::string& path) {
  if (path.empty() || path[0] == '/') return false;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    std::string part =
        path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (part.empty() || part == "..") return false;
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return true;
}

// ---- writer ----------------------------------------------------------------------------------

TarWriter::TarWriter(ByteSink& out) : out_(out) {}

void TarWriter::header(const TarEntry& e, char typeflag, uint64_t size, const std::string& name,
                       const std::string& link) {
  uint8_t h[kBlock] = {};
  put_str(h, kName, name);
  put_octal(h, kMode, e.mode & 07777);
  put_octal(h, kUid, e.uid);
  put_octal(h, kGid, e.gid);
  put_octal(h, kSize, size);
  put_octal(h, kMtime, static_cast<uint64_t>(std::max<int64_t>(0, e.mtime)));
  h[kType.off] = static_cast<uint8_t>(typeflag);
  put_str(h, kLink, link);
  put_str(h, kMagic, std::string("ustar\0", 6));
  put_str(h, kVersion, "00");
  put_str(h, kUname, e.uid == 0 ? "root" : "");
  put_str(h, kGname, e.gid == 0 ? "root" : "");
  std::string sum = fmt::format("{:06o}", checksum(h));
  std::memcpy(h + kChksum.off, sum.data(), 6);
  h[kChksum.off + 6] = 0;
  h[kChksum.off + 7] = ' ';
  out_.write(h, kBlock);
}

void TarWriter::pad(uint64_t size) {
  static const uint8_t zeros[kBlock] = {};
  if (size % kBlock) out_.write(zeros, kBlock - size % kBlock);
}

void TarWriter::add(const TarEntry& e) {
  if (!safe_relative_path(e.path)) {
    throw Error(Errc::kInternal, fmt::format("tar: '{}' is not a relative path", e.path));
  }
  std::string name = e.type == TarEntry::Type::kDirectory ? e.path + "/" : e.path;
  uint64_t size = e.type == TarEntry::Type::kFile ? e.data.size() : 0;
  std::string pax;
  if (name.size() > kName.len) pax += pax_record("path", name);
  if (e.link_target.size() > kLink.len) pax += pax_record("linkpath", e.link_target);
  if (e.uid > 07777777) pax += pax_record("uid", std::to_string(e.uid));
  if (e.gid > 07777777) pax += pax_record("gid", std::to_string(e.gid));
  if (!pax.empty()) {
    TarEntry x;
    x.mode = 0644;
    header(x, 'x', pax.size(), "PaxHeaders/" + name.substr(0, 80), "");
    out_.write(reinterpret_cast<const uint8_t*>(pax.data()), pax.size());
    pad(pax.size());
  }
  char type = e.type == TarEntry::Type::kFile        ? '0'
              : e.type == TarEntry::Type::kDirectory ? '5'
                                                     : '2';
  header(e, type, size, name.substr(0, kName.len), e.link_target.substr(0, kLink.len));
  if (size) {
    out_.write(reinterpret_cast<const uint8_t*>(e.data.data()), e.data.size());
    pad(size);
  }
}

void TarWriter::finish() {
  if (finished_) return;
  static const uint8_t zeros[kBlock * 2] = {};
  out_.write(zeros, sizeof zeros);
  out_.finish();
  finished_ = true;
}

// ---- reader ----------------------------------------------------------------------------------

TarReader::TarReader(ByteSource& in, uint64_t max_entry_bytes) : in_(in), max_(max_entry_bytes) {}

bool TarReader::read_block(uint8_t* block) {
  size_t n = read_full(in_, block, kBlock);
  if (n == 0) return false;
  if (n != kBlock) {
    throw Error(Errc::kIntegrity, fmt::format("tar: archive cut off at offset {}", offset_ + n));
  }
  offset_ += kBlock;
  return true;
}

std::string TarReader::read_data(uint64_t size) {
  if (size > max_) {
    throw Error(Errc::kUnsupported,
                fmt::format("tar: an entry at offset {} holds {} bytes, more than {} expected",
                            offset_, size, max_));
  }
  std::string data(static_cast<size_t>(size), '\0');
  size_t n = read_full(in_, reinterpret_cast<uint8_t*>(data.data()), data.size());
  if (n != size) {
    throw Error(Errc::kIntegrity, fmt::format("tar: archive cut off at offset {}", offset_ + n));
  }
  offset_ += size;
  skip((kBlock - size % kBlock) % kBlock);
  return data;
}

void TarReader::skip(uint64_t bytes) {
  uint8_t buf[4096];
  while (bytes > 0) {
    size_t k = static_cast<size_t>(std::min<uint64_t>(bytes, sizeof buf));
    size_t n = read_full(in_, buf, k);
    if (n != k) {
      throw Error(Errc::kIntegrity, fmt::format("tar: archive cut off at offset {}", offset_ + n));
    }
    offset_ += n;
    bytes -= n;
  }
}

std::optional<TarEntry> TarReader::next() {
  std::map<std::string, std::string> pax, global;
  std::string long_name, long_link;
  uint8_t h[kBlock];
  while (true) {
    uint64_t at = offset_;
    if (!read_block(h)) return std::nullopt;  // no end blocks: accepted, as GNU tar does
    bool zero = true;
    for (size_t i = 0; i < kBlock && zero; ++i) zero = h[i] == 0;
    if (zero) return std::nullopt;
    auto sum = get_num(h, kChksum);
    if (!sum || *sum != checksum(h)) {
      throw Error(Errc::kIntegrity, fmt::format("tar: header checksum mismatch at offset {}", at));
    }
    auto size_opt = get_num(h, kSize);
    if (!size_opt) throw Error(Errc::kIntegrity, fmt::format("tar: bad size at offset {}", at));
    uint64_t size = *size_opt;
    char type = static_cast<char>(h[kType.off]);
    if (type == 'x' || type == 'g') {
      auto rec = parse_pax(read_data(size), at);
      (type == 'x' ? pax : global).insert(rec.begin(), rec.end());
      continue;
    }
    if (type == 'L' || type == 'K') {
      std::string v = read_data(size);
      while (!v.empty() && v.back() == '\0') v.pop_back();
      (type == 'L' ? long_name : long_link) = v;
      continue;
    }
    if (pax.count("size")) size = std::stoull(pax["size"]);
    TarEntry e;
    std::string name = get_str(h, kName);
    std::string prefix = get_str(h, kPrefix);
    if (!prefix.empty() && std::memcmp(h + kMagic.off, "ustar", 5) == 0) name = prefix + "/" + name;
    if (!long_name.empty()) name = long_name;
    if (pax.count("path")) name = pax["path"];
    e.path = strip_name(name);
    e.link_target = get_str(h, kLink);
    if (!long_link.empty()) e.link_target = long_link;
    if (pax.count("linkpath")) e.link_target = pax["linkpath"];
    e.mode = static_cast<uint32_t>(get_num(h, kMode).value_or(0) & 07777);
    e.uid = static_cast<uint32_t>(pax.count("uid") ? std::stoul(pax["uid"])
                                                   : get_num(h, kUid).value_or(0));
    e.gid = static_cast<uint32_t>(pax.count("gid") ? std::stoul(pax["gid"])
                                                   : get_num(h, kGid).value_or(0));
    e.mtime = static_cast<int64_t>(get_num(h, kMtime).value_or(0));
    pax.clear();
    long_name.clear();
    long_link.clear();
    if (type == '0' || type == '\0' || type == '7') {
      e.type = TarEntry::Type::kFile;
      e.data = read_data(size);
    } else if (type == '5') {
      e.type = TarEntry::Type::kDirectory;
      skip(size + (kBlock - size % kBlock) % kBlock);
      if (e.path.empty()) continue;  // "./" itself
    } else if (type == '2') {
      e.type = TarEntry::Type::kSymlink;
    } else {
      // hard links, devices, FIFOs: not part of a configuration tree
      skip(size + (kBlock - size % kBlock) % kBlock);
      continue;
    }
    if (!safe_relative_path(e.path)) {
      throw Error(
          Errc::kIntegrity,
          fmt::format("tar: entry '{}' at offset {} would land outside the target", e.path, at));
    }
    return e;
  }
}

}  // namespace pvesafe::archive
