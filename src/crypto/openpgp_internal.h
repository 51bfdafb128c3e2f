// Internal entry points of the OpenPGP writer and reader, exposed for tests, benchmarks and the
// public-key writer.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "crypto/s2k.h"
#include "crypto/session_key.h"

namespace pvesafe::crypto::detail {

struct WriterOptions {
  uint8_t s2k_count = kS2kCountFast;  // coded S2K count
  std::string_view literal_filename;
  // 0 writes definite lengths (partial lengths of 2^30 only above 4 GiB); 9..30 forces partial
  // body lengths of 2^partial_exponent bytes for the encrypted and the literal packet.
  int partial_exponent = 0;
  // Where the MDC's SHA-1 runs. kAuto: on a second thread, concurrently with AES-CFB, for
  // plaintexts of at least kSecondThreadMinBytes on a machine with more than one CPU; otherwise
  // interleaved with the encryption in cache-sized steps on the calling thread.
  enum class Hashing { kAuto, kSameThread, kSecondThread } hashing = Hashing::kAuto;
};

inline constexpr size_t kSecondThreadMinBytes = size_t{1} << 20;

std::vector<uint8_t> encrypt_message_with(std::span<const uint8_t> plaintext,
                                          std::string_view passphrase, const WriterOptions& options);
// The general form: literal data in pieces, output into memory from `output(size)`.
size_t encrypt_pieces_with(std::span<const std::span<const uint8_t>> plaintext,
                           std::string_view passphrase, const WriterOptions& options,
                           const std::function<uint8_t*(size_t)>& output);

// The same with session key packets made by the caller (`head`, e.g. a PKESK) and the session
// key they hold (AES-256): the public-key writer's entry (recipient.cpp).
size_t encrypt_pieces_keyed(std::span<const std::span<const uint8_t>> plaintext,
                            std::span<const uint8_t> head, std::span<const uint8_t, 32> key,
                            const WriterOptions& options,
                            const std::function<uint8_t*(size_t)>& output);

// SKESK + SEIPD v1 (with a correct MDC) around arbitrary packet bytes, so tests can build
// well-protected messages whose inner packets are malformed, nested or unusual.
std::vector<uint8_t> encrypt_packets(std::span<const uint8_t> packets, std::string_view passphrase);

// Decrypts a message with a known session key (SKESK/PKESK packets are skipped), e.g. the key
// gpg --show-session-key printed. Throws kAuth when the key does not open it.
std::vector<uint8_t> decrypt_with_session_key(std::span<const uint8_t> message,
                                              const SessionKey& key);

}  // namespace pvesafe::crypto::detail
