// OpenPGP symmetric cipher and hash algorithm tables mapped onto OpenSSL 3, and the OpenPGP CFB
// decryptor. Internal to src/crypto.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace pvesafe::crypto::detail {

// OpenPGP symmetric-key algorithm ids (RFC 9580 section 9.3).
inline constexpr uint8_t kCipherAes128 = 7;
inline constexpr uint8_t kCipherAes192 = 8;
inline constexpr uint8_t kCipherAes256 = 9;

// OpenPGP hash algorithm ids (RFC 9580 section 9.5).
inline constexpr uint8_t kHashSha1 = 2;
inline constexpr uint8_t kHashSha256 = 8;

inline constexpr size_t kMaxBlockSize = 16;
inline constexpr size_t kMaxKeySize = 32;

struct CipherInfo {
  uint8_t id;
  const char* name;      // as users know it, e.g. "AES-256"
  const char* ossl_ecb;  // OpenSSL fetch name of the ECB mode, nullptr if OpenSSL lacks it
  size_t key_size;
  size_t block_size;
  bool legacy;  // lives in OpenSSL's legacy provider
};

// Returns the table entry for an OpenPGP cipher id, or nullptr for an id OpenPGP does not define.
const CipherInfo* find_cipher(uint8_t id);
// "AES-256", "Twofish", "unknown cipher 42"
std::string cipher_name(uint8_t id);
// The ECB cipher for an algorithm; throws kUnsupported naming it when OpenSSL cannot provide it.
const EVP_CIPHER* ecb_cipher(const CipherInfo& info);

// "SHA-256", "unknown hash 99"
std::string hash_name(uint8_t id);
// Throws kUnsupported naming the algorithm when unknown or unavailable.
const EVP_MD* hash_md(uint8_t id);

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// OpenPGP CFB decryption without resynchronisation (the mode of SEIPD v1 and of encrypted
// session keys), with an all-zero IV, or with the IV given (protected secret key material). CFB
// decryption has no serial dependency, so the bulk is computed as one ECB encryption of the
// ciphertext shifted by one block followed by an XOR, which lets AES-NI pipeline (several times
// faster than OpenSSL's block-at-a-time CFB). `in` and `out` must not overlap.
class CfbDecryptor {
 public:
  // `iv` is empty (all zero) or exactly one block.
  CfbDecryptor(const CipherInfo& info, std::span<const uint8_t> key,
               std::span<const uint8_t> iv = {});
  ~CfbDecryptor();
  CfbDecryptor(const CfbDecryptor&) = delete;
  CfbDecryptor& operator=(const CfbDecryptor&) = delete;

  void decrypt(const uint8_t* in, size_t n, uint8_t* out);
  size_t block_size() const { return bs_; }

 private:
  void encrypt_blocks(const uint8_t* in, size_t n, uint8_t* out);

  EVP_CIPHER_CTX* ctx_ = nullptr;
  size_t bs_;
  size_t pos_ = 0;                 // bytes of the current block already consumed
  uint8_t ks_[kMaxBlockSize];      // keystream of the current block: E(previous ciphertext block)
  uint8_t cur_[kMaxBlockSize];     // ciphertext of the current block so far
};

// EVP_EncryptUpdate over any length (EVP takes int lengths); kInternal when OpenSSL fails.
void evp_encrypt_all(EVP_CIPHER_CTX* ctx, const uint8_t* in, size_t n, uint8_t* out);

// Resizes v to n bytes for output that is about to be written. Large buffers are advised to use
// transparent huge pages first, which cuts the page faults of a fresh multi-megabyte buffer by
// a factor of 512 (they otherwise cost as much as SHA-1 over the data).
void resize_for_output(std::vector<uint8_t>& v, size_t n);

// Constant-time byte comparison.
bool equal_ct(const uint8_t* a, const uint8_t* b, size_t n);

}  // namespace pvesafe::crypto::detail
