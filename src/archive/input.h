// ArchiveInput: what a backup reads, with vzdump's compression undone.
//
// vzdump compresses archives with zstd, gzip (pigz) or lzop when asked. A compressed archive
// changes everywhere after its first changed byte, so nothing deduplicates from one day to the
// next; pvesafe stores what is inside instead. ArchiveInput looks at the first bytes of a
// source: when they are a zstd, gzip or lzop stream whose content starts like a VMA archive or a
// tar, reading it gives the decompressed archive (its name loses the .zst/.gz/.lzo suffix, and
// the compressed bytes' count and SHA-256 are recorded as they pass). Anything else, including a
// compressed file that is not an archive, is passed through unchanged, byte for byte.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/byte_stream.h"

namespace pvesafe::archive {

enum class Compression { kNone, kZstd, kGzip, kLzo };
enum class Content { kOther, kVma, kTar };

std::string compression_name(Compression c);  // "" | "zstd" | "gzip" | "lzo"
Compression detect_compression(std::span<const uint8_t> start);
Content detect_content(std::span<const uint8_t> start);
// vzdump-qemu-100-...vma.zst -> vzdump-qemu-100-...vma (other names unchanged).
std::string strip_compression_suffix(const std::string& name);

class ArchiveInput : public ByteSource {
 public:
  // With decompress = false, only the content of an uncompressed source is detected.
  ArchiveInput(ByteSource& in, bool decompress = true);
  ~ArchiveInput() override;

  size_t read(uint8_t* buf, size_t n) override;
  std::string name() const override;
  std::optional<uint64_t> size_hint() const override;

  Compression compression() const { return compression_; }  // kNone when passed through
  Content content() const { return content_; }
  // Bytes read from the underlying source so far, and (when decompressing, at the end of the
  // stream) their SHA-256 in hex.
  uint64_t received_bytes() const;
  std::string received_sha256() const;

  struct Decoder;
  struct Raw;

 private:
  ByteSource& in_;
  Compression compression_ = Compression::kNone;
  Content content_ = Content::kOther;
  std::unique_ptr<Raw> raw_;
  std::unique_ptr<Decoder> decoder_;
};

}  // namespace pvesafe::archive
