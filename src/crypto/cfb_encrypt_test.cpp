#include "crypto/cfb_encrypt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <random>
#include <vector>

namespace pvesafe::crypto::detail {
namespace {

std::vector<uint8_t> openssl_cfb(std::span<const uint8_t, 32> key, std::span<const uint8_t, 16> iv,
                                 const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(in.size());
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EXPECT_EQ(EVP_EncryptInit_ex2(c, EVP_aes_256_cfb128(), key.data(), iv.data(), nullptr), 1);
  int outl = 0;
  if (!in.empty()) {
    EXPECT_EQ(EVP_EncryptUpdate(c, out.data(), &outl, in.data(), static_cast<int>(in.size())), 1);
  }
  EVP_CIPHER_CTX_free(c);
  return out;
}

// FIPS-197 appendix C.3: AES-256 of 00112233..ff under the key 000102..1f. CFB with that block
// as the IV and a zero block as input yields exactly the block encryption.
TEST(Aes256Cfb, Fips197Vector) {
  std::array<uint8_t, 32> key;
  for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(i);
  std::array<uint8_t, 16> iv;
  for (int i = 0; i < 16; ++i) iv[i] = static_cast<uint8_t>(0x11 * i);
  const uint8_t expect[16] = {0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf,
                              0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49, 0x60, 0x89};
  Aes256CfbEncryptor e(key, iv);
  uint8_t block[16] = {};
  e.encrypt(block, block, 16);
  EXPECT_EQ(std::vector<uint8_t>(block, block + 16), std::vector<uint8_t>(expect, expect + 16));
}

// Random keys, IVs and lengths, fed in random call sizes (1 byte to several blocks, in place
// half the time): the stream equals OpenSSL's AES-256-CFB128 over the whole input.
TEST(Aes256Cfb, MatchesOpenSslForAnyCallSizes) {
  std::mt19937_64 rng(20261126);
  for (int round = 0; round < 200; ++round) {
    std::array<uint8_t, 32> key;
    std::array<uint8_t, 16> iv{};
    ASSERT_EQ(RAND_bytes(key.data(), 32), 1);
    if (round % 2) {
      ASSERT_EQ(RAND_bytes(iv.data(), 16), 1);
    }
    std::vector<uint8_t> in(rng() % (round < 100 ? 200 : 70000));
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    const auto expect = openssl_cfb(key, iv, in);
    const bool hardware = round % 3 != 0;  // both paths
    Aes256CfbEncryptor e(key, iv, hardware);
    if (!hardware) {
      EXPECT_FALSE(e.hardware());
    }
    std::vector<uint8_t> out(in.size());
    size_t off = 0;
    while (off < in.size()) {
      size_t take = std::min<size_t>(in.size() - off, 1 + rng() % (rng() % 2 ? 17 : 5000));
      if (rng() % 2) {
        std::copy(in.begin() + off, in.begin() + off + take, out.begin() + off);
        e.encrypt(out.data() + off, out.data() + off, take);
      } else {
        e.encrypt(in.data() + off, out.data() + off, take);
      }
      off += take;
    }
    ASSERT_EQ(out, expect) << "round " << round << ", " << in.size() << " bytes";
  }
}

TEST(Aes256Cfb, UsesAesNiWhereTheCpuHasIt) {
  std::array<uint8_t, 32> key{};
  Aes256CfbEncryptor e(key);
#if defined(__x86_64__)
  EXPECT_EQ(e.hardware(), __builtin_cpu_supports("aes") != 0);
#else
  EXPECT_FALSE(e.hardware());
#endif
}

}  // namespace
}  // namespace pvesafe::crypto::detail
