// Byte streams held in memory (core/byte_stream.h): a source reading a string, a sink appending
// to one. For small payloads built or inspected whole, such as a tar of configuration files.
#pragma once

#include <string>

#include "core/byte_stream.h"

namespace pvesafe {

class MemorySource : public ByteSource {
 public:
  MemorySource(std::string data, std::string name);
  size_t read(uint8_t* buf, size_t n) override;
  std::string name() const override { return name_; }
  std::optional<uint64_t> size_hint() const override { return data_.size(); }

 private:
  std::string data_;
  std::string name_;
  size_t pos_ = 0;
};

class MemorySink : public ByteSink {
 public:
  // Refuses (kUnsupported) to grow past max_bytes.
  explicit MemorySink(size_t max_bytes = 256u << 20) : max_(max_bytes) {}
  void write(const uint8_t* buf, size_t n) override;
  void finish() override { finished_ = true; }
  const std::string& data() const { return data_; }
  std::string take() { return std::move(data_); }
  bool finished() const { return finished_; }

 private:
  std::string data_;
  size_t max_;
  bool finished_ = false;
};

}  // namespace pvesafe
