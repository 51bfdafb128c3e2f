// Passphrase-encrypted OpenPGP messages (RFC 4880 / RFC 9580), the on-the-wire form of every
// object pvesafe stores, so that `gpg --decrypt`, `rnp` and `sq` can always read a backup.
//
// Writer: exactly one SKESK v4 packet (iterated+salted S2K, SHA-256, AES-256, no encrypted
// session key) followed by one SEIPD v1 packet (AES-256-CFB, modification detection code)
// holding one literal data packet (format 'b'). Nothing else.
//
// Reader: what gpg, rnp and sq write for a passphrase: SKESK v4 (S2K simple, salted or
// iterated+salted; with or without an encrypted session key; AES-128/192/256 and the other
// common ciphers), SEIPD v1 with MDC, literal data possibly wrapped in compressed data packets
// (ZIP, ZLIB, BZip2), old and new packet headers, partial body lengths, marker packets.
// Messages without integrity protection (SED, tag 9) are refused. The strict reader
// (decrypt_own_message) accepts only the writer's shape, for pvesafe's own objects.
//
// In detail (see openpgp_reader.cpp): ciphers AES-128/192/256, Camellia-128/192/256, CAST5,
// Blowfish and TripleDES (the last three through OpenSSL's legacy provider, loaded into a private
// library context); Twofish, and IDEA where OpenSSL lacks it, are kUnsupported naming the cipher.
// S2K hashes MD5, SHA-1, RIPEMD-160, SHA-224/256/384/512. Compression ZIP, ZLIB, BZip2, nested
// up to 8 levels; data after the end of a compressed stream (Sequoia's padding) is ignored.
// One-pass signature and signature packets inside are skipped (not verified; the MDC protects
// the data). kUnsupported: SEIPD v2 and SKESK v5/v6 (AEAD), the GnuPG AEAD packet (tag 20),
// Argon2 S2K, ASCII armor, messages encrypted only to public keys (those are written and read
// by recipient.h and session_key.h, for hosts that may write backups but not read them).
// Writer performance: the MDC's SHA-1 runs on a second thread, alongside AES-CFB, for plaintexts
// of 1 MiB or more when the machine has more than one CPU (same CPU time, less wall time).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pvesafe::crypto {

enum class S2kStrength {
  // For random, high-entropy passphrases (the repository's data key): the smallest iteration
  // count, so deriving a per-object key costs about a microsecond.
  kFast,
  // For a passphrase a person chose: the largest iteration count OpenPGP can express
  // (65011712 bytes hashed).
  kStrong,
};

// Encrypts plaintext into a complete OpenPGP message (binary, not armored). A fresh random salt
// per message, so every object gets its own session key.
std::vector<uint8_t> encrypt_message(std::span<const uint8_t> plaintext,
                                     std::string_view passphrase, S2kStrength strength,
                                     std::string_view literal_filename = {});

// The same message, for literal data given as pieces (written as if concatenated) and written
// into memory the caller provides: `output(size)` returns a buffer of at least `size` bytes
// (e.g. page-aligned, for a write that bypasses the page cache). Returns the message size.
// Nothing of the pieces is copied apart from the encryption itself.
size_t encrypt_message_into(std::span<const std::span<const uint8_t>> plaintext,
                            std::string_view passphrase, S2kStrength strength,
                            const std::function<uint8_t*(size_t)>& output,
                            std::string_view literal_filename = {});

// Decrypts a passphrase-encrypted OpenPGP message and returns the literal data.
// Throws pvesafe::Error:
//   kAuth        the passphrase does not open the message (session key check fails)
//   kIntegrity   MDC mismatch, truncated or malformed packets, trailing garbage
//   kUnsupported a well-formed message using an algorithm or packet this reader does not handle
//                (the message names it), or a message without integrity protection
std::vector<uint8_t> decrypt_message(std::span<const uint8_t> message,
                                     std::string_view passphrase);

// Default bound of decrypt_message: at most 16 GiB of literal data, and at most 16 GiB (plus
// 1 MiB for packet framing) produced by each compression layer, so a small message that
// decompresses to terabytes (a compression bomb) fails fast instead of exhausting memory.
inline constexpr uint64_t kDefaultMaxPlaintextBytes = uint64_t{16} << 30;

// As above with an explicit bound (e.g. the repository's maximum chunk size). A message whose
// plaintext or decompressed data exceeds it throws kUnsupported naming the limit. The bound is
// also never more than half of the machine's physical memory (the plaintext is held in memory),
// and running out of memory throws kUnsupported instead of std::bad_alloc.
std::vector<uint8_t> decrypt_message(std::span<const uint8_t> message,
                                     std::string_view passphrase,
                                     uint64_t max_plaintext_bytes);

// Decrypts one of pvesafe's own messages (repository objects), accepting only what
// encrypt_message writes: exactly one SKESK v4 packet, then one SEIPD v1 packet holding exactly
// one literal data packet (format 'b') of at most max_plaintext_bytes (the caller passes the
// most it expects, e.g. the largest chunk). No public-key session keys, marker, padding,
// compressed, signature or nested packets. Throws pvesafe::Error:
//   kAuth        the passphrase does not open the message
//   kIntegrity   anything else: MDC mismatch, malformed or truncated packets, a packet or
//                algorithm pvesafe does not write, more plaintext than the bound
// (decrypt_message remains the reader for messages written by gpg, rnp or sq.)
std::vector<uint8_t> decrypt_own_message(std::span<const uint8_t> message,
                                         std::string_view passphrase, uint64_t max_plaintext_bytes);

// Cryptographically secure random bytes (OpenSSL RAND_bytes); throws kInternal on failure.
void random_bytes(std::span<uint8_t> out);

}  // namespace pvesafe::crypto
