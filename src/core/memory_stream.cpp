#include "core/memory_stream.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace pvesafe {

MemorySource::MemorySource(std::string data, std::string name)
    : data_(std::move(data)), name_(std::move(name)) {}

size_t MemorySource::read(uint8_t* buf, size_t n) {
  size_t k = std::min(n, data_.size() - pos_);
  std::memcpy(buf, data_.data() + pos_, k);
  pos_ += k;
  return k;
}

void MemorySink::write(const uint8_t* buf, size_t n) {
  if (data_.size() + n > max_) {
    throw Error(Errc::kUnsupported,
                "more than " + std::to_string(max_) + " bytes for an in-memory buffer");
  }
  data_.append(reinterpret_cast<const char*>(buf), n);
}

}  // namespace pvesafe
