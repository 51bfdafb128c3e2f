// AES-256 in OpenPGP CFB mode (no resynchronisation, the mode of SEIPD v1), encryption side.
//
// CFB encryption is serial: each block's keystream is the encryption of the previous ciphertext
// block, so its speed is the latency of one AES block, not the throughput AES-NI can pipeline.
// OpenSSL's CFB goes through a generic per-block loop that calls the block function and keeps
// the chaining value in memory (about 670 MB/s on the machines measured); with the AES-NI round
// keys and the chaining value held in registers the same chain runs about 1.5 times as fast.
// Where the CPU lacks AES-NI, OpenSSL's EVP AES-256-CFB does the work. Both give identical
// output (tested against OpenSSL with random keys and arbitrary call sizes).
//
// The AES-NI path also proves itself at run time: before the first encryptor uses it, a
// self-test encrypts a standard known answer (NIST SP 800-38A F.3.13, CFB128-AES256) in whole
// blocks and in odd pieces, and an OpenPGP-shaped message (zero IV, 18-byte random prefix, then
// data, in separate calls) whose result OpenSSL's EVP must reproduce and decrypt back. On any
// mismatch (a CPU fault, a miscompilation) the process uses OpenSSL's path from then on and logs
// one warning; data is never written under an unverified cipher.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace pvesafe::crypto::detail {

class Aes256CfbEncryptor {
 public:
  // An all-zero IV unless one is given (OpenPGP uses zero). `hardware` false forces OpenSSL's
  // path (for tests).
  explicit Aes256CfbEncryptor(std::span<const uint8_t, 32> key,
                              std::span<const uint8_t, 16> iv = kZeroIv, bool hardware = true);
  ~Aes256CfbEncryptor();
  Aes256CfbEncryptor(const Aes256CfbEncryptor&) = delete;
  Aes256CfbEncryptor& operator=(const Aes256CfbEncryptor&) = delete;

  // Encrypts n bytes; calls may have any sizes (the stream continues across them). In place
  // (in == out) is allowed.
  void encrypt(const uint8_t* in, uint8_t* out, size_t n);

  // Whether the AES-NI path is in use (false: OpenSSL's).
  bool hardware() const { return evp_ == nullptr; }

  // Test seams: corrupt the AES-NI path's round keys (as a faulty CPU or a bug would), and
  // forget the self-test's verdict so that the next encryptor runs it again.
  static void inject_aesni_fault_for_testing(bool on);
  static void reset_aesni_self_test_for_testing();

 private:
  static constexpr uint8_t kZeroIv[16] = {};

  alignas(16) uint8_t round_keys_[15 * 16];
  alignas(16) uint8_t ks_[16];  // keystream of the current block; bytes before pos_ hold ciphertext
  size_t pos_ = 0;
  EVP_CIPHER_CTX* evp_ = nullptr;
};

}  // namespace pvesafe::crypto::detail
