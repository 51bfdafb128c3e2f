// The OpenPGP message writer: SKESK v4 (iterated and salted S2K, SHA-256, AES-256), or session
// key packets made by the caller (PKESK, recipient.cpp), followed by SEIPD v1 holding one
// literal data packet and the MDC.
//
// The plaintext of the encrypted packet is described as a list of pieces (random prefix, packet
// headers, the caller's data, the MDC header) that point into the caller's buffer, so nothing is
// copied: AES-256-CFB reads the data once and writes the ciphertext straight into the output.
// The MDC's SHA-1 either runs interleaved with the encryption in 64 KiB steps (data still in
// L2), or, for large messages, on a second thread over the same pieces while AES-CFB runs; CFB
// encryption is inherently serial, so this is the only way to reach raw AES-CFB speed.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <deque>
#include <memory>
#include <system_error>
#include <thread>

#include "core/error.h"
#include "crypto/algorithms.h"
#include "crypto/cfb_encrypt.h"
#include "crypto/openpgp.h"
#include "crypto/openpgp_internal.h"
#include "crypto/packet.h"
#include "crypto/s2k.h"

namespace pvesafe::crypto {

void random_bytes(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    size_t take = std::min<size_t>(out.size() - done, 1 << 20);
    if (RAND_bytes(out.data() + done, static_cast<int>(take)) != 1) {
      throw Error(Errc::kInternal, "OpenSSL random number generator failed",
                  "check that the system entropy source is available");
    }
    done += take;
  }
}

namespace detail {
namespace {

constexpr size_t kStep = 64 * 1024;  // hash and encrypt in L2-sized steps
constexpr size_t kPrefix = 16 + 2;   // AES block of random bytes plus the two quick-check bytes
constexpr size_t kMdcPacket = 2 + 20;
constexpr uint8_t kMdcHeader[2] = {0xD3, 0x14};

[[noreturn]] void openssl_failed() { throw Error(Errc::kInternal, "OpenSSL encryption failed"); }

// The plaintext of the SEIPD packet as pieces; small pieces (headers) are stored here.
class Pieces {
 public:
  void add(const uint8_t* p, size_t n) {
    if (n > 0) pieces_.emplace_back(p, n);
    size_ += n;
  }
  void add_copy(const uint8_t* p, size_t n) {
    auto& slot = store_.emplace_back();
    std::copy(p, p + n, slot.begin());
    add(slot.data(), n);
  }
  uint64_t size() const { return size_; }
  const std::vector<std::span<const uint8_t>>& list() const { return pieces_; }

 private:
  std::vector<std::span<const uint8_t>> pieces_;
  std::deque<std::array<uint8_t, 8>> store_;
  uint64_t size_ = 0;
};

// Encrypts plaintext into the SEIPD body, inserting the (unencrypted) length headers of the SEIPD
// packet where its partial parts begin.
class SeipdWriter {
 public:
  SeipdWriter(uint8_t* out, BodyFramer& framer, std::span<const uint8_t, 32> key)
      : out_(out), framer_(framer), cipher_(key) {}

  // Unencrypted body bytes (the SEIPD version number).
  void put_clear(const uint8_t* p, size_t n) {
    while (n > 0) {
      size_t take = room(n);
      std::memcpy(out_, p, take);
      advance(take);
      p += take;
      n -= take;
    }
  }

  // Encrypts n bytes; if md is given, hashes each step just before encrypting it.
  void put(const uint8_t* p, size_t n, EVP_MD_CTX* md) {
    while (n > 0) {
      size_t take = std::min(room(n), kStep);
      if (md != nullptr && EVP_DigestUpdate(md, p, take) != 1) openssl_failed();
      cipher_.encrypt(p, out_, take);
      advance(take);
      p += take;
      n -= take;
    }
  }

  uint8_t* cursor() const { return out_; }

 private:
  size_t room(size_t want) {
    if (framer_.part_left() == 0) out_ += framer_.next_header(out_);
    return static_cast<size_t>(std::min<uint64_t>(want, framer_.part_left()));
  }
  void advance(size_t n) {
    out_ += n;
    framer_.consume(n);
  }

  uint8_t* out_;
  BodyFramer& framer_;
  Aes256CfbEncryptor cipher_;
};

std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> new_sha1() {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> md(EVP_MD_CTX_new());
  if (!md || EVP_DigestInit_ex2(md.get(), EVP_sha1(), nullptr) != 1) {
    throw Error(Errc::kInternal, "cannot initialise SHA-1 in OpenSSL");
  }
  return md;
}

bool use_second_thread(const WriterOptions& o, uint64_t plaintext_size) {
  switch (o.hashing) {
    case WriterOptions::Hashing::kSameThread: return false;
    case WriterOptions::Hashing::kSecondThread: return true;
    case WriterOptions::Hashing::kAuto: break;
  }
  static const bool multi_cpu = std::thread::hardware_concurrency() > 1;
  return multi_cpu && plaintext_size >= kSecondThreadMinBytes;
}

using Output = std::function<uint8_t*(size_t)>;

// Writes the session key packets `head` (SKESK or PKESK, already encoded) and a SEIPD packet
// encrypted with `key` around the inner packets described by `inner`, into memory from
// `output`; returns the message size.
size_t write_message(const Pieces& inner, std::span<const uint8_t> head,
                     std::span<const uint8_t, 32> key, const WriterOptions& o,
                     const Output& output) {
  if (o.partial_exponent != 0 && (o.partial_exponent < 9 || o.partial_exponent > 30)) {
    throw Error(Errc::kInternal, "partial body length exponent out of range");
  }
  const uint64_t seipd_body = 1 + kPrefix + inner.size() + kMdcPacket;
  BodyFramer seipd_framer(seipd_body, o.partial_exponent);
  const uint64_t total = head.size() + 1 + seipd_framer.overhead() + seipd_body;
  if (total > std::vector<uint8_t>().max_size()) {
    throw Error(Errc::kUsage, "plaintext is too large for one OpenPGP message in memory");
  }

  uint8_t* const out = output(static_cast<size_t>(total));
  uint8_t* p = std::copy(head.begin(), head.end(), out);
  *p++ = 0xC0 | kTagSeipd;
  SeipdWriter w(p, seipd_framer, key);
  const uint8_t version = 1;
  w.put_clear(&version, 1);

  // Plaintext: random prefix (last two bytes repeated for the quick check), inner packets,
  // MDC header. The MDC hashes all of it; its SHA-1 value follows, encrypted but not hashed.
  std::array<uint8_t, kPrefix> prefix;
  random_bytes(std::span(prefix.data(), 16));
  prefix[16] = prefix[14];
  prefix[17] = prefix[15];
  std::vector<std::span<const uint8_t>> all;
  all.reserve(inner.list().size() + 2);
  all.emplace_back(prefix);
  all.insert(all.end(), inner.list().begin(), inner.list().end());
  all.emplace_back(kMdcHeader);

  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> md = new_sha1();
  bool hashed = false;
  if (use_second_thread(o, inner.size())) {
    std::atomic<bool> hash_ok{false};
    try {
      std::jthread hasher([&] {
        for (const auto& s : all) {
          if (EVP_DigestUpdate(md.get(), s.data(), s.size()) != 1) return;
        }
        hash_ok = EVP_DigestFinal_ex(md.get(), digest, &digest_len) == 1;
      });
      for (const auto& s : all) w.put(s.data(), s.size(), nullptr);
      hasher.join();
      if (!hash_ok) openssl_failed();
      hashed = true;
    } catch (const std::system_error&) {
      // No thread available: start over on this thread (nothing was written to a caller yet).
      return write_message(inner, head, key,
                           WriterOptions{o.s2k_count, o.literal_filename, o.partial_exponent,
                                         WriterOptions::Hashing::kSameThread},
                           output);
    }
  }
  if (!hashed) {
    for (const auto& s : all) w.put(s.data(), s.size(), md.get());
    if (EVP_DigestFinal_ex(md.get(), digest, &digest_len) != 1) openssl_failed();
  }
  OPENSSL_cleanse(prefix.data(), prefix.size());
  if (digest_len != 20) openssl_failed();
  w.put(digest, digest_len, nullptr);
  if (w.cursor() != out + total || seipd_framer.remaining() != 0) {
    throw Error(Errc::kInternal, "OpenPGP writer produced an unexpected length");
  }
  return static_cast<size_t>(total);
}

// SKESK v4: version, cipher, S2K (type 3, SHA-256, fresh salt, coded count); no encrypted
// session key, so the S2K output is the session key. Then the SEIPD.
size_t write_skesk_message(const Pieces& inner, std::string_view passphrase, const WriterOptions& o,
                           const Output& output) {
  S2k s2k;
  s2k.type = kS2kIterated;
  s2k.hash = kHashSha256;
  s2k.count = o.s2k_count;
  random_bytes(s2k.salt);
  uint8_t head[15];
  uint8_t* p = head;
  *p++ = 0xC0 | kTagSkesk;
  *p++ = 13;
  *p++ = 4;
  *p++ = kCipherAes256;
  *p++ = s2k.type;
  *p++ = s2k.hash;
  p = std::copy(s2k.salt.begin(), s2k.salt.end(), p);
  *p++ = s2k.count;
  std::array<uint8_t, 32> key;
  s2k_derive(s2k, passphrase, key);
  struct Wipe {
    std::array<uint8_t, 32>& k;
    ~Wipe() { OPENSSL_cleanse(k.data(), k.size()); }
  } wipe{key};
  return write_message(inner, head, key, o, output);
}

// Output into a vector (resized without the cost of zeroing pages first where it is large).
Output into_vector(std::vector<uint8_t>& v) {
  return [&v](size_t n) {
    resize_for_output(v, n);
    return v.data();
  };
}

}  // namespace

namespace {

// Describes the literal data packet around the caller's pieces and hands it to `write`.
template <class Write>
size_t with_literal(std::span<const std::span<const uint8_t>> plaintext, const WriterOptions& o,
                    Write&& write) {
  const std::string_view name = o.literal_filename;
  if (name.size() > 255) {
    throw Error(Errc::kUsage, "OpenPGP literal file name is longer than 255 bytes",
                "use a shorter name");
  }
  if (o.partial_exponent != 0 && (o.partial_exponent < 9 || o.partial_exponent > 30)) {
    throw Error(Errc::kInternal, "partial body length exponent out of range");
  }
  uint64_t data_size = 0;
  for (const auto& part : plaintext) data_size += part.size();
  // Literal data packet: format 'b', file name, date 0 (no time stamp leaks), data. With
  // partial lengths, the length headers fall between pieces of the body.
  const uint64_t literal_body = 1 + 1 + name.size() + 4 + data_size;
  BodyFramer framer(literal_body, o.partial_exponent);
  std::vector<uint8_t> meta(2 + name.size() + 4, 0);
  meta[0] = 'b';
  meta[1] = static_cast<uint8_t>(name.size());
  std::copy(name.begin(), name.end(), meta.begin() + 2);

  Pieces inner;
  const uint8_t tag = 0xC0 | kTagLiteral;
  inner.add_copy(&tag, 1);
  auto add_body = [&](std::span<const uint8_t> part) {
    while (!part.empty()) {
      if (framer.part_left() == 0) {
        uint8_t len[5];
        inner.add_copy(len, framer.next_header(len));
      }
      size_t take = static_cast<size_t>(std::min<uint64_t>(part.size(), framer.part_left()));
      inner.add(part.data(), take);
      framer.consume(take);
      part = part.subspan(take);
    }
  };
  add_body(meta);
  for (const auto& part : plaintext) add_body(part);
  if (framer.remaining() != 0) {
    throw Error(Errc::kInternal, "OpenPGP writer produced an unexpected literal length");
  }
  return write(inner);
}

}  // namespace

size_t encrypt_pieces_with(std::span<const std::span<const uint8_t>> plaintext,
                           std::string_view passphrase, const WriterOptions& o,
                           const Output& output) {
  return with_literal(plaintext, o, [&](const Pieces& inner) {
    return write_skesk_message(inner, passphrase, o, output);
  });
}

size_t encrypt_pieces_keyed(std::span<const std::span<const uint8_t>> plaintext,
                            std::span<const uint8_t> head, std::span<const uint8_t, 32> key,
                            const WriterOptions& o, const Output& output) {
  return with_literal(plaintext, o, [&](const Pieces& inner) {
    return write_message(inner, head, key, o, output);
  });
}

std::vector<uint8_t> encrypt_message_with(std::span<const uint8_t> plaintext,
                                          std::string_view passphrase, const WriterOptions& o) {
  std::vector<uint8_t> out;
  const std::span<const uint8_t> one[] = {plaintext};
  encrypt_pieces_with(one, passphrase, o, into_vector(out));
  return out;
}

std::vector<uint8_t> encrypt_packets(std::span<const uint8_t> packets, std::string_view passphrase) {
  Pieces inner;
  inner.add(packets.data(), packets.size());
  std::vector<uint8_t> out;
  write_skesk_message(inner, passphrase, WriterOptions{}, into_vector(out));
  return out;
}

}  // namespace detail

std::vector<uint8_t> encrypt_message(std::span<const uint8_t> plaintext,
                                     std::string_view passphrase, S2kStrength strength,
                                     std::string_view literal_filename) {
  detail::WriterOptions o;
  o.s2k_count = strength == S2kStrength::kStrong ? detail::kS2kCountStrong : detail::kS2kCountFast;
  o.literal_filename = literal_filename;
  return detail::encrypt_message_with(plaintext, passphrase, o);
}

size_t encrypt_message_into(std::span<const std::span<const uint8_t>> plaintext,
                            std::string_view passphrase, S2kStrength strength,
                            const std::function<uint8_t*(size_t)>& output,
                            std::string_view literal_filename) {
  detail::WriterOptions o;
  o.s2k_count = strength == S2kStrength::kStrong ? detail::kS2kCountStrong : detail::kS2kCountFast;
  o.literal_filename = literal_filename;
  return detail::encrypt_pieces_with(plaintext, passphrase, o, output);
}

}  // namespace pvesafe::crypto
