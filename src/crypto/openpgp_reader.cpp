// The OpenPGP message reader. Layers of pull sources: the SEIPD body (spans of the caller's
// message, partial lengths already resolved) is decrypted and hashed on the fly; packets inside
// it are read through body sources that resolve their own partial lengths; compressed packets
// add a decompressing source. Literal data is decrypted straight into the result vector.
//
// Every length is checked against the data that is actually there before it is used; all
// failures are pvesafe::Error. When a packet inside the encrypted data is malformed, the rest is
// decrypted and the MDC checked first, so a corrupted message reports the integrity failure.
#include <bzlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>

#include "core/error.h"
#include "crypto/algorithms.h"
#include "crypto/key_packet.h"
#include "crypto/openpgp.h"
#include "crypto/openpgp_internal.h"
#include "crypto/packet.h"
#include "crypto/s2k.h"
#include "crypto/session_key.h"

namespace pvesafe::crypto {

namespace {

using namespace detail;

constexpr int kMaxCompressionDepth = 8;
constexpr size_t kMaxSessionKeyPackets = 16;
constexpr size_t kStep = 64 * 1024;
constexpr uint64_t kFramingSlack = 1 << 20;

// Throws kIntegrity: a message pvesafe reads as one of its own objects is not in the shape
// pvesafe writes (see decrypt_own_message).
[[noreturn]] void not_own(const std::string& what) {
  throw Error(Errc::kIntegrity, "OpenPGP message is not in pvesafe's format: " + what,
              "the object is damaged or was not written by pvesafe");
}

std::string tag_name(int tag) {
  switch (tag) {
    case kTagPkesk:
      return "public-key session key";
    case kTagSignature:
      return "signature";
    case kTagSkesk:
      return "symmetric-key session key";
    case kTagOnePassSignature:
      return "one-pass signature";
    case kTagCompressed:
      return "compressed data";
    case kTagSed:
      return "encrypted data without integrity protection";
    case kTagMarker:
      return "marker";
    case kTagLiteral:
      return "literal data";
    case kTagSeipd:
      return "encrypted data";
    case kTagAead:
      return "AEAD encrypted data";
    case kTagPadding:
      return "padding";
    default:
      return "unknown";
  }
}

[[noreturn]] void too_large(uint64_t limit, bool strict) {
  if (strict) {
    not_own("it holds more than " + std::to_string(limit) +
            " bytes of data, the most the caller expects");
  }
  throw Error(Errc::kUnsupported,
              "OpenPGP message expands to more than " + std::to_string(limit) +
                  " bytes, the limit of this reader",
              "the message may be a compression bomb; decrypt it with gpg if you trust it");
}

[[noreturn]] void unsupported(const std::string& what, std::string hint = {}) {
  throw Error(Errc::kUnsupported, what,
              hint.empty() ? "decrypt the message with gpg, or re-encrypt it with AES-256"
                           : std::move(hint));
}

// ---- pull sources --------------------------------------------------------------------------

class Source {
 public:
  virtual ~Source() = default;
  // Reads up to n bytes (n > 0); returns 0 only at the end.
  virtual size_t read(uint8_t* buf, size_t n) = 0;
  // Upper bound of the bytes read() can still return.
  virtual uint64_t max_remaining() const = 0;
};

int read_byte(Source& s) {
  uint8_t b;
  return s.read(&b, 1) == 1 ? b : -1;
}

void read_exact(Source& s, uint8_t* buf, size_t n, const char* what) {
  while (n > 0) {
    size_t r = s.read(buf, n);
    if (r == 0) malformed(std::string(what) + " is truncated");
    buf += r;
    n -= r;
  }
}

void skip_all(Source& s) {
  uint8_t buf[16384];
  while (s.read(buf, sizeof buf) > 0) {
  }
}

// Decrypted, hashed payload of a SEIPD v1 packet: everything between the random prefix and the
// MDC packet. Reaching its end verifies the MDC.
class SeipdSource : public Source {
 public:
  SeipdSource(const CipherInfo& cipher, std::span<const uint8_t> key,
              const std::vector<std::span<const uint8_t>>& segments, uint64_t ciphertext_size)
      : segments_(segments), cfb_(cipher, key), md_(EVP_MD_CTX_new()) {
    bs_ = cipher.block_size;
    if (!md_ || EVP_DigestInit_ex2(md_.get(), EVP_sha1(), nullptr) != 1) {
      throw Error(Errc::kInternal, "cannot initialise SHA-1 in OpenSSL");
    }
    if (ciphertext_size < bs_ + 2 + 22) malformed("encrypted data packet is too short");
    payload_left_ = ciphertext_size - (bs_ + 2) - 22;
  }

  // Decrypts the random prefix; false when its last two bytes do not repeat (wrong key).
  bool quick_check() {
    uint8_t prefix[kMaxBlockSize + 2];
    decrypt(prefix, bs_ + 2, true);
    bool ok = prefix[bs_ - 2] == prefix[bs_] && prefix[bs_ - 1] == prefix[bs_ + 1];
    OPENSSL_cleanse(prefix, sizeof prefix);
    return ok;
  }

  size_t read(uint8_t* buf, size_t n) override {
    if (payload_left_ == 0) {
      finish();
      return 0;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(n, payload_left_));
    decrypt(buf, take, true);
    payload_left_ -= take;
    return take;
  }

  uint64_t max_remaining() const override { return payload_left_; }

  // Decrypts whatever was not read yet and verifies the MDC (throws kIntegrity on mismatch).
  void verify_rest() {
    if (finished_) return;
    std::vector<uint8_t> scratch(kStep);
    while (read(scratch.data(), scratch.size()) > 0) {
    }
  }

 private:
  void finish() {
    if (finished_) return;
    finished_ = true;
    uint8_t mdc[22];
    decrypt(mdc, sizeof mdc, false);
    uint8_t expect[22] = {0xD3, 0x14};
    unsigned int len = 0;
    if (EVP_DigestUpdate(md_.get(), expect, 2) != 1 ||
        EVP_DigestFinal_ex(md_.get(), expect + 2, &len) != 1 || len != 20) {
      throw Error(Errc::kInternal, "SHA-1 failed in OpenSSL");
    }
    if (!equal_ct(mdc, expect, sizeof mdc)) {
      throw Error(Errc::kIntegrity,
                  "OpenPGP message failed its integrity check (modification detection code "
                  "does not match)",
                  "the object is corrupted or was tampered with; use another copy of it");
    }
  }

  void decrypt(uint8_t* out, size_t n, bool hash) {
    while (n > 0) {
      while (seg_off_ == segments_[seg_].size()) {
        ++seg_;
        seg_off_ = 0;
      }
      size_t take = std::min({n, segments_[seg_].size() - seg_off_, kStep});
      cfb_.decrypt(segments_[seg_].data() + seg_off_, take, out);
      if (hash && EVP_DigestUpdate(md_.get(), out, take) != 1) {
        throw Error(Errc::kInternal, "SHA-1 failed in OpenSSL");
      }
      seg_off_ += take;
      out += take;
      n -= take;
    }
  }

  const std::vector<std::span<const uint8_t>>& segments_;
  size_t seg_ = 0;
  size_t seg_off_ = 0;
  CfbDecryptor cfb_;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> md_;
  size_t bs_;
  uint64_t payload_left_ = 0;
  bool finished_ = false;
};

// The body of one packet inside a source, resolving partial lengths.
class BodySource : public Source {
 public:
  BodySource(Source& parent, const PacketHeader& h)
      : parent_(parent), kind_(h.kind), part_left_(h.length), last_(h.kind != LengthKind::kPartial) {}

  size_t read(uint8_t* buf, size_t n) override {
    if (kind_ == LengthKind::kIndeterminate) return parent_.read(buf, n);
    while (part_left_ == 0) {
      if (last_) return 0;
      LengthKind k;
      part_left_ = parse_new_length([&] { return read_byte(parent_); }, k);
      last_ = k != LengthKind::kPartial;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(n, part_left_));
    size_t r = parent_.read(buf, take);
    if (r == 0) malformed("packet body is truncated");
    part_left_ -= r;
    return r;
  }

  uint64_t max_remaining() const override {
    if (kind_ == LengthKind::kDefinite) return std::min(part_left_, parent_.max_remaining());
    return parent_.max_remaining();
  }

 private:
  Source& parent_;
  LengthKind kind_;
  uint64_t part_left_;
  bool last_;
};

// Decompresses a compressed data packet body (after its algorithm byte). Data after the end of
// the compressed stream is ignored (Sequoia pads messages that way).
class InflateSource : public Source {
 public:
  InflateSource(Source& body, int algo, uint64_t limit)
      : body_(body), algo_(algo), limit_(limit), in_(kStep) {
    if (algo == 1 || algo == 2) {
      zs_ = {};
      if (inflateInit2(&zs_, algo == 1 ? -15 : 15) != Z_OK) {
        throw std::bad_alloc();
      }
    } else if (algo == 3) {
      bz_ = {};
      if (BZ2_bzDecompressInit(&bz_, 0, 0) != BZ_OK) throw std::bad_alloc();
    } else {
      unsupported("OpenPGP compression algorithm " + std::to_string(algo) + " is not supported");
    }
  }
  ~InflateSource() override {
    if (algo_ == 3) {
      BZ2_bzDecompressEnd(&bz_);
    } else {
      inflateEnd(&zs_);
    }
  }
  InflateSource(const InflateSource&) = delete;
  InflateSource& operator=(const InflateSource&) = delete;

  size_t read(uint8_t* buf, size_t n) override {
    if (done_ || n == 0) return 0;
    n = std::min(n, kStep * 16);
    for (;;) {
      if (in_len_ == 0 && !in_eof_) {
        in_len_ = body_.read(in_.data(), in_.size());
        in_pos_ = 0;
        if (in_len_ == 0) in_eof_ = true;
      }
      size_t produced = 0;
      size_t consumed = 0;
      bool end = false;
      if (algo_ == 3) {
        bz_.next_in = reinterpret_cast<char*>(in_.data() + in_pos_);
        bz_.avail_in = static_cast<unsigned>(in_len_);
        bz_.next_out = reinterpret_cast<char*>(buf);
        bz_.avail_out = static_cast<unsigned>(n);
        int rc = BZ2_bzDecompress(&bz_);
        if (rc != BZ_OK && rc != BZ_STREAM_END) malformed("BZip2 data is corrupt");
        end = rc == BZ_STREAM_END;
        produced = n - bz_.avail_out;
        consumed = in_len_ - bz_.avail_in;
      } else {
        zs_.next_in = in_.data() + in_pos_;
        zs_.avail_in = static_cast<uInt>(in_len_);
        zs_.next_out = buf;
        zs_.avail_out = static_cast<uInt>(n);
        int rc = inflate(&zs_, Z_NO_FLUSH);
        if (rc == Z_MEM_ERROR) throw std::bad_alloc();
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
          malformed(std::string(algo_ == 1 ? "ZIP" : "ZLIB") + " data is corrupt");
        }
        end = rc == Z_STREAM_END;
        produced = n - zs_.avail_out;
        consumed = in_len_ - zs_.avail_in;
      }
      in_pos_ += consumed;
      in_len_ -= consumed;
      total_ += produced;
      if (total_ > limit_) too_large(limit_, false);
      if (end) {
        done_ = true;
        skip_all(body_);  // padding after the compressed stream
        return produced;
      }
      if (produced > 0) return produced;
      if (in_eof_ && consumed == 0) malformed("compressed data is truncated");
      if (consumed == 0 && in_len_ > 0) malformed("compressed data is corrupt");
    }
  }

  uint64_t max_remaining() const override { return done_ ? 0 : limit_ - total_; }

 private:
  Source& body_;
  int algo_;
  uint64_t limit_;
  uint64_t total_ = 0;
  std::vector<uint8_t> in_;
  size_t in_pos_ = 0;
  size_t in_len_ = 0;
  bool in_eof_ = false;
  bool done_ = false;
  z_stream zs_{};
  bz_stream bz_{};
};

// ---- packets inside the encrypted data -----------------------------------------------------

struct Plain {
  std::vector<uint8_t> out;
  bool have_literal = false;
  bool strict = false;  // pvesafe's own format only (decrypt_own_message)
  uint64_t limit = 0;
  uint64_t size_hint = 0;  // size of the whole message, the first guess for compressed data
};

void read_literal(Source& body, Plain& plain) {
  if (plain.have_literal) malformed("more than one literal data packet");
  plain.have_literal = true;
  uint8_t head[2];
  read_exact(body, head, 2, "literal data header");
  if (plain.strict && head[0] != 'b') {
    not_own("literal data format '" + std::to_string(head[0]) + "', pvesafe writes 'b' (98)");
  }
  uint8_t skip[255 + 4];
  read_exact(body, skip, head[1] + 4u, "literal data header");  // file name and date, unused

  auto& out = plain.out;
  size_t used = 0;
  uint64_t bound = std::min(body.max_remaining(), plain.limit + 1);
  resize_for_output(out, static_cast<size_t>(std::min<uint64_t>(bound, plain.size_hint + 4096)));
  for (;;) {
    if (used == out.size()) {
      if (used > plain.limit) too_large(plain.limit, plain.strict);
      if (body.max_remaining() == 0) break;
      uint64_t want = std::max<uint64_t>(uint64_t{used} * 2, used + kStep);
      bound = std::min<uint64_t>(uint64_t{used} + body.max_remaining(), plain.limit + 1);
      want = std::min(want, std::max<uint64_t>(bound, used + 1));
      resize_for_output(out, static_cast<size_t>(want));
    }
    size_t r = body.read(out.data() + used, out.size() - used);
    if (r == 0) break;
    used += r;
  }
  if (used > plain.limit) too_large(plain.limit, plain.strict);
  out.resize(used);
}

void read_packets(Source& src, Plain& plain, int depth) {
  PacketHeader h;
  while (parse_header([&] { return read_byte(src); }, h)) {
    BodySource body(src, h);
    if (plain.strict && h.tag != kTagLiteral) {
      not_own(tag_name(h.tag) + " packet (tag " + std::to_string(h.tag) +
              ") inside the encrypted data, where pvesafe writes one literal data packet only");
    }
    switch (h.tag) {
      case kTagLiteral:
        read_literal(body, plain);
        break;
      case kTagCompressed: {
        if (depth >= kMaxCompressionDepth) malformed("compressed packets are nested too deeply");
        int algo = read_byte(body);
        if (algo < 0) malformed("compressed data packet is truncated");
        if (algo == 0) {
          read_packets(body, plain, depth + 1);
        } else {
          InflateSource inflated(body, algo, plain.limit + kFramingSlack);
          read_packets(inflated, plain, depth + 1);
        }
        break;
      }
      case kTagSignature:
      case kTagOnePassSignature:
      case kTagMarker:
      case kTagPadding:
        // Signatures cannot be checked without the signer's key; the MDC protects the data.
        break;
      default:
        malformed("unexpected packet (tag " + std::to_string(h.tag) + ") inside the encrypted data");
    }
    skip_all(body);
  }
}

// ---- the message ---------------------------------------------------------------------------

struct Cursor {
  std::span<const uint8_t> msg;
  size_t pos = 0;
  int next() { return pos < msg.size() ? msg[pos++] : -1; }
  std::span<const uint8_t> take(uint64_t n) {
    if (n > msg.size() - pos) {
      malformed("packet at offset " + std::to_string(pos) + " claims " + std::to_string(n) +
                " bytes but only " + std::to_string(msg.size() - pos) + " remain (truncated)");
    }
    auto s = msg.subspan(pos, static_cast<size_t>(n));
    pos += static_cast<size_t>(n);
    return s;
  }
};

struct DerivedKey {
  const CipherInfo* cipher = nullptr;
  std::array<uint8_t, kMaxKeySize> key{};
  ~DerivedKey() { OPENSSL_cleanse(key.data(), key.size()); }
};

// Derives the session key a SKESK packet holds for this passphrase. Returns false when the
// passphrase is evidently wrong (the encrypted session key decrypts to nonsense).
bool open_skesk(std::span<const uint8_t> b, std::string_view passphrase, DerivedKey& sk) {
  if (b.empty()) malformed("empty symmetric-key encrypted session key packet");
  if (b[0] != 4) {
    unsupported("symmetric-key encrypted session key packet version " + std::to_string(b[0]) +
                (b[0] == 5 || b[0] == 6 ? " (AEAD, RFC 9580)" : "") + " is not supported");
  }
  if (b.size() < 4) malformed("symmetric-key encrypted session key packet is truncated");
  S2k s2k;
  uint8_t cipher_id = b[1];
  s2k.type = b[2];
  size_t off = 3;
  if (s2k.type == 4) unsupported("Argon2 S2K (RFC 9580) is not supported");
  if (s2k.type == 101) unsupported("GnuPG S2K extension 101 is not supported");
  if (s2k.type != kS2kSimple && s2k.type != kS2kSalted && s2k.type != kS2kIterated) {
    unsupported("OpenPGP S2K type " + std::to_string(s2k.type) + " is not supported");
  }
  s2k.hash = b[off++];
  if (s2k.type != kS2kSimple) {
    if (b.size() < off + 8) malformed("S2K salt is truncated");
    std::copy(b.begin() + static_cast<ptrdiff_t>(off), b.begin() + static_cast<ptrdiff_t>(off + 8),
              s2k.salt.begin());
    off += 8;
  }
  if (s2k.type == kS2kIterated) {
    if (b.size() < off + 1) malformed("S2K count is truncated");
    s2k.count = b[off++];
  }
  auto esk = b.subspan(off);
  if (!esk.empty() && (esk.size() < 2 || esk.size() > 1 + kMaxKeySize)) {
    malformed("encrypted session key has an invalid length");
  }
  const CipherInfo* kek_cipher = find_cipher(cipher_id);
  if (kek_cipher == nullptr) unsupported("OpenPGP " + cipher_name(cipher_id) + " is not supported");
  ecb_cipher(*kek_cipher);  // throws kUnsupported naming the cipher
  std::array<uint8_t, kMaxKeySize> kek{};
  s2k_derive(s2k, passphrase, std::span(kek.data(), kek_cipher->key_size));
  if (esk.empty()) {
    sk.cipher = kek_cipher;
    sk.key = kek;
    OPENSSL_cleanse(kek.data(), kek.size());
    return true;
  }
  std::array<uint8_t, 1 + kMaxKeySize> plain{};
  {
    CfbDecryptor d(*kek_cipher, std::span(kek.data(), kek_cipher->key_size));
    d.decrypt(esk.data(), esk.size(), plain.data());
  }
  OPENSSL_cleanse(kek.data(), kek.size());
  const CipherInfo* c = find_cipher(plain[0]);
  bool ok = c != nullptr && c->key_size == esk.size() - 1;
  if (ok) {
    sk.cipher = c;
    std::copy(plain.begin() + 1, plain.begin() + 1 + static_cast<ptrdiff_t>(c->key_size), sk.key.begin());
  }
  OPENSSL_cleanse(plain.data(), plain.size());
  return ok;
}

// The framing of a message: its session key packets and the body of its SEIPD v1 packet
// (version octet stripped), with partial lengths resolved.
struct ParsedMessage {
  std::vector<std::span<const uint8_t>> skesks;
  std::vector<PkeskPacket> pkesks;
  std::vector<std::span<const uint8_t>> enc;  // ciphertext segments
  std::deque<std::vector<uint8_t>> gathered;  // bodies made of many tiny partial parts
  uint64_t ciphertext_size = 0;
};

// strict: only what pvesafe writes for its own objects (see decrypt_own_message).
void parse_message(std::span<const uint8_t> message, ParsedMessage& pm, bool strict = false) {
  if (message.empty()) malformed("the message is empty");
  static constexpr std::string_view kArmor = "-----BEGIN PGP";
  if (message.size() >= kArmor.size() &&
      std::equal(kArmor.begin(), kArmor.end(), reinterpret_cast<const char*>(message.data()))) {
    unsupported("the OpenPGP message is ASCII-armored", "convert it with `gpg --dearmor` first");
  }

  Cursor cur{message};
  int enc_tag = 0;
  uint64_t enc_size = 0;
  PacketHeader h;
  for (;;) {
    const size_t packet_start = cur.pos;
    if (!parse_header([&] { return cur.next(); }, h)) break;
    const size_t at = cur.pos;
    std::vector<std::span<const uint8_t>> segs;
    uint64_t size = 0;
    if (h.kind == LengthKind::kIndeterminate) {
      segs.push_back(cur.take(message.size() - cur.pos));
    } else {
      // Count the parts first: many tiny partial parts are gathered into one buffer, so a
      // list of parts never costs more memory than the message itself.
      size_t parts = 1;
      const size_t start = cur.pos;
      size += cur.take(h.length).size();
      for (LengthKind k = h.kind; k == LengthKind::kPartial; ++parts) {
        size += cur.take(parse_new_length([&] { return cur.next(); }, k)).size();
      }
      const bool gather = parts > 1024 && size / parts < 4096;
      cur.pos = start;
      std::vector<uint8_t>* buf = nullptr;
      if (gather) {
        buf = &pm.gathered.emplace_back();
        buf->reserve(static_cast<size_t>(size));
      }
      auto keep = [&](std::span<const uint8_t> part) {
        if (gather) {
          buf->insert(buf->end(), part.begin(), part.end());
        } else {
          segs.push_back(part);
        }
      };
      keep(cur.take(h.length));
      for (LengthKind k = h.kind; k == LengthKind::kPartial;) {
        keep(cur.take(parse_new_length([&] { return cur.next(); }, k)));
      }
      if (gather) segs.emplace_back(*buf);
    }
    if (strict) {
      // pvesafe writes one SKESK, then one SEIPD: anything else is not one of its objects.
      bool expected = (h.tag == kTagSkesk && pm.skesks.empty() && enc_tag == 0) ||
                      (h.tag == kTagSeipd && pm.skesks.size() == 1 && enc_tag == 0);
      if (!expected) {
        not_own(tag_name(h.tag) + " packet (tag " + std::to_string(h.tag) + ") at offset " +
                std::to_string(at) + ", where pvesafe writes one session key packet and one " +
                "encrypted data packet");
      }
    }
    if (enc_tag != 0) {
      if (h.tag == kTagMarker || h.tag == kTagPadding) continue;
      malformed("data after the encrypted data packet (tag " + std::to_string(h.tag) +
                " at offset " + std::to_string(at) + ")");
    }
    switch (h.tag) {
      case kTagSkesk:
        if (segs.size() != 1) malformed("session key packet with partial body lengths");
        pm.skesks.push_back(segs[0]);
        break;
      case kTagPkesk: {
        if (segs.size() != 1) malformed("session key packet with partial body lengths");
        PkeskPacket p;
        p.packet = message.subspan(packet_start, cur.pos - packet_start);
        p.body = segs[0];
        if (!p.body.empty()) p.version = p.body[0];
        if (p.version == 3 && p.body.size() >= 10) {
          for (size_t i = 1; i < 9; ++i) p.key_id = (p.key_id << 8) | p.body[i];
          p.algorithm = p.body[9];
        }
        pm.pkesks.push_back(p);
        break;
      }
      case kTagMarker:
      case kTagPadding:
        break;
      case kTagSeipd:
      case kTagSed:
      case kTagAead:
        enc_tag = h.tag;
        pm.enc = std::move(segs);
        enc_size = size;
        break;
      case kTagLiteral:
      case kTagCompressed:
      case kTagOnePassSignature:
      case kTagSignature:
        unsupported("the OpenPGP message is not encrypted", "it needs no passphrase; read it with gpg");
      default:
        malformed("unexpected packet (tag " + std::to_string(h.tag) + ") at offset " + std::to_string(at));
    }
  }
  if (enc_tag == 0) malformed("no encrypted data packet");
  if (enc_tag == kTagSed) {
    unsupported(
        "the OpenPGP message has no integrity protection (Symmetrically Encrypted Data packet, "
        "tag 9); pvesafe refuses to decrypt it",
        "re-encrypt it with a current OpenPGP implementation, which adds a modification "
        "detection code");
  }
  if (enc_tag == kTagAead) {
    unsupported(
        "OpenPGP AEAD encrypted data packet (tag 20, OCB/EAX, the RFC 4880bis draft format of "
        "GnuPG 2.3+ and rnp --aead) is not supported",
        "decrypt it with the program that wrote it, or re-encrypt it without AEAD");
  }
  // SEIPD: strip the version byte.
  if (enc_size == 0) malformed("encrypted data packet is empty");
  size_t first = 0;
  while (pm.enc[first].empty()) ++first;
  uint8_t version = pm.enc[first][0];
  if (version != 1) {
    unsupported("OpenPGP Symmetrically Encrypted Integrity Protected Data version " +
                    std::to_string(version) + (version == 2 ? " (AEAD, RFC 9580)" : "") +
                    " is not supported",
                "decrypt it with the program that wrote it, or re-encrypt it without AEAD");
  }
  pm.enc[first] = pm.enc[first].subspan(1);
  pm.enc.erase(pm.enc.begin(), pm.enc.begin() + static_cast<ptrdiff_t>(first));
  pm.ciphertext_size = enc_size - 1;
}

// Decrypts the SEIPD body with a session key. Returns std::nullopt when the quick check of the
// random prefix fails (the key is wrong); throws kIntegrity / kUnsupported on a bad message.
std::optional<std::vector<uint8_t>> decrypt_seipd(const ParsedMessage& pm, const CipherInfo& cipher,
                                                  std::span<const uint8_t> key, uint64_t limit,
                                                  uint64_t size_hint, bool strict = false) {
  SeipdSource src(cipher, key, pm.enc, pm.ciphertext_size);
  if (!src.quick_check()) return std::nullopt;
  Plain plain;
  plain.strict = strict;
  plain.limit = limit;
  plain.size_hint = size_hint;
  try {
    read_packets(src, plain, 0);
    if (!plain.have_literal) malformed("the encrypted data holds no literal data packet");
    src.verify_rest();
  } catch (const Error&) {
    src.verify_rest();  // an MDC mismatch explains the failure better
    throw;
  }
  return std::move(plain.out);
}

std::vector<uint8_t> decrypt_impl(std::span<const uint8_t> message, std::string_view passphrase,
                                  uint64_t limit, bool strict) {
  ParsedMessage pm;
  parse_message(message, pm, strict);
  if (pm.skesks.empty()) {
    if (!pm.pkesks.empty()) {
      unsupported("the OpenPGP message is encrypted to a public key, not with a passphrase",
                  "decrypt it with the secret key (gpg --decrypt, or pvesafe with the secret key)");
    }
    malformed("no session key packet before the encrypted data");
  }

  bool tried = false;
  std::optional<Error> unsupported_error;
  std::optional<Error> failure;
  for (size_t i = 0; i < pm.skesks.size() && i < kMaxSessionKeyPackets; ++i) {
    DerivedKey sk;
    try {
      if (!open_skesk(pm.skesks[i], passphrase, sk)) {
        tried = true;
        continue;
      }
      ecb_cipher(*sk.cipher);
    } catch (const Error& e) {
      if (e.code() != Errc::kUnsupported) throw;
      if (!unsupported_error) unsupported_error = e;
      continue;
    }
    tried = true;
    try {
      auto out = decrypt_seipd(pm, *sk.cipher, std::span(sk.key.data(), sk.cipher->key_size), limit,
                               message.size(), strict);
      if (out) return std::move(*out);
    } catch (const Error& e) {
      // A wrong key passes the 2-byte quick check once in 65536 tries, so a later session key
      // packet may still open the message; otherwise this is the error to report.
      if (e.code() != Errc::kIntegrity && e.code() != Errc::kUnsupported) throw;
      if (!failure) failure = e;
    }
  }
  if (failure) throw *failure;
  if (tried) {
    throw Error(Errc::kAuth, "passphrase does not open this message",
                "check the passphrase or key file");
  }
  if (unsupported_error) throw *unsupported_error;
  malformed("no usable session key packet");
}

std::string recipients_text(const std::vector<PkeskPacket>& pkesks) {
  std::string s;
  for (const auto& p : pkesks) {
    s += s.empty() ? "" : ", ";
    s += p.key_id == 0 ? std::string("an anonymous recipient") : "key ID " + hex_key_id(p.key_id);
  }
  return s;
}

std::vector<uint8_t> decrypt_with_provider(std::span<const uint8_t> message,
                                           SessionKeyProvider& provider, uint64_t limit) {
  ParsedMessage pm;
  parse_message(message, pm);
  if (pm.pkesks.empty()) {
    if (!pm.skesks.empty()) {
      unsupported("the OpenPGP message is encrypted with a passphrase, not to a public key",
                  "decrypt it with the passphrase");
    }
    malformed("no session key packet before the encrypted data");
  }
  if (pm.pkesks.size() > kMaxSessionKeyPackets) {
    pm.pkesks.resize(kMaxSessionKeyPackets);
  }
  std::optional<SessionKey> key = provider.session_key(pm.pkesks);
  if (!key) {
    throw Error(Errc::kAuth,
                "no available secret key opens this message (it is encrypted to " +
                    recipients_text(pm.pkesks) + ")",
                "use the secret key whose encryption subkey has that key ID");
  }
  const CipherInfo* cipher = find_cipher(key->cipher);
  if (cipher == nullptr) unsupported("OpenPGP " + cipher_name(key->cipher) + " is not supported");
  ecb_cipher(*cipher);
  if (key->size != cipher->key_size) {
    throw Error(Errc::kAuth, "the session key has the wrong length for " + cipher_name(key->cipher),
                "check the secret key or the session key command");
  }
  auto out = decrypt_seipd(pm, *cipher, key->bytes(), limit, message.size());
  if (!out) {
    throw Error(Errc::kAuth, "the session key does not open this message",
                "check the secret key or the session key command");
  }
  return std::move(*out);
}

// Runs f with the reader's memory guards (see decrypt_message).
template <class F>
std::vector<uint8_t> guarded(std::span<const uint8_t> message, uint64_t max_plaintext_bytes,
                             F&& f) {
  // The plaintext is held in memory: never let it grow past half of the physical memory, where
  // the kernel's overcommit would otherwise end the process instead of an error being thrown.
  static const uint64_t memory_cap = [] {
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2
                                 : UINT64_MAX;
  }();
  try {
    return f(std::min(max_plaintext_bytes, memory_cap));
  } catch (const std::bad_alloc&) {
    throw Error(Errc::kUnsupported,
                "not enough memory to decrypt an OpenPGP message of " +
                    std::to_string(message.size()) + " bytes",
                "decrypt it with gpg, which streams");
  } catch (const std::length_error&) {
    throw Error(Errc::kUnsupported, "OpenPGP message is too large to decrypt in memory");
  }
}

}  // namespace

std::vector<uint8_t> decrypt_message(std::span<const uint8_t> message, std::string_view passphrase,
                                     uint64_t max_plaintext_bytes) {
  return guarded(message, max_plaintext_bytes,
                 [&](uint64_t limit) { return decrypt_impl(message, passphrase, limit, false); });
}

std::vector<uint8_t> decrypt_message(std::span<const uint8_t> message, std::string_view passphrase) {
  return decrypt_message(message, passphrase, kDefaultMaxPlaintextBytes);
}

std::vector<uint8_t> decrypt_message(std::span<const uint8_t> message, SessionKeyProvider& provider,
                                     uint64_t max_plaintext_bytes) {
  return guarded(message, max_plaintext_bytes,
                 [&](uint64_t limit) { return decrypt_with_provider(message, provider, limit); });
}

std::vector<PkeskPacket> pkesk_packets(std::span<const uint8_t> message) {
  ParsedMessage pm;
  parse_message(message, pm);
  return pm.pkesks;
}

namespace detail {

std::vector<uint8_t> decrypt_with_session_key(std::span<const uint8_t> message,
                                              const SessionKey& key) {
  return guarded(message, kDefaultMaxPlaintextBytes, [&](uint64_t limit) {
    ParsedMessage pm;
    parse_message(message, pm);
    const CipherInfo* cipher = find_cipher(key.cipher);
    if (cipher == nullptr || cipher->key_size != key.size) {
      throw Error(Errc::kAuth, "the session key does not fit " + cipher_name(key.cipher));
    }
    auto out = decrypt_seipd(pm, *cipher, key.bytes(), limit, message.size());
    if (!out) throw Error(Errc::kAuth, "the session key does not open this message");
    return std::move(*out);
  });
}

}  // namespace detail

std::vector<uint8_t> decrypt_own_message(std::span<const uint8_t> message,
                                         std::string_view passphrase,
                                         uint64_t max_plaintext_bytes) {
  return guarded(message, max_plaintext_bytes, [&](uint64_t limit) {
    try {
      return decrypt_impl(message, passphrase, limit, true);
    } catch (const Error& e) {
      // An algorithm or packet version pvesafe does not write: not one of its objects.
      if (e.code() == Errc::kUnsupported) not_own(e.message());
      throw;
    }
  });
}

}  // namespace pvesafe::crypto
