#include "archive.h"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

namespace pvesim {

namespace {

constexpr size_t kBlock = 64 * 1024;       // disk block that changes as a unit
constexpr size_t kZstdBlock = 128 * 1024;  // raw zstd block size (window 2^17)
constexpr int64_t kBaseDay = 20454;        // 2026-01-01: history starts here
constexpr size_t kHeader = 4096;           // qemu image header

uint64_t mix(uint64_t x) {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t h3(uint64_t a, uint64_t b, uint64_t c) { return mix(mix(mix(a) ^ b) ^ c); }

// Day on which block i of the guest last changed, at or before `day`.
int64_t block_generation(int vmid, uint64_t i, int64_t day) {
  for (int64_t d = day; d > kBaseDay && day - d < 1000; --d)
    if (h3(static_cast<uint64_t>(vmid), i, static_cast<uint64_t>(d)) % 50 == 0) return d;
  return kBaseDay;
}

void fill_block(unsigned char* out, size_t n, int vmid, uint64_t i, int64_t day) {
  int64_t gen = block_generation(vmid, i, day);
  uint64_t kind = h3(static_cast<uint64_t>(vmid), i, 0xC0FFEE) % 100;
  if (kind < 25 && gen == kBaseDay) {
    std::memset(out, 0, n);
    return;
  }
  uint64_t s = h3(static_cast<uint64_t>(vmid) << 20 ^ 0x5eed, i, static_cast<uint64_t>(gen));
  if (kind < 45) {
    static const char* words[] = {
        "proxmox ", "backup ",      "cluster ", "node ",    "guest ", "storage ",
        "kernel: ", "systemd[1]: ", "Started ", "session ", "INFO ",  "\n"};
    size_t pos = 0;
    while (pos < n) {
      s = mix(s);
      const char* w = words[s % 12];
      size_t len = std::strlen(w);
      for (size_t k = 0; k < len && pos < n; ++k) out[pos++] = static_cast<unsigned char>(w[k]);
    }
    return;
  }
  for (size_t pos = 0; pos < n; pos += 8) {
    s = mix(s);
    size_t len = std::min<size_t>(8, n - pos);
    std::memcpy(out + pos, &s, len);
  }
}

// Streams the plain archive bytes into a sink in pieces.
class Writer {
 public:
  Writer(std::ofstream& out, bool zstd) : out_(out), zstd_(zstd) {}
  void frame_header(uint64_t content_size) {
    if (!zstd_) return;
    unsigned char h[14] = {0x28, 0xB5, 0x2F, 0xFD, 0xC0, 0x38};  // magic, FCS 8 bytes, window 2^17
    for (int k = 0; k < 8; ++k) h[6 + k] = static_cast<unsigned char>(content_size >> (8 * k));
    out_.write(reinterpret_cast<char*>(h), 14);
    remaining_ = content_size;
  }
  void write(const unsigned char* p, size_t n) {
    if (!zstd_) {
      out_.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n));
      return;
    }
    buf_.insert(buf_.end(), p, p + n);
    while (buf_.size() >= kZstdBlock) emit(kZstdBlock);
  }
  void finish() {
    if (!zstd_) return;
    while (!buf_.empty() || !last_written_) emit(std::min(buf_.size(), kZstdBlock));
  }

 private:
  void emit(size_t n) {
    remaining_ -= n;
    bool last = remaining_ == 0;
    uint32_t hdr = (last ? 1u : 0u) | (0u << 1) | static_cast<uint32_t>(n << 3);  // raw block
    unsigned char h[3] = {static_cast<unsigned char>(hdr), static_cast<unsigned char>(hdr >> 8),
                          static_cast<unsigned char>(hdr >> 16)};
    out_.write(reinterpret_cast<char*>(h), 3);
    out_.write(reinterpret_cast<const char*>(buf_.data()), static_cast<std::streamsize>(n));
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<long>(n));
    if (last) last_written_ = true;
  }
  std::ofstream& out_;
  bool zstd_;
  std::vector<unsigned char> buf_;
  uint64_t remaining_ = 0;
  bool last_written_ = false;
};

void tar_header(unsigned char* h, const std::string& name, uint64_t size, int64_t mtime) {
  std::memset(h, 0, 512);
  std::snprintf(reinterpret_cast<char*>(h), 100, "%s", name.c_str());
  std::snprintf(reinterpret_cast<char*>(h) + 100, 8, "%07o", 0644);
  std::snprintf(reinterpret_cast<char*>(h) + 108, 8, "%07o", 0);
  std::snprintf(reinterpret_cast<char*>(h) + 116, 8, "%07o", 0);
  std::snprintf(reinterpret_cast<char*>(h) + 124, 12, "%011llo",
                static_cast<unsigned long long>(size));
  std::snprintf(reinterpret_cast<char*>(h) + 136, 12, "%011llo",
                static_cast<unsigned long long>(mtime));
  h[156] = '0';
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int k = 0; k < 512; ++k) sum += h[k];
  std::snprintf(reinterpret_cast<char*>(h) + 148, 8, "%06o", sum);
}

}  // namespace

std::string archive_file_name(const std::string& type, int vmid, int64_t epoch, bool zstd) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y_%m_%d-%H_%M_%S", &tm);
  std::string ext = type == "qemu" ? ".vma" : ".tar";
  return "vzdump-" + type + "-" + std::to_string(vmid) + "-" + ts + ext + (zstd ? ".zst" : "");
}

uint64_t write_archive(const std::string& path, const ArchiveSpec& spec) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("unable to create '" + path + "'");
    Writer w(out, spec.zstd);
    std::vector<unsigned char> block(kBlock);
    uint64_t blocks = (spec.disk_bytes + kBlock - 1) / kBlock;
    int64_t mtime = spec.day * 86400;
    if (spec.type == "qemu") {
      std::vector<unsigned char> hdr(kHeader, 0);
      std::string text = "PVESIM-VMA 1\nvmid: " + std::to_string(spec.vmid) +
                         "\n--- qemu-server.conf\n" + spec.config;
      if (text.size() > kHeader) text.resize(kHeader);
      std::memcpy(hdr.data(), text.data(), text.size());
      w.frame_header(kHeader + spec.disk_bytes);
      w.write(hdr.data(), hdr.size());
    } else {
      uint64_t conf_pad = (spec.config.size() + 511) / 512 * 512;
      uint64_t disk_pad = (spec.disk_bytes + 511) / 512 * 512;
      w.frame_header(512 + conf_pad + 512 + disk_pad + 1024);
      unsigned char h[512];
      tar_header(h, "./etc/vzdump/pct.conf", spec.config.size(), mtime);
      w.write(h, 512);
      std::vector<unsigned char> conf(conf_pad, 0);
      std::memcpy(conf.data(), spec.config.data(), spec.config.size());
      w.write(conf.data(), conf.size());
      tar_header(h, "./var/lib/pvesim/disk.img", spec.disk_bytes, mtime);
      w.write(h, 512);
    }
    for (uint64_t i = 0; i < blocks; ++i) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, spec.disk_bytes - i * kBlock));
      fill_block(block.data(), n, spec.vmid, i, spec.day);
      w.write(block.data(), n);
    }
    if (spec.type == "lxc") {
      std::vector<unsigned char> pad((512 - spec.disk_bytes % 512) % 512 + 1024, 0);
      w.write(pad.data(), pad.size());
    }
    w.finish();
    out.flush();
    if (!out) throw std::runtime_error("write error on '" + path + "'");
  }
  std::filesystem::rename(tmp, path);
  return std::filesystem::file_size(path);
}

bool parse_archive_name(const std::string& name, std::string& type, int& vmid, int64_t& ctime,
                        std::string& format) {
  // vzdump-(qemu|lxc)-VMID-YYYY_MM_DD-HH_MM_SS.(vma|tar)[.zst|.gz|.lzo]
  if (name.rfind("vzdump-", 0) != 0) return false;
  size_t p = 7;
  size_t dash = name.find('-', p);
  if (dash == std::string::npos) return false;
  type = name.substr(p, dash - p);
  if (type != "qemu" && type != "lxc" && type != "openvz") return false;
  size_t dash2 = name.find('-', dash + 1);
  if (dash2 == std::string::npos) return false;
  try {
    vmid = std::stoi(name.substr(dash + 1, dash2 - dash - 1));
  } catch (...) {
    return false;
  }
  std::tm tm{};
  if (name.size() < dash2 + 20) return false;
  if (std::sscanf(name.c_str() + dash2 + 1, "%4d_%2d_%2d-%2d_%2d_%2d", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return false;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  ctime = static_cast<int64_t>(timegm(&tm));
  size_t dot = dash2 + 20;
  if (dot >= name.size() || name[dot] != '.') return false;
  format = name.substr(dot + 1);
  if (format != "vma" && format != "vma.zst" && format != "vma.gz" && format != "vma.lzo" &&
      format != "tar" && format != "tar.zst" && format != "tar.gz" && format != "tar.lzo" &&
      format != "tgz")
    return false;
  return true;
}

std::string read_archive_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buf(14 + 3 + 2048, 0);
  in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
  size_t got = static_cast<size_t>(in.gcount());
  std::string s(buf.data(), got);
  size_t off = 0;
  if (got >= 4 && static_cast<unsigned char>(s[0]) == 0x28 &&
      static_cast<unsigned char>(s[1]) == 0xB5)
    off = 17;
  std::string body = s.substr(std::min(off, s.size()));
  if (body.rfind("PVESIM-VMA 1\n", 0) == 0) {
    auto start = body.find("--- qemu-server.conf\n");
    if (start == std::string::npos) return "";
    std::string conf = body.substr(start + 21);
    return conf.substr(0, conf.find('\0'));
  }
  if (body.size() >= 512 && body.rfind("./etc/vzdump/pct.conf", 0) == 0) {
    size_t size = std::stoul(body.substr(124, 11), nullptr, 8);
    return body.substr(512, std::min(size, body.size() - 512));
  }
  return "";
}

}  // namespace pvesim
