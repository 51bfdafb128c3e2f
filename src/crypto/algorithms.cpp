#include "crypto/algorithms.h"

#include <openssl/crypto.h>
#include <openssl/provider.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace pvesafe::crypto::detail {

namespace {

constexpr std::array<CipherInfo, 11> kCiphers{{
    {1, "IDEA", "IDEA-ECB", 16, 8, true},
    {2, "TripleDES", "DES-EDE3-ECB", 24, 8, false},
    {3, "CAST5", "CAST5-ECB", 16, 8, true},
    {4, "Blowfish", "BF-ECB", 16, 8, true},
    {7, "AES-128", "AES-128-ECB", 16, 16, false},
    {8, "AES-192", "AES-192-ECB", 24, 16, false},
    {9, "AES-256", "AES-256-ECB", 32, 16, false},
    {10, "Twofish", nullptr, 32, 16, false},
    {11, "Camellia-128", "CAMELLIA-128-ECB", 16, 16, false},
    {12, "Camellia-192", "CAMELLIA-192-ECB", 24, 16, false},
    {13, "Camellia-256", "CAMELLIA-256-ECB", 32, 16, false},
}};

struct HashInfo {
  uint8_t id;
  const char* name;
  const char* ossl;
};

constexpr std::array<HashInfo, 7> kHashes{{
    {1, "MD5", "MD5"},
    {2, "SHA-1", "SHA1"},
    {3, "RIPEMD-160", "RIPEMD160"},
    {8, "SHA-256", "SHA2-256"},
    {9, "SHA-384", "SHA2-384"},
    {10, "SHA-512", "SHA2-512"},
    {11, "SHA-224", "SHA2-224"},
}};

// A private library context with the legacy provider (CAST5, Blowfish, IDEA, RIPEMD-160 on some
// builds), so the process-wide default context keeps its configuration untouched.
OSSL_LIB_CTX* legacy_ctx() {
  static OSSL_LIB_CTX* ctx = [] {
    OSSL_LIB_CTX* c = OSSL_LIB_CTX_new();
    if (c != nullptr) {
      OSSL_PROVIDER_load(c, "default");
      OSSL_PROVIDER_load(c, "legacy");
    }
    return c;
  }();
  return ctx;
}

const HashInfo* find_hash(uint8_t id) {
  for (const auto& h : kHashes) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

// out[i] ^= in[i], a word at a time (the compiler keeps these in vector registers).
void xor_into(uint8_t* out, const uint8_t* in, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t a[4], b[4];
    std::memcpy(a, out + i, 32);
    std::memcpy(b, in + i, 32);
    for (int k = 0; k < 4; ++k) a[k] ^= b[k];
    std::memcpy(out + i, a, 32);
  }
  for (; i < n; ++i) out[i] ^= in[i];
}

}  // namespace

const CipherInfo* find_cipher(uint8_t id) {
  for (const auto& c : kCiphers) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

std::string cipher_name(uint8_t id) {
  if (const CipherInfo* c = find_cipher(id)) return c->name;
  return "unknown cipher " + std::to_string(id);
}

const EVP_CIPHER* ecb_cipher(const CipherInfo& info) {
  static std::mutex mu;
  static std::array<EVP_CIPHER*, 16> cache{};
  static std::array<bool, 16> tried{};
  std::lock_guard lock(mu);
  if (!tried[info.id]) {
    tried[info.id] = true;
    if (info.ossl_ecb != nullptr) {
      cache[info.id] = EVP_CIPHER_fetch(nullptr, info.ossl_ecb, nullptr);
      if (cache[info.id] == nullptr && legacy_ctx() != nullptr) {
        cache[info.id] = EVP_CIPHER_fetch(legacy_ctx(), info.ossl_ecb, nullptr);
      }
    }
  }
  if (cache[info.id] == nullptr) {
    throw Error(Errc::kUnsupported,
                std::string("OpenPGP cipher ") + info.name + " (algorithm " +
                    std::to_string(info.id) + ") is not supported by this build",
                "decrypt the message with gpg, or re-encrypt it with AES");
  }
  return cache[info.id];
}

std::string hash_name(uint8_t id) {
  if (const HashInfo* h = find_hash(id)) return h->name;
  return "unknown hash " + std::to_string(id);
}

const EVP_MD* hash_md(uint8_t id) {
  static std::mutex mu;
  static std::array<EVP_MD*, 16> cache{};
  static std::array<bool, 16> tried{};
  const HashInfo* info = find_hash(id);
  if (info == nullptr) {
    throw Error(Errc::kUnsupported,
                "OpenPGP hash algorithm " + std::to_string(id) + " is not supported",
                "decrypt the message with gpg");
  }
  std::lock_guard lock(mu);
  if (!tried[id]) {
    tried[id] = true;
    cache[id] = EVP_MD_fetch(nullptr, info->ossl, nullptr);
    if (cache[id] == nullptr && legacy_ctx() != nullptr) {
      cache[id] = EVP_MD_fetch(legacy_ctx(), info->ossl, nullptr);
    }
  }
  if (cache[id] == nullptr) {
    throw Error(Errc::kUnsupported,
                std::string("OpenPGP hash ") + info->name + " is not supported by this build",
                "decrypt the message with gpg");
  }
  return cache[id];
}

CfbDecryptor::CfbDecryptor(const CipherInfo& info, std::span<const uint8_t> key,
                           std::span<const uint8_t> iv)
    : bs_(info.block_size) {
  const EVP_CIPHER* cipher = ecb_cipher(info);
  if (key.size() != info.key_size) {
    throw Error(Errc::kInternal, "session key length does not match " + std::string(info.name));
  }
  if (!iv.empty() && iv.size() != bs_) {
    throw Error(Errc::kInternal, "CFB IV length does not match " + std::string(info.name));
  }
  ctx_ = EVP_CIPHER_CTX_new();
  if (ctx_ == nullptr ||
      EVP_EncryptInit_ex2(ctx_, cipher, nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_key_length(ctx_, static_cast<int>(key.size())) != 1 ||
      EVP_EncryptInit_ex2(ctx_, nullptr, key.data(), nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx_, 0) != 1) {
    EVP_CIPHER_CTX_free(ctx_);
    throw Error(Errc::kInternal, std::string("cannot initialise ") + info.name + " in OpenSSL");
  }
  uint8_t first[kMaxBlockSize] = {};
  std::copy(iv.begin(), iv.end(), first);
  encrypt_blocks(first, bs_, ks_);
}

CfbDecryptor::~CfbDecryptor() {
  OPENSSL_cleanse(ks_, sizeof ks_);
  OPENSSL_cleanse(cur_, sizeof cur_);
  EVP_CIPHER_CTX_free(ctx_);
}

void CfbDecryptor::encrypt_blocks(const uint8_t* in, size_t n, uint8_t* out) {
  evp_encrypt_all(ctx_, in, n, out);  // n is a multiple of the block size
}

void evp_encrypt_all(EVP_CIPHER_CTX* ctx, const uint8_t* in, size_t n, uint8_t* out) {
  // EVP takes int lengths: feed at most 1 GiB at a time.
  while (n > 0) {
    size_t take = n < (size_t{1} << 30) ? n : (size_t{1} << 30);
    int outl = 0;
    if (EVP_EncryptUpdate(ctx, out, &outl, in, static_cast<int>(take)) != 1 ||
        static_cast<size_t>(outl) != take) {
      throw Error(Errc::kInternal, "OpenSSL block encryption failed");
    }
    in += take;
    out += take;
    n -= take;
  }
}

void CfbDecryptor::decrypt(const uint8_t* in, size_t n, uint8_t* out) {
  // Finish a block that an earlier call left incomplete.
  while (n > 0 && pos_ > 0) {
    cur_[pos_] = *in;
    *out++ = *in++ ^ ks_[pos_];
    --n;
    if (++pos_ == bs_) {
      encrypt_blocks(cur_, bs_, ks_);
      pos_ = 0;
    }
  }
  // Whole blocks: P[0] = C[0] ^ ks, P[j] = C[j] ^ E(C[j-1]).
  constexpr size_t kStep = 64 * 1024;
  while (n >= bs_) {
    size_t len = (n < kStep ? n : kStep) / bs_ * bs_;
    if (len > bs_) encrypt_blocks(in, len - bs_, out + bs_);
    for (size_t i = 0; i < bs_; ++i) out[i] = in[i] ^ ks_[i];
    xor_into(out + bs_, in + bs_, len - bs_);
    encrypt_blocks(in + len - bs_, bs_, ks_);
    in += len;
    out += len;
    n -= len;
  }
  // Start of a block that continues in the next call.
  for (size_t i = 0; i < n; ++i) {
    cur_[pos_] = in[i];
    out[i] = in[i] ^ ks_[pos_];
    ++pos_;
  }
}

void resize_for_output(std::vector<uint8_t>& v, size_t n) {
#ifdef __linux__
  constexpr size_t kHuge = size_t{2} << 20;
  if (n >= 2 * kHuge && v.capacity() < n) {
    v.reserve(n);
    auto begin = reinterpret_cast<uintptr_t>(v.data());
    uintptr_t lo = (begin + kHuge - 1) & ~(kHuge - 1);
    uintptr_t hi = (begin + n) & ~(kHuge - 1);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);  // advice only
  }
#endif
  v.resize(n);
}

bool equal_ct(const uint8_t* a, const uint8_t* b, size_t n) { return CRYPTO_memcmp(a, b, n) == 0; }

}  // namespace pvesafe::crypto::detail
