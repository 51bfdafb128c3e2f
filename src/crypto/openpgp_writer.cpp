// The OpenPGP message writer: SKESK v4 (iterated and salted S2K, SHA-256, AES-256) followed by
// SEIPD v1 holding one literal data packet and the MDC. Single pass: the plaintext is hashed and
// encrypted straight from the caller's buffer into the output, in cache-sized steps.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <new>

#include "core/error.h"
#include "crypto/algorithms.h"
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

// Encrypts a plaintext stream into the SEIPD body, inserting the (unencrypted) length headers of
// the SEIPD packet where its partial parts begin.
class SeipdWriter {
 public:
  SeipdWriter(uint8_t* out, BodyFramer& framer, std::span<const uint8_t, 32> key)
      : out_(out), framer_(framer), cipher_(EVP_CIPHER_CTX_new()), md_(EVP_MD_CTX_new()) {
    static const uint8_t kZeroIv[16] = {};
    if (!cipher_ || !md_ ||
        EVP_EncryptInit_ex2(cipher_.get(), EVP_aes_256_cfb128(), key.data(), kZeroIv, nullptr) != 1 ||
        EVP_DigestInit_ex2(md_.get(), EVP_sha1(), nullptr) != 1) {
      throw Error(Errc::kInternal, "cannot initialise AES-256-CFB and SHA-1 in OpenSSL");
    }
  }

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

  // Plaintext that is hashed into the MDC and encrypted.
  void put(const uint8_t* p, size_t n) {
    while (n > 0) {
      size_t take = std::min(room(n), kStep);
      if (EVP_DigestUpdate(md_.get(), p, take) != 1) fail();
      encrypt(p, take);
      p += take;
      n -= take;
    }
  }

  // Appends the MDC packet: its header is hashed, the SHA-1 value itself is not.
  void finish_mdc() {
    put(kMdcHeader, sizeof kMdcHeader);
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(md_.get(), digest, &len) != 1 || len != 20) fail();
    const uint8_t* p = digest;
    size_t n = len;
    while (n > 0) {
      size_t take = room(n);
      encrypt(p, take);
      p += take;
      n -= take;
    }
  }

  uint8_t* cursor() const { return out_; }

 private:
  [[noreturn]] static void fail() { throw Error(Errc::kInternal, "OpenSSL encryption failed"); }

  size_t room(size_t want) {
    if (framer_.part_left() == 0) out_ += framer_.next_header(out_);
    return static_cast<size_t>(std::min<uint64_t>(want, framer_.part_left()));
  }
  void advance(size_t n) {
    out_ += n;
    framer_.consume(n);
  }
  void encrypt(const uint8_t* p, size_t n) {
    int outl = 0;
    if (EVP_EncryptUpdate(cipher_.get(), out_, &outl, p, static_cast<int>(n)) != 1 ||
        static_cast<size_t>(outl) != n) {
      fail();
    }
    advance(n);
  }

  uint8_t* out_;
  BodyFramer& framer_;
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> cipher_;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> md_;
};

}  // namespace

namespace {

// Writes SKESK + SEIPD around `inner_size` bytes of packets that `write_inner` puts into the
// SEIPD writer (between the random prefix and the MDC).
template <class WriteInner>
std::vector<uint8_t> write_envelope(uint64_t inner_size, std::string_view passphrase,
                                    uint8_t s2k_count, int partial_exponent,
                                    WriteInner&& write_inner) {
  if (partial_exponent != 0 && (partial_exponent < 9 || partial_exponent > 30)) {
    throw Error(Errc::kInternal, "partial body length exponent out of range");
  }
  const uint64_t seipd_body = 1 + kPrefix + inner_size + kMdcPacket;
  BodyFramer seipd_framer(seipd_body, partial_exponent);
  constexpr size_t kSkeskPacket = 2 + 13;
  const uint64_t total = kSkeskPacket + 1 + seipd_framer.overhead() + seipd_body;
  if (total > std::vector<uint8_t>().max_size()) {
    throw Error(Errc::kUsage, "plaintext is too large for one OpenPGP message in memory");
  }

  std::vector<uint8_t> out;
  resize_for_output(out, static_cast<size_t>(total));
  uint8_t* p = out.data();

  // SKESK v4: version, cipher, S2K (type 3, SHA-256, salt, coded count); no encrypted session
  // key, so the S2K output is the session key.
  S2k s2k;
  s2k.type = kS2kIterated;
  s2k.hash = kHashSha256;
  s2k.count = s2k_count;
  random_bytes(s2k.salt);
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

  *p++ = 0xC0 | kTagSeipd;
  SeipdWriter w(p, seipd_framer, key);
  OPENSSL_cleanse(key.data(), key.size());
  const uint8_t version = 1;
  w.put_clear(&version, 1);

  uint8_t prefix[kPrefix];
  random_bytes(std::span(prefix, 16));
  prefix[16] = prefix[14];
  prefix[17] = prefix[15];
  w.put(prefix, kPrefix);
  OPENSSL_cleanse(prefix, sizeof prefix);

  write_inner(w);
  w.finish_mdc();
  if (w.cursor() != out.data() + out.size() || seipd_framer.remaining() != 0) {
    throw Error(Errc::kInternal, "OpenPGP writer produced an unexpected length");
  }
  return out;
}

}  // namespace

std::vector<uint8_t> encrypt_message_with(std::span<const uint8_t> plaintext,
                                          std::string_view passphrase, uint8_t s2k_count,
                                          std::string_view literal_filename, int partial_exponent) {
  if (literal_filename.size() > 255) {
    throw Error(Errc::kUsage, "OpenPGP literal file name is longer than 255 bytes",
                "use a shorter name");
  }
  const uint64_t literal_body = 1 + 1 + literal_filename.size() + 4 + plaintext.size();
  BodyFramer literal_framer(literal_body, partial_exponent);
  const uint64_t literal_packet = 1 + literal_framer.overhead() + literal_body;

  return write_envelope(literal_packet, passphrase, s2k_count, partial_exponent, [&](SeipdWriter& w) {
    // Literal data packet: format 'b', file name, date 0 (no time stamp leaks), data.
    uint8_t hdr[8];
    size_t h = 0;
    hdr[h++] = 0xC0 | kTagLiteral;
    h += literal_framer.next_header(hdr + h);
    hdr[h++] = 'b';
    hdr[h++] = static_cast<uint8_t>(literal_filename.size());
    w.put(hdr, h);
    literal_framer.consume(2);
    uint8_t meta[255 + 4] = {};
    std::copy(literal_filename.begin(), literal_filename.end(), meta);
    // The file name and date count against the literal body, like the data that follows.
    const uint8_t* parts[2] = {meta, plaintext.data()};
    const size_t sizes[2] = {literal_filename.size() + 4, plaintext.size()};
    for (int i = 0; i < 2; ++i) {
      const uint8_t* src = parts[i];
      size_t n = sizes[i];
      while (n > 0) {
        if (literal_framer.part_left() == 0) {
          uint8_t len[5];
          w.put(len, literal_framer.next_header(len));
        }
        size_t take = static_cast<size_t>(std::min<uint64_t>(n, literal_framer.part_left()));
        w.put(src, take);
        literal_framer.consume(take);
        src += take;
        n -= take;
      }
    }
    if (literal_framer.remaining() != 0) {
      throw Error(Errc::kInternal, "OpenPGP writer produced an unexpected literal length");
    }
  });
}

std::vector<uint8_t> encrypt_packets(std::span<const uint8_t> packets, std::string_view passphrase) {
  return write_envelope(packets.size(), passphrase, kS2kCountFast, 0,
                        [&](SeipdWriter& w) { w.put(packets.data(), packets.size()); });
}

}  // namespace detail

std::vector<uint8_t> encrypt_message(std::span<const uint8_t> plaintext,
                                     std::string_view passphrase, S2kStrength strength,
                                     std::string_view literal_filename) {
  uint8_t count = strength == S2kStrength::kStrong ? detail::kS2kCountStrong : detail::kS2kCountFast;
  return detail::encrypt_message_with(plaintext, passphrase, count, literal_filename, 0);
}

}  // namespace pvesafe::crypto
