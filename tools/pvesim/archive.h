// vzdump archives as pvesim writes them: the standard file name, and content that is a valid
// zstd stream (raw blocks, no compression) around either a VMA-like image (qemu: a 4 KiB header
// holding the guest config, then the disk) or a tar (lxc: ./etc/vzdump/pct.conf, then a disk
// image file). The disk bytes are a deterministic function of (vmid, day): about 2% of its 64 KiB
// blocks change from one day to the next, about a quarter are zero, a fifth are text-like.
#pragma once

#include <cstdint>
#include <string>

namespace pvesim {

struct ArchiveSpec {
  std::string type;  // qemu | lxc
  int vmid = 0;
  int64_t day = 0;          // days since the Unix epoch (UTC)
  uint64_t disk_bytes = 0;  // size of the disk image inside
  std::string config;       // guest config text (qemu-server.conf / pct.conf format)
  bool zstd = true;         // false: write the plain .vma / .tar
};

// vzdump-qemu-100-2026_11_24-01_00_00.vma.zst (time in UTC).
std::string archive_file_name(const std::string& type, int vmid, int64_t epoch, bool zstd);
// Writes the archive to path (through path + ".tmp", renamed at the end); returns its size.
uint64_t write_archive(const std::string& path, const ArchiveSpec& spec);
// Parses a vzdump archive file name; returns false when it is not one.
bool parse_archive_name(const std::string& name, std::string& type, int& vmid, int64_t& ctime,
                        std::string& format);
// The guest config stored in an archive written by pvesim ("" for anything else).
std::string read_archive_config(const std::string& path);

}  // namespace pvesim
