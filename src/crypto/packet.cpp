#include "crypto/packet.h"

#include "core/error.h"

namespace pvesafe::crypto::detail {

void malformed(const std::string& what) {
  throw Error(Errc::kIntegrity, "OpenPGP message is malformed: " + what,
              "the object is corrupted or truncated; use another copy of it");
}

uint8_t* put_definite_length(uint8_t* p, uint64_t n) {
  if (n < 192) {
    *p++ = static_cast<uint8_t>(n);
  } else if (n < 8384) {
    n -= 192;
    *p++ = static_cast<uint8_t>(192 + (n >> 8));
    *p++ = static_cast<uint8_t>(n & 0xff);
  } else {
    *p++ = 0xff;
    *p++ = static_cast<uint8_t>(n >> 24);
    *p++ = static_cast<uint8_t>(n >> 16);
    *p++ = static_cast<uint8_t>(n >> 8);
    *p++ = static_cast<uint8_t>(n);
  }
  return p;
}

BodyFramer::BodyFramer(uint64_t total, int partial_exponent)
    : total_(total),
      remaining_(total),
      exponent_(partial_exponent == 0 ? 30 : partial_exponent),
      partial_(partial_exponent != 0 || total > 0xffffffffu) {}

uint64_t BodyFramer::overhead() const {
  if (!partial_) return definite_length_size(total_);
  uint64_t chunk = uint64_t{1} << exponent_;
  uint64_t parts = total_ == 0 ? 0 : (total_ - 1) / chunk;  // partial parts; the last part is 1..chunk
  return parts + definite_length_size(total_ - parts * chunk);
}

size_t BodyFramer::next_header(uint8_t* out) {
  uint64_t chunk = uint64_t{1} << exponent_;
  if (partial_ && remaining_ > chunk) {
    out[0] = static_cast<uint8_t>(224 + exponent_);
    part_left_ = chunk;
    return 1;
  }
  part_left_ = remaining_;
  return static_cast<size_t>(put_definite_length(out, remaining_) - out);
}

}  // namespace pvesafe::crypto::detail
