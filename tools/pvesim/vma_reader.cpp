#include "vma_reader.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "proc.h"
#include "vma_writer.h"

namespace pvesim {

namespace {

uint64_t get_be(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int k = 0; k < bytes; ++k) v = v << 8 | p[k];
  return v;
}

[[noreturn]] void fail(const std::string& msg) { throw VmaError(msg); }

bool md5_matches(unsigned char* data, size_t n, unsigned char* field) {
  unsigned char want[16], got[16];
  std::memcpy(want, field, 16);
  std::memset(field, 0, 16);
  unsigned int len = 0;
  EVP_Digest(data, n, got, &len, EVP_md5(), nullptr);
  std::memcpy(field, want, 16);
  return std::memcmp(want, got, 16) == 0;
}

struct Header {
  VmaContents c;
  std::vector<unsigned char> raw;
  Uuid uuid{};
};

Header parse_header(int fd) {
  Header h;
  h.raw.resize(kVmaHeaderFixed);
  size_t got = read_full(fd, h.raw.data(), kVmaHeaderFixed);
  if (got != kVmaHeaderFixed) fail("can't read vma header - got EOF");
  if (std::memcmp(h.raw.data(), "VMA\0", 4) != 0) fail("not a vma file - wrong magic number");
  uint32_t header_size = static_cast<uint32_t>(get_be(h.raw.data() + 56, 4));
  if (header_size <= kVmaHeaderFixed || header_size > (16u << 20))
    fail("wrong vma header size " + std::to_string(header_size));
  h.raw.resize(header_size);
  size_t need = header_size - kVmaHeaderFixed;
  if (read_full(fd, h.raw.data() + kVmaHeaderFixed, need) != need)
    fail("can't read vma header data - got EOF");
  if (!md5_matches(h.raw.data(), header_size, h.raw.data() + 32)) fail("wrong vma header chechsum");
  uint32_t version = static_cast<uint32_t>(get_be(h.raw.data() + 4, 4));
  if (version != 1) fail("wrong vma version " + std::to_string(version));
  std::memcpy(h.uuid.data(), h.raw.data() + 8, 16);
  h.c.uuid = uuid_text(h.uuid);
  h.c.ctime = static_cast<int64_t>(get_be(h.raw.data() + 24, 8));
  uint32_t off = static_cast<uint32_t>(get_be(h.raw.data() + 48, 4));
  uint32_t size = static_cast<uint32_t>(get_be(h.raw.data() + 52, 4));
  if (off + 1 <= kVmaHeaderFixed) fail("wrong vma blob buffer offset " + std::to_string(off));
  if (static_cast<uint64_t>(off) + size > header_size)
    fail("wrong vma blob buffer size " + std::to_string(off) + "/" + std::to_string(size));
  std::map<uint32_t, std::pair<const unsigned char*, uint32_t>> blobs;  // start -> data, len
  for (uint32_t b = off + 1; b + 2 <= off + size;) {
    uint32_t len = h.raw[b] | static_cast<uint32_t>(h.raw[b + 1]) << 8;
    if (b + len + 2 <= off + size) blobs[b - off] = {h.raw.data() + b + 2, len};
    b += len + 2;
  }
  auto str = [&](uint32_t ptr, std::string& out) {
    auto it = blobs.find(ptr);
    if (it == blobs.end() || it->second.second == 0 || it->second.first[it->second.second - 1] != 0)
      return false;
    out.assign(reinterpret_cast<const char*>(it->second.first), it->second.second - 1);
    return true;
  };
  for (int i = 1; i < 256; ++i) {
    const unsigned char* di = h.raw.data() + 4096 + 32 * i;
    uint64_t dsize = get_be(di + 8, 8);
    std::string name;
    if (dsize && str(static_cast<uint32_t>(get_be(di, 4)), name))
      h.c.devices.push_back({i, name, dsize, 0, ""});
  }
  for (int i = 0; i < 256; ++i) {
    uint32_t np = static_cast<uint32_t>(get_be(h.raw.data() + 2044 + 4 * i, 4));
    uint32_t dp = static_cast<uint32_t>(get_be(h.raw.data() + 3068 + 4 * i, 4));
    if (!np || !dp) continue;
    std::string name;
    auto it = blobs.find(dp);
    if (!str(np, name) || it == blobs.end()) fail("vma contains invalid data pointers");
    h.c.configs.emplace_back(
        name, std::string(reinterpret_cast<const char*>(it->second.first), it->second.second));
  }
  return h;
}

struct Disk {
  VmaDevice* info = nullptr;
  uint64_t clusters = 0;
  std::vector<bool> seen;
  int fd = -1;
  std::string path;
};

std::string sha256_of_fd(int fd, uint64_t size) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<unsigned char> buf(1 << 20);
  for (uint64_t off = 0; off < size;) {
    ssize_t n =
        pread(fd, buf.data(), std::min<uint64_t>(buf.size(), size - off), static_cast<off_t>(off));
    if (n <= 0) fail("cannot read back the restored disk");
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
    off += static_cast<uint64_t>(n);
  }
  unsigned char md[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : md) out += {hex[c >> 4], hex[c & 15]};
  return out;
}

}  // namespace

VmaContents read_vma_header(int fd) { return parse_header(fd).c; }

VmaContents read_vma(int fd, const std::string& disk_dir, const VmaReadHooks& hooks) {
  Header h = parse_header(fd);
  VmaContents& c = h.c;
  if (hooks.header) hooks.header(c);
  std::vector<Disk> disks(256);
  uint64_t total = 0;
  struct Cleanup {
    std::vector<Disk>& d;
    ~Cleanup() {
      for (auto& x : d)
        if (x.fd >= 0) {
          close(x.fd);
          unlink(x.path.c_str());
        }
    }
  } cleanup{disks};
  for (auto& dev : c.devices) {
    Disk& d = disks[static_cast<size_t>(dev.dev_id)];
    d.info = &dev;
    d.clusters = (dev.size + kVmaCluster - 1) / kVmaCluster;
    d.seen.assign(d.clusters, false);
    total += d.clusters;
    if (!disk_dir.empty()) {
      d.path = disk_dir + "/" + dev.name + ".raw";
      d.fd = open(d.path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (d.fd < 0 || ftruncate(d.fd, static_cast<off_t>(dev.size)) != 0)
        fail("can't create file " + d.path + ": " + std::strerror(errno));
    }
  }
  // The sequential cursor: the lowest (device, cluster) not read yet; a cluster read above it
  // came early (copy-before-write of a running guest).
  size_t cur_dev = 1;
  uint64_t cur_cluster = 0;
  auto advance_cursor = [&] {
    while (cur_dev < disks.size()) {
      Disk& d = disks[cur_dev];
      while (cur_cluster < d.clusters && d.seen[cur_cluster]) ++cur_cluster;
      if (cur_cluster < d.clusters) return;
      ++cur_dev;
      cur_cluster = 0;
    }
  };
  advance_cursor();
  std::vector<unsigned char> buf(kVmaExtentHeader + kVmaBlocksPerExtent * kVmaCluster);
  int last_percent = -1;
  for (;;) {
    size_t got = read_full(fd, buf.data(), kVmaExtentHeader);
    if (got == 0) break;
    if (got < kVmaExtentHeader) fail("read short extent (" + std::to_string(got) + " bytes)");
    unsigned char* e = buf.data();
    if (!md5_matches(e, kVmaExtentHeader, e + 24)) fail("wrong vma extent header chechsum");
    if (std::memcmp(e + 8, h.uuid.data(), 16) != 0) fail("wrong vma extent uuid");
    if (std::memcmp(e, "VMAE", 4) != 0 || e[4] || e[5]) fail("wrong vma extent header magic");
    size_t blocks = static_cast<size_t>(get_be(e + 6, 2));
    size_t extent_size = kVmaExtentHeader + blocks * 4096;
    if (extent_size > buf.size()) fail("vma extent error - missing blocks");
    got += read_full(fd, e + kVmaExtentHeader, blocks * 4096);
    if (got < extent_size)
      fail("short vma extent (" + std::to_string(got) + " < " + std::to_string(extent_size) + ")");
    ++c.extents;
    size_t start = kVmaExtentHeader;
    for (size_t i = 0; i < kVmaBlocksPerExtent; ++i) {
      uint64_t info = get_be(e + 40 + 8 * i, 8);
      uint64_t cluster = info & 0xffffffffu;
      unsigned dev_id = static_cast<unsigned>((info >> 32) & 0xff);
      uint16_t mask = static_cast<uint16_t>(info >> 48);
      if (!dev_id) continue;
      Disk& d = disks[dev_id];
      if (!d.info) fail("got wrong dev id " + std::to_string(dev_id));
      if (cluster >= d.clusters) fail("got wrong block address - write beyond end");
      if (d.seen[cluster])
        fail("found duplicated cluster " + std::to_string(cluster) + " for stream " + d.info->name);
      d.seen[cluster] = true;
      ++c.clusters;
      if (dev_id != cur_dev || cluster != cur_cluster) {
        ++c.out_of_order;
      }
      advance_cursor();
      for (int b = 0; b < 16; ++b) {
        uint64_t offset = cluster * kVmaCluster + static_cast<uint64_t>(b) * 4096;
        if (!(mask >> b & 1)) {
          if (offset < d.info->size) {
            uint64_t n = std::min<uint64_t>(4096, d.info->size - offset);
            d.info->zero_bytes += n;
            if (mask) c.partial_zero_bytes += n;
          }
          continue;
        }
        if (start + 4096 > extent_size) fail("short vma extent - too many blocks");
        if (offset >= d.info->size) fail("got wrong block address - write beyond end");
        if (d.fd >= 0) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(4096, d.info->size - offset));
          if (pwrite(d.fd, e + start, n, static_cast<off_t>(offset)) != static_cast<ssize_t>(n))
            fail("blk_pwrite to " + d.info->name + " failed (" + std::strerror(errno) + ")");
        }
        start += 4096;
      }
    }
    if (start != extent_size) fail("vma extent error - missing blocks");
    if (hooks.progress && total) {
      int pct = static_cast<int>(c.clusters * 100 / total);
      if (pct != last_percent) hooks.progress(pct, c.clusters * kVmaCluster);
      last_percent = pct;
    }
  }
  for (size_t i = 1; i < disks.size(); ++i) {
    Disk& d = disks[i];
    if (!d.info) continue;
    for (uint64_t k = 0; k < d.clusters; ++k)
      if (!d.seen[k])
        fail("detected missing cluster " + std::to_string(k) + " for stream " + d.info->name);
    if (d.fd >= 0) d.info->sha256 = sha256_of_fd(d.fd, d.info->size);
  }
  return c;
}

}  // namespace pvesim
