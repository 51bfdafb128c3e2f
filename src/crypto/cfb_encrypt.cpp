#include "crypto/cfb_encrypt.h"

#include <openssl/crypto.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define PVESAFE_AESNI 1
#endif

#include <cstring>

#include "core/error.h"
#include "crypto/algorithms.h"

namespace pvesafe::crypto::detail {

#ifdef PVESAFE_AESNI
namespace {

// AES-256 key expansion (FIPS-197 section 5.2) with AESKEYGENASSIST. Each round key is the one
// two before it with its words chained (w0, w0^w1, w0^w1^w2, ...), XORed with a transformed
// word of the previous round key.
__attribute__((target("aes,sse2"))) __m128i chain_words(__m128i v) {
  __m128i t = _mm_slli_si128(v, 4);
  v = _mm_xor_si128(v, t);
  t = _mm_slli_si128(t, 4);
  v = _mm_xor_si128(v, t);
  t = _mm_slli_si128(t, 4);
  return _mm_xor_si128(v, t);
}

__attribute__((target("aes,sse2"))) __m128i expand_even(__m128i prev2, __m128i assist) {
  // RotWord(SubWord(last word of the previous key)) ^ Rcon
  return _mm_xor_si128(chain_words(prev2), _mm_shuffle_epi32(assist, 0xff));
}

__attribute__((target("aes,sse2"))) __m128i expand_odd(__m128i even, __m128i prev2) {
  // SubWord(last word of the previous key), no rotation, no Rcon
  return _mm_xor_si128(chain_words(prev2), _mm_shuffle_epi32(_mm_aeskeygenassist_si128(even, 0), 0xaa));
}

__attribute__((target("aes,sse2"))) void expand_key(const uint8_t* key, uint8_t* out) {
  __m128i rk[15];
  rk[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  rk[1] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key + 16));
#define PVESAFE_ROUND_PAIR(i, rcon)                                              \
  rk[i] = expand_even(rk[i - 2], _mm_aeskeygenassist_si128(rk[i - 1], rcon)); \
  rk[i + 1] = expand_odd(rk[i], rk[i - 1]);
  PVESAFE_ROUND_PAIR(2, 0x01)
  PVESAFE_ROUND_PAIR(4, 0x02)
  PVESAFE_ROUND_PAIR(6, 0x04)
  PVESAFE_ROUND_PAIR(8, 0x08)
  PVESAFE_ROUND_PAIR(10, 0x10)
  PVESAFE_ROUND_PAIR(12, 0x20)
#undef PVESAFE_ROUND_PAIR
  rk[14] = expand_even(rk[12], _mm_aeskeygenassist_si128(rk[13], 0x40));
  for (int i = 0; i < 15; ++i) _mm_store_si128(reinterpret_cast<__m128i*>(out + 16 * i), rk[i]);
  std::memset(rk, 0, sizeof rk);
}

__attribute__((target("aes,sse2"))) __m128i encrypt_block(__m128i x, const __m128i* k) {
  x = _mm_xor_si128(x, k[0]);
  for (int r = 1; r < 14; ++r) x = _mm_aesenc_si128(x, k[r]);
  return _mm_aesenclast_si128(x, k[14]);
}

// Whole blocks: c = p ^ ks; ks = E(c). Returns the keystream for the block after them.
__attribute__((target("aes,sse2"))) void encrypt_blocks(const uint8_t* round_keys, uint8_t* ks,
                                                         const uint8_t* in, uint8_t* out,
                                                         size_t blocks) {
  __m128i k[15];
  for (int i = 0; i < 15; ++i) k[i] = _mm_load_si128(reinterpret_cast<const __m128i*>(round_keys + 16 * i));
  __m128i s = _mm_load_si128(reinterpret_cast<const __m128i*>(ks));
  for (size_t b = 0; b < blocks; ++b) {
    __m128i c = _mm_xor_si128(s, _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 16 * b)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * b), c);
    s = encrypt_block(c, k);
  }
  _mm_store_si128(reinterpret_cast<__m128i*>(ks), s);
  std::memset(k, 0, sizeof k);
}

__attribute__((target("aes,sse2"))) void encrypt_one(const uint8_t* round_keys, uint8_t* block) {
  __m128i k[15];
  for (int i = 0; i < 15; ++i) k[i] = _mm_load_si128(reinterpret_cast<const __m128i*>(round_keys + 16 * i));
  __m128i x = encrypt_block(_mm_load_si128(reinterpret_cast<const __m128i*>(block)), k);
  _mm_store_si128(reinterpret_cast<__m128i*>(block), x);
  std::memset(k, 0, sizeof k);
}

bool cpu_has_aesni() {
  static const bool has = __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse2");
  return has;
}

}  // namespace
#endif

Aes256CfbEncryptor::Aes256CfbEncryptor(std::span<const uint8_t, 32> key,
                                       std::span<const uint8_t, 16> iv, bool hardware) {
  std::memcpy(ks_, iv.data(), 16);
#ifdef PVESAFE_AESNI
  if (hardware && cpu_has_aesni()) {
    expand_key(key.data(), round_keys_);
    encrypt_one(round_keys_, ks_);  // keystream of the first block: E(IV)
    return;
  }
#else
  (void)hardware;
#endif
  evp_ = EVP_CIPHER_CTX_new();
  if (!evp_ || EVP_EncryptInit_ex2(evp_, EVP_aes_256_cfb128(), key.data(), iv.data(), nullptr) != 1) {
    EVP_CIPHER_CTX_free(evp_);
    throw Error(Errc::kInternal, "cannot initialise AES-256-CFB in OpenSSL");
  }
}

Aes256CfbEncryptor::~Aes256CfbEncryptor() {
  OPENSSL_cleanse(round_keys_, sizeof round_keys_);
  OPENSSL_cleanse(ks_, sizeof ks_);
  EVP_CIPHER_CTX_free(evp_);
}

void Aes256CfbEncryptor::encrypt(const uint8_t* in, uint8_t* out, size_t n) {
  if (evp_ != nullptr) {
    evp_encrypt_all(evp_, in, n, out);
    return;
  }
#ifdef PVESAFE_AESNI
  // Bytes of a block an earlier call began; its ciphertext replaces the keystream byte by byte.
  auto bytewise = [&](size_t count) {
    for (size_t i = 0; i < count; ++i) {
      const uint8_t c = in[i] ^ ks_[pos_];
      ks_[pos_] = c;
      out[i] = c;
      if (++pos_ == 16) {
        encrypt_one(round_keys_, ks_);
        pos_ = 0;
      }
    }
    in += count;
    out += count;
    n -= count;
  };
  if (pos_ > 0) bytewise(n < 16 - pos_ ? n : 16 - pos_);
  if (n >= 16) {
    const size_t blocks = n / 16;
    encrypt_blocks(round_keys_, ks_, in, out, blocks);
    in += 16 * blocks;
    out += 16 * blocks;
    n -= 16 * blocks;
  }
  bytewise(n);
#endif
}

}  // namespace pvesafe::crypto::detail
