#include "crypto/cfb_encrypt.h"

#include <openssl/crypto.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define PVESAFE_AESNI 1
#endif

#include <spdlog/spdlog.h>

#include <atomic>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "crypto/algorithms.h"

namespace pvesafe::crypto::detail {

namespace {
std::atomic<bool> g_aesni_fault{false};
}  // namespace

void Aes256CfbEncryptor::inject_aesni_fault_for_testing(bool on) { g_aesni_fault = on; }

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

// NIST SP 800-38A, F.3.13 CFB128-AES256.Encrypt.
constexpr uint8_t kKatKey[32] = {0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
                                 0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
                                 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
constexpr uint8_t kKatIv[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
constexpr uint8_t kKatPlain[64] = {
    0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93, 0x17, 0x2a,
    0xae, 0x2d, 0x8a, 0x57, 0x1e, 0x03, 0xac, 0x9c, 0x9e, 0xb7, 0x6f, 0xac, 0x45, 0xaf, 0x8e, 0x51,
    0x30, 0xc8, 0x1c, 0x46, 0xa3, 0x5c, 0xe4, 0x11, 0xe5, 0xfb, 0xc1, 0x19, 0x1a, 0x0a, 0x52, 0xef,
    0xf6, 0x9f, 0x24, 0x45, 0xdf, 0x4f, 0x9b, 0x17, 0xad, 0x2b, 0x41, 0x7b, 0xe6, 0x6c, 0x37, 0x10};
constexpr uint8_t kKatCipher[64] = {
    0xdc, 0x7e, 0x84, 0xbf, 0xda, 0x79, 0x16, 0x4b, 0x7e, 0xcd, 0x84, 0x86, 0x98, 0x5d, 0x38, 0x60,
    0x39, 0xff, 0xed, 0x14, 0x3b, 0x28, 0xb1, 0xc8, 0x32, 0x11, 0x3c, 0x63, 0x31, 0xe5, 0x40, 0x7b,
    0xdf, 0x10, 0x13, 0x24, 0x15, 0xe5, 0x4b, 0x92, 0xa1, 0x3e, 0xd0, 0xa8, 0x26, 0x7a, 0xe2, 0xf9,
    0x75, 0xa3, 0x85, 0x74, 0x1a, 0xb9, 0xce, 0xf8, 0x20, 0x31, 0x62, 0x3d, 0x55, 0xb1, 0xe4, 0x71};

enum SelfTest : int { kUntested, kPassed, kFailed };
std::atomic<int> g_self_test{kUntested};
std::mutex g_self_test_mu;
thread_local bool t_in_self_test = false;  // the self-test's own encryptors take the AES-NI path

// OpenSSL's EVP AES-256-CFB128 over `in`, encrypting or decrypting.
std::vector<uint8_t> evp_cfb(const uint8_t* key, const uint8_t* iv, const std::vector<uint8_t>& in,
                             bool encrypt) {
  std::vector<uint8_t> out(in.size());
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  int n = 0;
  const bool ok =
      c != nullptr &&
      EVP_CipherInit_ex2(c, EVP_aes_256_cfb128(), key, iv, encrypt ? 1 : 0, nullptr) == 1 &&
      EVP_CipherUpdate(c, out.data(), &n, in.data(), static_cast<int>(in.size())) == 1;
  EVP_CIPHER_CTX_free(c);
  if (!ok) throw Error(Errc::kInternal, "OpenSSL AES-256-CFB failed in the self-test");
  return out;
}

// The AES-NI path in calls of the given sizes (their sum is in.size()).
std::vector<uint8_t> aesni_cfb(const uint8_t* key, const uint8_t* iv,
                               const std::vector<uint8_t>& in,
                               std::initializer_list<size_t> calls) {
  Aes256CfbEncryptor e(std::span<const uint8_t, 32>(key, 32), std::span<const uint8_t, 16>(iv, 16));
  std::vector<uint8_t> out(in.size());
  size_t off = 0;
  for (size_t n : calls) {
    e.encrypt(in.data() + off, out.data() + off, n);
    off += n;
  }
  if (!e.hardware() || off != in.size()) return {};
  return out;
}

bool aesni_self_test() {
  const std::vector<uint8_t> plain(kKatPlain, kKatPlain + 64), cipher(kKatCipher, kKatCipher + 64);
  if (evp_cfb(kKatKey, kKatIv, plain, true) != cipher) return false;  // OpenSSL itself
  if (aesni_cfb(kKatKey, kKatIv, plain, {64}) != cipher) return false;
  if (aesni_cfb(kKatKey, kKatIv, plain, {1, 17, 2, 30, 14}) != cipher) return false;
  // As OpenPGP uses it (SEIPD v1): zero IV, an 18-byte prefix, then the rest in other calls.
  const uint8_t zero_iv[16] = {};
  std::vector<uint8_t> msg(1000);
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<uint8_t>(i * 131 + 7);
  const auto ours = aesni_cfb(kKatKey, zero_iv, msg, {18, 1, 500, 481});
  return ours == evp_cfb(kKatKey, zero_iv, msg, true) &&
         evp_cfb(kKatKey, zero_iv, ours, false) == msg;
}

// Whether this process may use the AES-NI path: the self-test's verdict, run on first use.
bool aesni_verified() {
  if (t_in_self_test) return true;
  int state = g_self_test.load(std::memory_order_acquire);
  if (state != kUntested) return state == kPassed;
  std::lock_guard lock(g_self_test_mu);
  state = g_self_test.load(std::memory_order_relaxed);
  if (state == kUntested) {
    t_in_self_test = true;
    bool ok = false;
    try {
      ok = aesni_self_test();
    } catch (const std::exception&) {
      ok = false;
    }
    t_in_self_test = false;
    if (!ok) {
      spdlog::warn(
          "AES-NI AES-256-CFB self-test failed: its output differs from OpenSSL's; this "
          "process encrypts with OpenSSL's AES instead (same output, slower)");
    }
    state = ok ? kPassed : kFailed;
    g_self_test.store(state, std::memory_order_release);
  }
  return state == kPassed;
}

}  // namespace
#endif

void Aes256CfbEncryptor::reset_aesni_self_test_for_testing() {
#ifdef PVESAFE_AESNI
  g_self_test = kUntested;
#endif
}

Aes256CfbEncryptor::Aes256CfbEncryptor(std::span<const uint8_t, 32> key,
                                       std::span<const uint8_t, 16> iv, bool hardware) {
  std::memcpy(ks_, iv.data(), 16);
#ifdef PVESAFE_AESNI
  if (hardware && cpu_has_aesni() && aesni_verified()) {
    expand_key(key.data(), round_keys_);
    if (g_aesni_fault.load(std::memory_order_relaxed)) round_keys_[7 * 16] ^= 0x01;
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
