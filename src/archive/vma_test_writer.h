// A small VMA writer for pvesafe's own tests, written from vma_spec.txt (pvesim has its own,
// independent one for end-to-end tests). It can also write the damaged archives the error tests
// need. Not part of the product.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pvesafe::archive::testing {

struct TestDisk {
  std::string name;
  std::vector<uint8_t> data;  // the disk's bytes (any size)
};

struct TestVma {
  uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  int64_t ctime = 1796000000;
  std::vector<std::pair<std::string, std::string>> configs = {{"qemu-server.conf", "boot: order=scsi0\nmemory: 2048\n"}};
  std::vector<TestDisk> disks;
  // Cluster order: (disk index, cluster) pairs; empty = every disk in order, one after another.
  std::vector<std::pair<size_t, uint32_t>> order;
  size_t clusters_per_extent = 58;
};

inline void put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24), p[1] = static_cast<uint8_t>(v >> 16), p[2] = static_cast<uint8_t>(v >> 8),
  p[3] = static_cast<uint8_t>(v);
}
inline void put64(uint8_t* p, uint64_t v) {
  put32(p, static_cast<uint32_t>(v >> 32));
  put32(p + 4, static_cast<uint32_t>(v));
}
inline void md5_into(uint8_t* data, size_t n, size_t at) {
  std::memset(data + at, 0, 16);
  unsigned len = 0;
  EVP_Digest(data, n, data + at, &len, EVP_md5(), nullptr);
}

inline std::vector<uint8_t> write_test_vma(const TestVma& v) {
  std::vector<uint8_t> blob(1, 0);  // position 0 unused
  auto add_blob = [&](const void* p, size_t n) {
    uint32_t pos = static_cast<uint32_t>(blob.size());
    blob.push_back(static_cast<uint8_t>(n & 255));
    blob.push_back(static_cast<uint8_t>(n >> 8));
    blob.insert(blob.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return pos;
  };
  std::vector<uint8_t> h(12288, 0);
  std::memcpy(h.data(), "VMA\0", 4);
  put32(h.data() + 4, 1);
  std::memcpy(h.data() + 8, v.uuid, 16);
  put64(h.data() + 24, static_cast<uint64_t>(v.ctime));
  for (size_t i = 0; i < v.configs.size(); ++i) {
    const auto& [name, data] = v.configs[i];
    put32(h.data() + 2044 + 4 * i, add_blob(name.c_str(), name.size() + 1));
    put32(h.data() + 3068 + 4 * i, add_blob(data.data(), data.size()));
  }
  for (size_t d = 0; d < v.disks.size(); ++d) {
    uint8_t* di = h.data() + 4096 + 32 * (d + 1);
    put32(di, add_blob(v.disks[d].name.c_str(), v.disks[d].name.size() + 1));
    put64(di + 8, v.disks[d].data.size());
  }
  const size_t used = blob.size();
  blob.resize((blob.size() + 511) / 512 * 512, 0);
  put32(h.data() + 48, 12288);
  put32(h.data() + 52, static_cast<uint32_t>(used));
  put32(h.data() + 56, static_cast<uint32_t>(12288 + blob.size()));
  h.insert(h.end(), blob.begin(), blob.end());
  md5_into(h.data(), h.size(), 32);

  std::vector<std::pair<size_t, uint32_t>> order = v.order;
  if (order.empty()) {
    for (size_t d = 0; d < v.disks.size(); ++d) {
      uint32_t clusters = static_cast<uint32_t>((v.disks[d].data.size() + 65535) / 65536);
      for (uint32_t c = 0; c < clusters; ++c) order.emplace_back(d, c);
    }
  }
  std::vector<uint8_t> out = h;
  for (size_t at = 0; at < order.size(); at += v.clusters_per_extent) {
    std::vector<uint8_t> e(512, 0), data;
    std::memcpy(e.data(), "VMAE", 4);
    std::memcpy(e.data() + 8, v.uuid, 16);
    size_t blocks = 0;
    for (size_t i = 0; i < v.clusters_per_extent && at + i < order.size(); ++i) {
      auto [d, c] = order[at + i];
      const auto& disk = v.disks[d].data;
      uint16_t mask = 0;
      for (unsigned b = 0; b < 16; ++b) {
        uint64_t start = uint64_t{c} * 65536 + b * 4096;
        if (start >= disk.size()) continue;
        uint8_t block[4096] = {};
        size_t n = std::min<size_t>(4096, disk.size() - start);
        std::memcpy(block, disk.data() + start, n);
        bool zero = true;
        for (uint8_t x : block) zero = zero && x == 0;
        if (zero) continue;
        mask |= static_cast<uint16_t>(1u << b);
        data.insert(data.end(), block, block + 4096);
        ++blocks;
      }
      put64(e.data() + 40 + 8 * i, uint64_t{mask} << 48 | uint64_t{d + 1} << 32 | c);
    }
    e[6] = static_cast<uint8_t>(blocks >> 8);
    e[7] = static_cast<uint8_t>(blocks);
    md5_into(e.data(), 512, 24);
    out.insert(out.end(), e.begin(), e.end());
    out.insert(out.end(), data.begin(), data.end());
  }
  return out;
}

}  // namespace pvesafe::archive::testing
