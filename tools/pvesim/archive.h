// vzdump archives as PVE writes them, and what qmrestore / pct restore check when they read
// one. A qemu guest's archive is a VMA (vma_writer.h) of its disks (guest_disks.h) with
// qemu-server.conf (plus #qmdump#map lines) as a config blob, clusters out of order when the
// guest runs; a container's archive is GNU tar over its root tree (ct_tree.h) with
// ./etc/vzdump/pct.conf first. Compression runs the real tools with vzdump's options (zstd
// --rsyncable, gzip --rsyncable, lzop); names are vzdump's (vzdump-qemu-100-2026_11_24-01_00_00
// .vma.zst). Disk content is a function of (vmid, disk, day of the backup); each archive gets a
// fresh random uuid.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "vma_reader.h"

namespace pvesim {

struct ArchiveSpec {
  std::string type;  // qemu | lxc
  int vmid = 0;
  int64_t ctime = 0;           // backup time (epoch seconds); its UTC day picks the disk content
  uint64_t disk_bytes = 0;     // disk bytes of the guest (pvesim's --backup-size)
  std::string config;          // the guest config (qemu-server.conf / pct.conf text)
  std::string compress = "0";  // 0 | 1 | gzip | lzo | zstd, as vzdump's compress option
  bool running = false;        // the guest runs during the backup (qemu: copy-before-write)
  std::string work_dir;        // scratch space for a container's tree (default: next to path)
};

struct ArchiveResult {
  uint64_t size = 0;             // bytes of the archive file
  uint64_t disk_bytes = 0;       // disk bytes inside (qemu: sum of the devices)
  std::string uuid;              // qemu
  uint64_t early = 0;            // qemu: clusters written out of order
  std::vector<std::string> log;  // lines for vzdump's log
};

// Sizes as PVE's logs print them: PVE::Tools::render_bytes ("28.13 GiB" with precision 2) and
// vzdump's archive file size ("747KB", "12MB", "1.23GB").
std::string render_bytes(uint64_t bytes, int precision = 2);
std::string vzdump_file_size(uint64_t bytes);

// "0", "1" (= lzo), "gzip", "lzo", "zstd".
bool valid_compress(const std::string& c);
// ".zst", ".gz", ".lzo" or "".
std::string compress_suffix(const std::string& c);
// The compressor as vzdump runs it (empty for none).
std::vector<std::string> compressor_command(const std::string& c);

// vzdump-qemu-100-2026_11_24-01_00_00.vma.zst (time in UTC).
std::string archive_file_name(const std::string& type, int vmid, int64_t epoch,
                              const std::string& compress);
// Writes the archive to path (through path + ".tmp", renamed at the end), logging vzdump's
// lines about it ("INFO: include disk ...", "INFO: creating vzdump archive ...", ...).
ArchiveResult write_archive(const std::string& path, const ArchiveSpec& spec,
                            const std::function<void(const std::string&)>& log = nullptr);
// Parses a vzdump archive file name; returns false when it is not one.
bool parse_archive_name(const std::string& name, std::string& type, int& vmid, int64_t& ctime,
                        std::string& format);

// The guest config in an archive: the qemu-server.conf blob of a VMA, ./etc/vzdump/pct.conf of
// a tar (decompressing as needed). Throws when the file is neither.
std::string read_archive_config(const std::string& path);

struct RestoredArchive {
  std::string config;
  std::vector<VmaDevice> devices;  // qemu: each disk with its size and SHA-256
  uint64_t entries = 0;            // lxc: tar entries
  uint64_t early = 0;              // qemu: clusters found out of order
};
// Reads the whole archive as qmrestore (type qemu) or pct restore (lxc) would and checks it
// (vma_reader.h; tar's own listing), logging what they log. A bad archive throws with the
// message their task ends with ("command '... | vma extract ...' failed: exit code 133"),
// after logging the tool's own error line. scratch: a directory for the rebuilt disks.
// storage: qmrestore's storage= (where every disk goes; empty: each disk's own storage).
RestoredArchive restore_archive(const std::string& path, const std::string& type, int vmid,
                                const std::string& scratch,
                                const std::function<void(const std::string&)>& log,
                                const std::string& storage = {});

}  // namespace pvesim
