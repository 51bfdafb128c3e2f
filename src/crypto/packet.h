// OpenPGP packet framing (RFC 9580 section 4.2): header parsing for the reader, length
// encoding for the writer. Internal to src/crypto.
#pragma once

#include <cstdint>
#include <string>

namespace pvesafe::crypto::detail {

inline constexpr int kTagPkesk = 1;
inline constexpr int kTagSignature = 2;
inline constexpr int kTagSkesk = 3;
inline constexpr int kTagOnePassSignature = 4;
inline constexpr int kTagCompressed = 8;
inline constexpr int kTagSed = 9;
inline constexpr int kTagMarker = 10;
inline constexpr int kTagLiteral = 11;
inline constexpr int kTagSeipd = 18;
inline constexpr int kTagMdc = 19;
inline constexpr int kTagAead = 20;
inline constexpr int kTagPadding = 21;

enum class LengthKind {
  kDefinite,       // `length` bytes
  kPartial,        // `length` bytes, then another length follows
  kIndeterminate,  // old format type 3: up to the end of the enclosing data
};

struct PacketHeader {
  int tag = 0;
  LengthKind kind = LengthKind::kDefinite;
  uint64_t length = 0;
};

// Throws kIntegrity "OpenPGP message is malformed: <what>".
[[noreturn]] void malformed(const std::string& what);

// NextByte: callable returning the next byte (0..255) or -1 at the end of the data.
// Returns false if the data ends before the first header byte; throws on a truncated or invalid
// header.
template <class NextByte>
uint64_t parse_new_length(NextByte&& next, LengthKind& kind) {
  auto need = [&] {
    int b = next();
    if (b < 0) malformed("packet length is truncated");
    return static_cast<uint64_t>(b);
  };
  uint64_t a = need();
  kind = LengthKind::kDefinite;
  if (a < 192) return a;
  if (a < 224) return ((a - 192) << 8) + need() + 192;
  if (a < 255) {
    kind = LengthKind::kPartial;
    return uint64_t{1} << (a & 0x1f);
  }
  uint64_t v = need() << 24;
  v |= need() << 16;
  v |= need() << 8;
  v |= need();
  return v;
}

template <class NextByte>
bool parse_header(NextByte&& next, PacketHeader& h) {
  int b = next();
  if (b < 0) return false;
  if ((b & 0x80) == 0) {
    malformed("invalid packet header byte 0x" + std::string(1, "0123456789abcdef"[b >> 4]) +
              std::string(1, "0123456789abcdef"[b & 15]));
  }
  if (b & 0x40) {
    h.tag = b & 0x3f;
    h.length = parse_new_length(next, h.kind);
    return true;
  }
  h.tag = (b >> 2) & 0x0f;
  int type = b & 3;
  if (type == 3) {
    h.kind = LengthKind::kIndeterminate;
    h.length = 0;
    return true;
  }
  h.kind = LengthKind::kDefinite;
  int bytes = type == 0 ? 1 : type == 1 ? 2 : 4;
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    int c = next();
    if (c < 0) malformed("packet length is truncated");
    v = (v << 8) | static_cast<uint64_t>(c);
  }
  h.length = v;
  return true;
}

// Writer side: size and encoding of a new-format definite length.
constexpr size_t definite_length_size(uint64_t n) { return n < 192 ? 1 : n < 8384 ? 2 : 5; }
uint8_t* put_definite_length(uint8_t* p, uint64_t n);

// Frames a packet body of known total length: one definite length when it fits in 32 bits
// (and partial_exponent is 0), else partial lengths of 2^exponent bytes (2^30 by default) with
// a non-empty definite last part.
class BodyFramer {
 public:
  BodyFramer(uint64_t total, int partial_exponent);
  // Total bytes of all length headers for this body.
  uint64_t overhead() const;
  // Writes the next length header (at most 5 bytes) to `out`; returns its size. Call when
  // part_left() is 0 and remaining() is not.
  size_t next_header(uint8_t* out);
  uint64_t part_left() const { return part_left_; }
  uint64_t remaining() const { return remaining_; }
  void consume(uint64_t n) {
    part_left_ -= n;
    remaining_ -= n;
  }

 private:
  uint64_t total_;
  uint64_t remaining_;
  uint64_t part_left_ = 0;
  int exponent_;
  bool partial_;
};

}  // namespace pvesafe::crypto::detail
