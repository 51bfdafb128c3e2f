// ASCII armor (RFC 9580 section 6.2), the text form gpg --armor, sq and rnp give keys in:
//   -----BEGIN PGP PUBLIC KEY BLOCK-----
//   Comment: ...                      (armor headers, then an empty line)
//   <base64 lines>
//   =XXXX                             (optional CRC-24 of the data)
//   -----END PGP PUBLIC KEY BLOCK-----
// Decoding only. Text before, between and after blocks is ignored (a key pasted into a mail);
// CR LF line ends and trailing blanks are accepted. Internal to src/crypto.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "crypto/wiped.h"

namespace pvesafe::crypto::detail {

// True when the data, after leading white space, starts with "-----BEGIN PGP ".
bool looks_armored(std::span<const uint8_t> data);

struct ArmoredBlock {
  std::string label;  // e.g. "PUBLIC KEY BLOCK", "PRIVATE KEY BLOCK"
  WipedBytes data;    // the binary packets (wiped when freed: secret keys are armored too)
};

// Decodes every armored block. Throws kIntegrity naming the line when a block has no END line,
// a character outside base64, or a CRC-24 that does not match; none found is kIntegrity too.
std::vector<ArmoredBlock> dearmor(std::span<const uint8_t> text);

// CRC-24 of RFC 9580 section 6.1 (exposed for tests).
uint32_t crc24(std::span<const uint8_t> data);

}  // namespace pvesafe::crypto::detail
