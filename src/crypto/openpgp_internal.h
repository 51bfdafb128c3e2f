// Internal entry points of the OpenPGP writer, exposed for tests and benchmarks.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace pvesafe::crypto::detail {

// encrypt_message with an explicit coded S2K count and framing: partial_exponent 0 writes
// definite lengths (partial lengths of 2^30 only above 4 GiB); 9..30 forces partial body lengths
// of 2^partial_exponent bytes for the encrypted and the literal packet.
std::vector<uint8_t> encrypt_message_with(std::span<const uint8_t> plaintext,
                                          std::string_view passphrase, uint8_t s2k_count,
                                          std::string_view literal_filename, int partial_exponent);

// SKESK + SEIPD v1 (with a correct MDC) around arbitrary packet bytes, so tests can build
// well-protected messages whose inner packets are malformed, nested or unusual.
std::vector<uint8_t> encrypt_packets(std::span<const uint8_t> packets, std::string_view passphrase);

}  // namespace pvesafe::crypto::detail
