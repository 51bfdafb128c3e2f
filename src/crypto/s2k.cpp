#include "crypto/s2k.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "crypto/algorithms.h"

namespace pvesafe::crypto::detail {

namespace {

// Feeds `total` bytes of the endless repetition of `unit` into ctx, in large pieces.
void feed_repeated(EVP_MD_CTX* ctx, std::span<const uint8_t> unit, uint64_t total) {
  if (unit.empty()) return;
  if (total <= unit.size()) {
    EVP_DigestUpdate(ctx, unit.data(), static_cast<size_t>(total));
    return;
  }
  // A buffer holding whole repetitions of the unit, about 16 KiB, so the hash runs at full speed.
  size_t reps = std::max<size_t>(1, 16384 / unit.size());
  std::vector<uint8_t> buf(reps * unit.size());
  for (size_t i = 0; i < reps; ++i) {
    std::copy(unit.begin(), unit.end(), buf.begin() + static_cast<ptrdiff_t>(i * unit.size()));
  }
  while (total > 0) {
    size_t take = total < buf.size() ? static_cast<size_t>(total) : buf.size();
    EVP_DigestUpdate(ctx, buf.data(), take);
    total -= take;
  }
  OPENSSL_cleanse(buf.data(), buf.size());
}

}  // namespace

void s2k_derive(const S2k& s2k, std::string_view passphrase, std::span<uint8_t> key) {
  if (s2k.type != kS2kSimple && s2k.type != kS2kSalted && s2k.type != kS2kIterated) {
    throw Error(Errc::kUnsupported, "OpenPGP S2K type " + std::to_string(s2k.type) + " is not supported");
  }
  const EVP_MD* md = hash_md(s2k.hash);
  const size_t dlen = static_cast<size_t>(EVP_MD_get_size(md));

  // salt || passphrase, the unit that is hashed (repeatedly for type 3).
  std::vector<uint8_t> unit;
  unit.reserve(8 + passphrase.size());
  if (s2k.type != kS2kSimple) unit.insert(unit.end(), s2k.salt.begin(), s2k.salt.end());
  unit.insert(unit.end(), passphrase.begin(), passphrase.end());
  uint64_t total = unit.size();
  if (s2k.type == kS2kIterated) total = std::max<uint64_t>(total, s2k_decode_count(s2k.count));

  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (!ctx) throw Error(Errc::kInternal, "out of memory for a hash context");
  uint8_t digest[EVP_MAX_MD_SIZE];
  static const uint8_t kZeros[kMaxKeySize] = {};
  // Key longer than the digest: context i is preloaded with i zero bytes (RFC 9580 3.7.1.1).
  for (size_t done = 0, round = 0; done < key.size(); ++round) {
    if (EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1) {
      throw Error(Errc::kInternal, "cannot initialise " + hash_name(s2k.hash));
    }
    size_t zeros = round;
    while (zeros > 0) {
      size_t z = std::min(zeros, sizeof kZeros);
      EVP_DigestUpdate(ctx.get(), kZeros, z);
      zeros -= z;
    }
    feed_repeated(ctx.get(), unit, total);
    unsigned int outl = 0;
    EVP_DigestFinal_ex(ctx.get(), digest, &outl);
    size_t take = std::min(key.size() - done, dlen);
    std::copy(digest, digest + take, key.begin() + static_cast<ptrdiff_t>(done));
    done += take;
  }
  OPENSSL_cleanse(digest, sizeof digest);
  OPENSSL_cleanse(unit.data(), unit.size());
}

}  // namespace pvesafe::crypto::detail
