// POSIX tar archives (pax interchange format: ustar headers, with "x" extended headers for names,
// link targets and values that do not fit), as GNU tar and bsdtar read and write them. Used for
// small trees held in memory: a cluster's configuration files, the config at the head of a
// container's vzdump archive.
//
// TarWriter writes regular files, directories and symbolic links with their mode, owner and time;
// finish() writes the two zero blocks that end an archive. TarReader reads what GNU tar writes
// (ustar, pax "x"/"g" headers, GNU "L"/"K" long names); a header whose checksum does not match, a
// size that runs past the end, or a name that is absolute or climbs out with ".." is refused
// (kIntegrity): an archive never writes outside the directory it is extracted to.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/byte_stream.h"

namespace pvesafe::archive {

struct TarEntry {
  enum class Type { kFile, kDirectory, kSymlink };
  std::string path;  // relative, '/'-separated, no trailing slash ("etc/pve/storage.cfg")
  Type type = Type::kFile;
  uint32_t mode = 0644;  // permission bits
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 0;        // seconds since the epoch
  std::string link_target;  // kSymlink
  std::string data;         // kFile
};

class TarWriter {
 public:
  explicit TarWriter(ByteSink& out);
  void add(const TarEntry& entry);
  void finish();  // end-of-archive blocks, then out.finish()

 private:
  void header(const TarEntry& e, char typeflag, uint64_t size, const std::string& name,
              const std::string& link);
  void pad(uint64_t size);
  ByteSink& out_;
  bool finished_ = false;
};

class TarReader {
 public:
  // Entries whose content is larger than max_entry_bytes are refused (kUnsupported).
  explicit TarReader(ByteSource& in, uint64_t max_entry_bytes = 64ull << 20);
  // The next file, directory or link (other types, e.g. devices, are skipped); nullopt at the
  // end of the archive. kIntegrity for a damaged or hostile archive.
  std::optional<TarEntry> next();

 private:
  bool read_block(uint8_t* block);  // false at the end of the input
  void skip(uint64_t bytes);
  std::string read_data(uint64_t size);
  ByteSource& in_;
  uint64_t max_;
  uint64_t offset_ = 0;
};

// A relative path that stays inside its directory: no leading '/', no "..", no empty parts.
bool safe_relative_path(const std::string& path);

}  // namespace pvesafe::archive
