// WipedBytes: a byte buffer for secret material (decrypted key material, dearmored secret keys,
// session-key frames) that is wiped (OPENSSL_cleanse) before its memory is released. Its size is
// fixed when it is made, so no reallocation leaves copies behind. Internal to src/crypto.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace pvesafe::crypto::detail {

class WipedBytes {
 public:
  WipedBytes() = default;
  explicit WipedBytes(size_t n);
  explicit WipedBytes(std::span<const uint8_t> copy);
  ~WipedBytes();
  WipedBytes(const WipedBytes&) = delete;
  WipedBytes& operator=(const WipedBytes&) = delete;
  WipedBytes(WipedBytes&& other) noexcept;
  WipedBytes& operator=(WipedBytes&& other) noexcept;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  uint8_t& operator[](size_t i) { return data_[i]; }
  uint8_t operator[](size_t i) const { return data_[i]; }
  std::span<uint8_t> span() { return {data_, size_}; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  // Makes the buffer look shorter (the tail stays allocated and is wiped with the rest).
  void shrink(size_t n) {
    if (n < size_) size_ = n;
  }

 private:
  void release();
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace pvesafe::crypto::detail
