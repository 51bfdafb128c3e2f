// Byte streams: what a backup reads from and what a restore writes to. Files and descriptors
// are in repo/stream.h; other areas add their own (an archive on a PVE node over SFTP,
// `qmrestore -` over SSH, a decompressing reader) by implementing these two interfaces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace pvesafe {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes; returns 0 only at end of stream; throws pvesafe::Error on failure.
  virtual size_t read(uint8_t* buf, size_t n) = 0;
  // File name for the snapshot and the catalog (a base name such as
  // "vzdump-qemu-100-2026_11_24-01_00_00.vma.zst").
  virtual std::string name() const = 0;
  // Total size when known in advance (progress display); nullopt for pipes.
  virtual std::optional<uint64_t> size_hint() const { return std::nullopt; }
};

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual void write(const uint8_t* buf, size_t n) = 0;
  // Appends n zero bytes. Sinks that can leave holes (sparse files) override this; the default
  // writes zeros.
  virtual void write_zeros(uint64_t n);
  // Flush/close; called once after success. A sink destroyed without finish() must leave
  // nothing that looks like a complete result.
  virtual void finish() = 0;
};

// Reads exactly n bytes unless the stream ends first; returns how many were read.
size_t read_full(ByteSource& in, uint8_t* buf, size_t n);

}  // namespace pvesafe
