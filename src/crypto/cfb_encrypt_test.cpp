#include "crypto/cfb_encrypt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

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

// A fault in the AES-NI path (corrupted round keys, as a CPU fault or a bug would leave them)
// is caught by the self-test before any data is encrypted: the process falls back to OpenSSL,
// warns once, and every encryptor gives OpenSSL's (correct) output.
TEST(Aes256Cfb, SelfTestFallsBackToOpenSslOnAFaultyAesNiPath) {
#if defined(__x86_64__)
  if (!__builtin_cpu_supports("aes")) GTEST_SKIP() << "no AES-NI on this CPU";
#else
  GTEST_SKIP() << "no AES-NI path on this architecture";
#endif
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  auto warnings = [&] {
    size_t n = 0;
    for (const auto& line : sink->last_formatted())
      n += line.find("self-test failed") != std::string::npos;
    return n;
  };

  std::array<uint8_t, 32> key;
  ASSERT_EQ(RAND_bytes(key.data(), 32), 1);
  std::array<uint8_t, 16> iv{};
  std::vector<uint8_t> in(5000);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<uint8_t>(i * 7);
  const auto expect = openssl_cfb(key, iv, in);
  auto encrypt = [&](bool* hardware) {
    Aes256CfbEncryptor e(key, iv);
    std::vector<uint8_t> out(in.size());
    e.encrypt(in.data(), out.data(), 18);  // OpenPGP's prefix, then the rest
    e.encrypt(in.data() + 18, out.data() + 18, in.size() - 18);
    *hardware = e.hardware();
    return out;
  };

  bool hw = false;
  Aes256CfbEncryptor::inject_aesni_fault_for_testing(false);
  Aes256CfbEncryptor::reset_aesni_self_test_for_testing();
  EXPECT_EQ(encrypt(&hw), expect);
  EXPECT_TRUE(hw);

  // The fault is real: an AES-NI encryptor made after the self-test passed gets it wrong.
  Aes256CfbEncryptor::inject_aesni_fault_for_testing(true);
  EXPECT_NE(encrypt(&hw), expect);
  EXPECT_TRUE(hw);

  // At start-up (the self-test not run yet) the same fault is caught before any use.
  Aes256CfbEncryptor::reset_aesni_self_test_for_testing();
  EXPECT_EQ(encrypt(&hw), expect);
  EXPECT_FALSE(hw);
  EXPECT_EQ(encrypt(&hw), expect);  // the verdict holds for the process, warned once
  EXPECT_FALSE(hw);
  EXPECT_EQ(warnings(), 1u);

  Aes256CfbEncryptor::inject_aesni_fault_for_testing(false);
  Aes256CfbEncryptor::reset_aesni_self_test_for_testing();
  EXPECT_EQ(encrypt(&hw), expect);
  EXPECT_TRUE(hw);
  EXPECT_EQ(warnings(), 1u);
  spdlog::set_default_logger(previous);
}

}  // namespace
}  // namespace pvesafe::crypto::detail
