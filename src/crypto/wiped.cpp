#include "crypto/wiped.h"

#include <openssl/crypto.h>

#include <algorithm>

namespace pvesafe::crypto::detail {

WipedBytes::WipedBytes(size_t n) : data_(n ? new uint8_t[n]() : nullptr), size_(n), capacity_(n) {}

WipedBytes::WipedBytes(std::span<const uint8_t> copy) : WipedBytes(copy.size()) {
  std::copy(copy.begin(), copy.end(), data_);
}

WipedBytes::~WipedBytes() { release(); }

WipedBytes::WipedBytes(WipedBytes&& other) noexcept
    : data_(other.data_), size_(other.size_), capacity_(other.capacity_) {
  other.data_ = nullptr;
  other.size_ = other.capacity_ = 0;
}

WipedBytes& WipedBytes::operator=(WipedBytes&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    other.data_ = nullptr;
    other.size_ = other.capacity_ = 0;
  }
  return *this;
}

void WipedBytes::release() {
  if (data_ != nullptr) {
    OPENSSL_cleanse(data_, capacity_);
    delete[] data_;
  }
  data_ = nullptr;
  size_ = capacity_ = 0;
}

}  // namespace pvesafe::crypto::detail
