#include "vma_writer.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace pvesim {

namespace {

void put_be(unsigned char* p, uint64_t v, int bytes) {
  unsigned char tmp[8];
  for (int k = 7; k >= 0; --k, v >>= 8) tmp[k] = static_cast<unsigned char>(v);
  std::memcpy(p, tmp + 8 - bytes, static_cast<size_t>(bytes));
}

void md5(const unsigned char* data, size_t n, unsigned char* out) {
  unsigned int len = 0;
  if (EVP_Digest(data, n, out, &len, EVP_md5(), nullptr) != 1 || len != 16)
    throw std::runtime_error("md5 failed");
}

bool all_zero(const unsigned char* p, size_t n) {
  static const unsigned char zeros[4096] = {};
  return std::memcmp(p, zeros, n) == 0;
}

}  // namespace

Uuid random_uuid_v4() {
  Uuid u{};
  if (RAND_bytes(u.data(), static_cast<int>(u.size())) != 1)
    throw std::runtime_error("no random bytes for a uuid");
  u[6] = static_cast<unsigned char>((u[6] & 0x0f) | 0x40);
  u[8] = static_cast<unsigned char>((u[8] & 0x3f) | 0x80);
  return u;
}

std::string uuid_text(const Uuid& u) {
  char buf[40];
  std::snprintf(buf, sizeof buf,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
                u[15]);
  return buf;
}

bool parse_uuid(const std::string& text, Uuid& out) {
  std::string hex;
  for (char c : text)
    if (c != '-') hex += c;
  if (hex.size() != 32 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    return false;
  for (size_t k = 0; k < 16; ++k)
    out[k] = static_cast<unsigned char>(std::stoi(hex.substr(2 * k, 2), nullptr, 16));
  return true;
}

VmaWriter::VmaWriter(Sink sink, const Uuid& uuid, int64_t ctime)
    : sink_(std::move(sink)), uuid_(uuid), ctime_(ctime) {
  extent_.reserve(kVmaExtentHeader + kVmaClustersFlushed * kVmaCluster);
  extent_.assign(kVmaExtentHeader, 0);
}

uint32_t VmaWriter::add_blob(const unsigned char* data, size_t len) {
  if (len > 65535)
    throw std::runtime_error("VMA blob too large (" + std::to_string(len) + " bytes)");
  // PVE grows the table by the blob's size rounded up to 512 whenever it does not fit.
  while (blobs_.size() < blob_pos_ + len + 2)
    blobs_.resize(blobs_.size() + (len + 2 + 511) / 512 * 512, 0);
  uint32_t pos = static_cast<uint32_t>(blob_pos_);
  blobs_[pos] = static_cast<unsigned char>(len & 255);
  blobs_[pos + 1] = static_cast<unsigned char>(len >> 8);
  if (len) std::memcpy(blobs_.data() + pos + 2, data, len);
  blob_pos_ += len + 2;
  return pos;
}

void VmaWriter::add_config(const std::string& name, const std::string& data) {
  if (header_written_) throw std::logic_error("VMA config added after the header");
  if (configs_.size() >= 256) throw std::runtime_error("too many VMA configs");
  std::string n = name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
  uint32_t name_ptr =
      add_blob(reinterpret_cast<const unsigned char*>(n.c_str()), n.size() + 1);  // with the NUL
  uint32_t data_ptr = add_blob(reinterpret_cast<const unsigned char*>(data.data()), data.size());
  configs_.emplace_back(name_ptr, data_ptr);
}

int VmaWriter::add_device(const std::string& name, uint64_t size) {
  if (header_written_) throw std::logic_error("VMA device added after the header");
  if (devices_.size() > 254) throw std::runtime_error("too many drives for a VMA archive");
  if (size == 0) throw std::runtime_error("VMA device '" + name + "' has size 0");
  if ((size + kVmaCluster - 1) / kVmaCluster >= (1ull << 32))
    throw std::runtime_error("VMA device '" + name + "' is too large");
  Device d;
  d.name = name;
  d.size = size;
  d.clusters = (size + kVmaCluster - 1) / kVmaCluster;
  devices_.push_back(d);
  return static_cast<int>(devices_.size() - 1);
}

void VmaWriter::write_header() {
  // Device names go into the blob table when the header is written, after the configs.
  for (size_t i = 1; i < devices_.size(); ++i)
    devices_[i].name_ptr =
        add_blob(reinterpret_cast<const unsigned char*>(devices_[i].name.c_str()),
                 devices_[i].name.size() + 1);
  size_t header_size = kVmaHeaderFixed + blobs_.size();
  std::vector<unsigned char> h(header_size, 0);
  std::memcpy(h.data(), "VMA\0", 4);
  put_be(h.data() + 4, 1, 4);
  std::memcpy(h.data() + 8, uuid_.data(), 16);
  put_be(h.data() + 24, static_cast<uint64_t>(ctime_), 8);
  put_be(h.data() + 48, kVmaHeaderFixed, 4);
  put_be(h.data() + 52, blob_pos_, 4);
  put_be(h.data() + 56, header_size, 4);
  for (size_t i = 0; i < configs_.size(); ++i) {
    put_be(h.data() + 2044 + 4 * i, configs_[i].first, 4);
    put_be(h.data() + 3068 + 4 * i, configs_[i].second, 4);
  }
  for (size_t i = 1; i < devices_.size(); ++i) {
    unsigned char* di = h.data() + 4096 + 32 * i;
    put_be(di, devices_[i].name_ptr, 4);
    put_be(di + 8, devices_[i].size, 8);
  }
  if (!blobs_.empty()) std::memcpy(h.data() + kVmaHeaderFixed, blobs_.data(), blobs_.size());
  md5(h.data(), header_size, h.data() + 32);  // over the header with the md5 field still zero
  sink_(h.data(), h.size());
  written_ += h.size();
  header_written_ = true;
}

void VmaWriter::flush() {
  if (!header_written_) write_header();
  unsigned char* e = extent_.data();
  std::memset(e, 0, kVmaExtentHeader);
  std::memcpy(e, "VMAE", 4);
  put_be(e + 6, (extent_.size() - kVmaExtentHeader) / 4096, 2);
  std::memcpy(e + 8, uuid_.data(), 16);
  for (size_t i = 0; i < blockinfo_.size(); ++i) put_be(e + 40 + 8 * i, blockinfo_[i], 8);
  md5(e, kVmaExtentHeader, e + 24);
  sink_(extent_.data(), extent_.size());
  written_ += extent_.size();
  ++extents_;
  extent_.resize(kVmaExtentHeader);
  blockinfo_.clear();
}

void VmaWriter::write_cluster(int dev_id, uint64_t cluster, const unsigned char* data) {
  if (finished_) throw std::logic_error("VMA cluster written after finish");
  if (dev_id <= 0 || static_cast<size_t>(dev_id) >= devices_.size())
    throw std::logic_error("VMA write to an unknown device");
  Device& d = devices_[static_cast<size_t>(dev_id)];
  if (cluster >= d.clusters) throw std::logic_error("VMA cluster number too big");
  if (blockinfo_.size() >= kVmaClustersFlushed) flush();
  uint16_t mask = 0;
  if (data) {
    uint64_t offset = cluster * kVmaCluster;
    for (int b = 0; b < 16; ++b, offset += 4096) {
      const unsigned char* blk = data + b * 4096;
      if (offset >= d.size || all_zero(blk, 4096)) {
        d.zero_bytes += 4096;
        continue;
      }
      mask = static_cast<uint16_t>(mask | (1u << b));
      size_t at = extent_.size();
      extent_.insert(extent_.end(), blk, blk + 4096);
      if (offset + 4096 > d.size) {  // the part of the last block past the end is zeroed
        size_t real = static_cast<size_t>(d.size - offset);
        std::memset(extent_.data() + at + real, 0, 4096 - real);
      }
    }
  } else {
    d.zero_bytes += kVmaCluster;
  }
  blockinfo_.push_back(static_cast<uint64_t>(mask) << 48 | static_cast<uint64_t>(dev_id) << 32 |
                       (cluster & 0xffffffffu));
  ++d.written;
}

void VmaWriter::finish() {
  if (finished_) return;
  flush();  // the final flush, even when it holds no cluster
  finished_ = true;
  for (size_t i = 1; i < devices_.size(); ++i)
    if (devices_[i].written != devices_[i].clusters)
      throw std::logic_error("incomplete stream '" + devices_[i].name + "'");
}

}  // namespace pvesim
