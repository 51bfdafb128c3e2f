#include "archive/vma.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace pvesafe::archive {

namespace {

constexpr uint8_t kMagic[4] = {'V', 'M', 'A', 0};
constexpr uint8_t kExtentMagic[4] = {'V', 'M', 'A', 'E'};
// Header field offsets (vma_spec.txt).
constexpr size_t kUuidAt = 8, kCtimeAt = 24, kMd5At = 32, kBlobOffsetAt = 48, kBlobSizeAt = 52,
                 kHeaderSizeAt = 56, kConfigNamesAt = 2044, kConfigDataAt = 3068, kDevInfoAt = 4096,
                 kDevInfoBytes = 32;
// Extent header field offsets.
constexpr size_t kExtReservedAt = 4, kExtBlockCountAt = 6, kExtUuidAt = 8, kExtMd5At = 24, kExtInfoAt = 40;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
uint64_t be64(const uint8_t* p) { return static_cast<uint64_t>(be32(p)) << 32 | be32(p + 4); }

// MD5 of `data` with the 16 bytes at md5_at taken as zeros.
std::array<uint8_t, 16> md5_with_zeroed(std::span<const uint8_t> data, size_t md5_at) {
  static const uint8_t zeros[16] = {};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::array<uint8_t, 16> out{};
  unsigned len = 0;
  if (!ctx || !EVP_DigestInit_ex(ctx.get(), EVP_md5(), nullptr) ||
      !EVP_DigestUpdate(ctx.get(), data.data(), md5_at) || !EVP_DigestUpdate(ctx.get(), zeros, 16) ||
      !EVP_DigestUpdate(ctx.get(), data.data() + md5_at + 16, data.size() - md5_at - 16) ||
      !EVP_DigestFinal_ex(ctx.get(), out.data(), &len)) {
    throw Error(Errc::kInternal, "MD5 is not available from OpenSSL");
  }
  return out;
}

Error bad(uint64_t at, const std::string& what) {
  return Error(Errc::kIntegrity, "VMA archive: " + what + " at byte " + std::to_string(at),
               "the archive is damaged or truncated; back up the guest again");
}

// Parses a header (bytes = header_size bytes, md5 already checked) into devices and configs.
VmaHeader parse_header(std::vector<uint8_t> bytes) {
  VmaHeader h;
  const uint8_t* p = bytes.data();
  std::memcpy(h.uuid.data(), p + kUuidAt, 16);
  h.ctime = static_cast<int64_t>(be64(p + kCtimeAt));
  const uint32_t blob_offset = be32(p + kBlobOffsetAt), blob_size = be32(p + kBlobSizeAt);
  const size_t header_size = bytes.size();
  if (blob_offset < kVmaFixedHeaderBytes || blob_offset + static_cast<uint64_t>(blob_size) > header_size) {
    throw bad(kBlobOffsetAt, "the blob buffer (offset " + std::to_string(blob_offset) + ", size " +
                                 std::to_string(blob_size) + ") lies outside the header");
  }
  // A blob: 2-byte little-endian length, then its bytes; positions count from the buffer start
  // (position 0 is unused).
  auto blob = [&](uint32_t pos, std::string_view what) -> std::span<const uint8_t> {
    if (pos == 0 || pos + 2ull > blob_size) throw bad(blob_offset + pos, std::string(what) + " points outside the blob buffer");
    const uint8_t* b = p + blob_offset + pos;
    const uint32_t len = static_cast<uint32_t>(b[0] | b[1] << 8);
    if (pos + 2ull + len > blob_size) throw bad(blob_offset + pos, std::string(what) + " runs past the blob buffer");
    return {b + 2, len};
  };
  auto text = [&](uint32_t pos, std::string_view what) {
    auto b = blob(pos, what);
    if (b.empty() || b.back() != 0) throw bad(blob_offset + pos, std::string(what) + " is not a terminated string");
    return std::string(reinterpret_cast<const char*>(b.data()), b.size() - 1);
  };
  for (size_t i = 0; i < 256; ++i) {
    uint32_t name_ptr = be32(p + kConfigNamesAt + 4 * i), data_ptr = be32(p + kConfigDataAt + 4 * i);
    if (!name_ptr || !data_ptr) continue;
    VmaConfig c;
    c.name = text(name_ptr, "a config name");
    auto d = blob(data_ptr, "config " + c.name);
    c.data.assign(d.begin(), d.end());
    h.configs.push_back(std::move(c));
  }
  for (size_t i = 1; i < 256; ++i) {
    const uint8_t* d = p + kDevInfoAt + kDevInfoBytes * i;
    uint32_t name_ptr = be32(d);
    uint64_t size = be64(d + 8);
    if (!size || !name_ptr) continue;
    VmaDevice dev;
    dev.id = static_cast<uint8_t>(i);
    dev.name = text(name_ptr, "a device name");
    dev.size_bytes = size;
    if (dev.name == "vmstate") {
      throw Error(Errc::kUnsupported, "VMA archive holds a saved VM state (device vmstate), which pvesafe does not store by disk",
                  "back it up as a plain stream with --no-archive");
    }
    if (dev.clusters() > (uint64_t{1} << 32)) throw bad(kDevInfoAt + kDevInfoBytes * i, "device " + dev.name + " is too large");
    h.devices.push_back(std::move(dev));
  }
  h.bytes = std::move(bytes);
  return h;
}

}  // namespace

bool looks_like_vma(std::span<const uint8_t> start) {
  return start.size() >= 8 && std::memcmp(start.data(), kMagic, 4) == 0 && be32(start.data() + 4) == 1;
}

void vma_strip_header(std::span<uint8_t> header) {
  std::memset(header.data() + kUuidAt, 0, 16);
  std::memset(header.data() + kMd5At, 0, 16);
}

void vma_strip_extent(std::span<uint8_t> extent_header) {
  std::memset(extent_header.data() + kExtUuidAt, 0, 16);
  std::memset(extent_header.data() + kExtMd5At, 0, 16);
}

uint64_t read_vma(ByteSource& in, VmaVisitor& visitor) {
  uint64_t pos = 0;
  auto read_exact = [&](uint8_t* buf, size_t n, const char* what) {
    size_t got = read_full(in, buf, n);
    if (got != n) {
      throw Error(Errc::kIntegrity,
                  "VMA archive is truncated: it ends at byte " + std::to_string(pos + got) + " inside " + what,
                  "the archive is incomplete; back up the guest again");
    }
    pos += n;
  };

  std::vector<uint8_t> hb(kVmaFixedHeaderBytes);
  read_exact(hb.data(), hb.size(), "the header");
  if (std::memcmp(hb.data(), kMagic, 4) != 0) throw bad(0, "not a VMA archive (wrong magic)");
  const uint32_t header_size = be32(hb.data() + kHeaderSizeAt);
  if (header_size <= kVmaFixedHeaderBytes || header_size > kVmaMaxHeaderBytes) {
    throw bad(kHeaderSizeAt, "invalid header size " + std::to_string(header_size));
  }
  hb.resize(header_size);
  read_exact(hb.data() + kVmaFixedHeaderBytes, header_size - kVmaFixedHeaderBytes, "the header");
  auto md5 = md5_with_zeroed(hb, kMd5At);
  if (std::memcmp(md5.data(), hb.data() + kMd5At, 16) != 0) throw bad(kMd5At, "wrong header md5 checksum");
  if (be32(hb.data() + 4) != 1) throw bad(4, "unknown version " + std::to_string(be32(hb.data() + 4)));
  VmaHeader header = parse_header(std::move(hb));
  visitor.header(header);

  const VmaDevice* by_id[256] = {};
  std::vector<std::vector<uint64_t>> seen(256);  // cluster bitmaps per device
  for (const auto& d : header.devices) {
    by_id[d.id] = &d;
    seen[d.id].assign((d.clusters() + 63) / 64, 0);
  }

  std::vector<uint8_t> extent(kVmaExtentHeaderBytes + kVmaBlockInfos * kVmaClusterBytes);
  std::vector<uint8_t> cluster(kVmaClusterBytes);
  for (;;) {
    const uint64_t at = pos;
    size_t got = read_full(in, extent.data(), kVmaExtentHeaderBytes);
    if (got == 0) break;
    if (got != kVmaExtentHeaderBytes) {
      throw Error(Errc::kIntegrity,
                  "VMA archive is truncated: it ends at byte " + std::to_string(at + got) +
                      " inside the extent header at byte " + std::to_string(at),
                  "the archive is incomplete; back up the guest again");
    }
    pos += got;
    const uint8_t* e = extent.data();
    auto emd5 = md5_with_zeroed({e, kVmaExtentHeaderBytes}, kExtMd5At);
    if (std::memcmp(emd5.data(), e + kExtMd5At, 16) != 0) throw bad(at, "wrong extent md5 checksum in the extent");
    if (std::memcmp(e + kExtUuidAt, header.uuid.data(), 16) != 0) {
      throw bad(at, "the extent's uuid differs from the archive header's (pieces of two archives?) in the extent");
    }
    if (std::memcmp(e, kExtentMagic, 4) != 0 || be16(e + kExtReservedAt) != 0) throw bad(at, "wrong extent magic");
    const uint16_t block_count = be16(e + kExtBlockCountAt);
    size_t masked = 0;
    for (size_t i = 0; i < kVmaBlockInfos; ++i) {
      uint64_t info = be64(e + kExtInfoAt + 8 * i);
      if ((info >> 32 & 0xff) == 0) continue;
      masked += static_cast<size_t>(__builtin_popcount(static_cast<unsigned>(info >> 48)));
    }
    if (masked != block_count) {
      throw bad(at, "the extent header counts " + std::to_string(block_count) + " blocks but its masks name " +
                        std::to_string(masked) + ", in the extent");
    }
    read_exact(extent.data() + kVmaExtentHeaderBytes, size_t{block_count} * kVmaBlockBytes, "an extent's data");
    visitor.extent(at, {extent.data(), kVmaExtentHeaderBytes});
    const uint8_t* data = extent.data() + kVmaExtentHeaderBytes;
    for (size_t i = 0; i < kVmaBlockInfos; ++i) {
      const uint64_t info = be64(e + kExtInfoAt + 8 * i);
      const uint8_t dev_id = static_cast<uint8_t>(info >> 32);
      if (dev_id == 0) continue;
      const uint16_t mask = static_cast<uint16_t>(info >> 48);
      const uint32_t num = static_cast<uint32_t>(info);
      const VmaDevice* dev = by_id[dev_id];
      if (!dev) throw bad(at, "blockinfo " + std::to_string(i) + " names device id " + std::to_string(dev_id) + ", which the header does not declare, in the extent");
      if (num >= dev->clusters()) {
        throw bad(at, "cluster " + std::to_string(num) + " of device " + dev->name + " lies beyond its size (" +
                          std::to_string(dev->size_bytes) + " bytes), in the extent");
      }
      uint64_t& word = seen[dev_id][num / 64];
      const uint64_t bit = uint64_t{1} << (num % 64);
      if (word & bit) throw bad(at, "cluster " + std::to_string(num) + " of device " + dev->name + " appears a second time, in the extent");
      word |= bit;
      static const std::vector<uint8_t> zero_cluster(kVmaClusterBytes, 0);
      std::span<const uint8_t> bytes;
      const uint64_t cluster_start = uint64_t{num} * kVmaClusterBytes;
      const bool whole = mask == 0xffff && cluster_start + kVmaClusterBytes <= dev->size_bytes;
      if (mask == 0) {
        bytes = zero_cluster;  // unused space: most clusters of a large, mostly empty disk
      } else if (whole) {
        bytes = {data, kVmaClusterBytes};
        data += kVmaClusterBytes;
      } else {
        for (unsigned b = 0; b < 16; ++b) {
          uint8_t* dst = cluster.data() + b * kVmaBlockBytes;
          if (mask & (1u << b)) {
            std::memcpy(dst, data, kVmaBlockBytes);
            data += kVmaBlockBytes;
          } else {
            std::memset(dst, 0, kVmaBlockBytes);
          }
        }
        // vzdump stores no block past the end of a device and zero-fills the part of the last
        // block that lies past it; anything else could not be rebuilt bit for bit.
        if (cluster_start + kVmaClusterBytes > dev->size_bytes) {
          const size_t valid = static_cast<size_t>(dev->size_bytes - cluster_start);
          if (!std::all_of(cluster.begin() + static_cast<ptrdiff_t>(valid), cluster.end(),
                           [](uint8_t c) { return c == 0; })) {
            throw bad(at, "cluster " + std::to_string(num) + " of device " + dev->name +
                              " holds data past the device's end, in the extent");
          }
        }
        bytes = cluster;
      }
      visitor.cluster(*dev, num, mask, bytes);
    }
  }
  for (const auto& d : header.devices) {
    const auto& bits = seen[d.id];
    for (uint64_t c = 0; c < d.clusters(); ++c) {
      if (!(bits[c / 64] >> (c % 64) & 1)) {
        throw Error(Errc::kIntegrity,
                    "VMA archive is truncated: it ends at byte " + std::to_string(pos) + " but cluster " +
                        std::to_string(c) + " of device " + d.name + " never appeared",
                    "the archive is incomplete; back up the guest again");
      }
    }
  }
  return pos;
}

// ---------------------------------------------------------------------------------------------

VmaRebuilder::VmaRebuilder(std::vector<uint8_t> structure, const VmaUuid& uuid)
    : structure_(std::move(structure)), uuid_(uuid) {
  auto broken = [](const std::string& what) {
    return Error(Errc::kIntegrity, "the stored VMA structure is damaged: " + what, "run pvesafe verify --read-data");
  };
  if (structure_.size() < kVmaFixedHeaderBytes || std::memcmp(structure_.data(), kMagic, 4) != 0) throw broken("no header");
  header_size_ = be32(structure_.data() + kHeaderSizeAt);
  if (header_size_ <= kVmaFixedHeaderBytes || header_size_ > structure_.size() ||
      (structure_.size() - header_size_) % kVmaExtentHeaderBytes != 0) {
    throw broken("header size " + std::to_string(header_size_));
  }
  std::vector<uint8_t> h(structure_.begin(), structure_.begin() + static_cast<ptrdiff_t>(header_size_));
  devices_ = parse_header(std::move(h)).devices;
  archive_bytes_ = header_size_;
  for (size_t at = header_size_; at < structure_.size(); at += kVmaExtentHeaderBytes) {
    archive_bytes_ += kVmaExtentHeaderBytes + size_t{be16(structure_.data() + at + kExtBlockCountAt)} * kVmaBlockBytes;
  }
}

void VmaRebuilder::for_each_cluster(const std::function<void(const Cluster&)>& fn) const {
  for (size_t at = header_size_; at < structure_.size(); at += kVmaExtentHeaderBytes) {
    const uint8_t* e = structure_.data() + at;
    for (size_t i = 0; i < kVmaBlockInfos; ++i) {
      const uint64_t info = be64(e + kExtInfoAt + 8 * i);
      const uint8_t dev = static_cast<uint8_t>(info >> 32);
      const uint16_t mask = static_cast<uint16_t>(info >> 48);
      if (dev != 0 && mask != 0) fn(Cluster{dev, static_cast<uint32_t>(info), mask});
    }
  }
}

void VmaRebuilder::write(ByteSink& out,
                         const std::function<const uint8_t*(uint8_t dev_id, uint32_t cluster)>& data) const {
  std::vector<uint8_t> h(structure_.begin(), structure_.begin() + static_cast<ptrdiff_t>(header_size_));
  std::memcpy(h.data() + kUuidAt, uuid_.data(), 16);
  auto md5 = md5_with_zeroed(h, kMd5At);
  std::memcpy(h.data() + kMd5At, md5.data(), 16);
  out.write(h.data(), h.size());

  std::vector<uint8_t> ext(kVmaExtentHeaderBytes + kVmaBlockInfos * kVmaClusterBytes);
  uint64_t sizes[256] = {};
  for (const auto& d : devices_) sizes[d.id] = d.size_bytes;
  for (size_t at = header_size_; at < structure_.size(); at += kVmaExtentHeaderBytes) {
    uint8_t* e = ext.data();
    std::memcpy(e, structure_.data() + at, kVmaExtentHeaderBytes);
    std::memcpy(e + kExtUuidAt, uuid_.data(), 16);
    auto emd5 = md5_with_zeroed({e, kVmaExtentHeaderBytes}, kExtMd5At);
    std::memcpy(e + kExtMd5At, emd5.data(), 16);
    uint8_t* p = e + kVmaExtentHeaderBytes;
    for (size_t i = 0; i < kVmaBlockInfos; ++i) {
      const uint64_t info = be64(e + kExtInfoAt + 8 * i);
      const uint8_t dev = static_cast<uint8_t>(info >> 32);
      const uint16_t mask = static_cast<uint16_t>(info >> 48);
      if (dev == 0 || mask == 0) continue;
      const uint32_t num = static_cast<uint32_t>(info);
      const uint8_t* c = data(dev, num);
      const uint64_t start = uint64_t{num} * kVmaClusterBytes;
      for (unsigned b = 0; b < 16; ++b) {
        if (!(mask & (1u << b))) continue;
        const uint64_t block_start = start + b * kVmaBlockBytes;
        // vzdump zero-fills the part of the last block that lies past the end of the device.
        const size_t valid = block_start >= sizes[dev]
                                 ? 0
                                 : static_cast<size_t>(std::min<uint64_t>(kVmaBlockBytes, sizes[dev] - block_start));
        std::memcpy(p, c + b * kVmaBlockBytes, valid);
        std::memset(p + valid, 0, kVmaBlockBytes - valid);
        p += kVmaBlockBytes;
      }
    }
    out.write(ext.data(), static_cast<size_t>(p - ext.data()));
  }
}

}  // namespace pvesafe::archive
