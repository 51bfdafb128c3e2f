// AES-256 in OpenPGP CFB mode (no resynchronisation, the mode of SEIPD v1), encryption side.
//
// CFB encryption is serial: each block's keystream is the encryption of the previous ciphertext
// block, so its speed is the latency of one AES block, not the throughput AES-NI can pipeline.
// OpenSSL's CFB goes through a generic per-block loop that calls the block function and keeps
// the chaining value in memory (about 670 MB/s on the machines measured); with the AES-NI round
// keys and the chaining value held in registers the same chain runs about 1.5 times as fast.
// Where the CPU lacks AES-NI, OpenSSL's EVP AES-256-CFB does the work. Both give identical
// output (tested against OpenSSL with random keys and arbitrary call sizes).
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

 private:
  static constexpr uint8_t kZeroIv[16] = {};

  alignas(16) uint8_t round_keys_[15 * 16];
  alignas(16) uint8_t ks_[16];  // keystream of the current block; bytes before pos_ hold ciphertext
  size_t pos_ = 0;
  EVP_CIPHER_CTX* evp_ = nullptr;
};

}  // namespace pvesafe::crypto::detail
