// backup(): a source -> a snapshot.
//
// The source is first looked at (archive/input.h): a compressed vzdump archive is decompressed
// on the way in. Then it is split:
//   a VMA archive -> each disk in fixed-size chunks at their disk offsets (zero chunks are not
//                    stored), the config files as chunks, and the archive's structure (header
//                    and extent headers) as a small stream; restore rebuilds the archive bit for
//                    bit (snapshot kind "vma");
//   anything else -> content-defined chunks of the byte stream (kind "stream").
// Chunks go through one ChunkWriter (id, dedup, compress, seal, pack, put, index), then the
// chunk lists, then the manifest, last: an interrupted backup leaves nothing that looks
// complete. The caller holds a shared lock (repo/lock.h) for the duration.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "repo/object_hold.h"
#include "repo/repository.h"
#include "repo/stream.h"
#include "repo/vzdump_name.h"

namespace pvesafe::repo {

struct Progress {
  uint64_t bytes_done = 0;                 // input bytes read (backup) / written (restore)
  std::optional<uint64_t> bytes_total;     // when known
  uint64_t stored_bytes = 0;               // new bytes put into the store
  uint64_t new_chunks = 0;
  uint64_t reused_chunks = 0;
  double elapsed_seconds = 0;
};

struct BackupOptions {
  std::string node, guest_id, guest_type /*qemu|lxc|""*/, file_name;  // empty: from the source name
  std::map<std::string, std::string> tags;
  int threads = 0;  // 0: number of CPUs (at least 2)
  // false: store the source as a byte stream whatever it holds (no decompression, no VMA split).
  bool archive_aware = true;
  // Memory for VMA disk chunks waiting for clusters that arrive out of order.
  uint64_t vma_pending_budget_bytes = 128ull << 20;
  std::function<void(const Progress&)> progress;  // called from the reading thread
  std::string hostname;  // empty: this machine's
  // Snapshot time; default now.
  std::optional<std::chrono::system_clock::time_point> time;
};

struct DiskResult {
  std::string name;
  uint64_t size_bytes = 0;
  uint64_t data_bytes = 0;  // in non-zero chunks
};

struct BackupResult {
  std::string snapshot_id;
  SnapshotInfo snapshot;
  uint64_t size_bytes = 0;    // what restore gives back (the uncompressed archive)
  uint64_t stored_bytes = 0;  // new bytes in the store (packs and index objects)
  uint64_t new_chunks = 0;
  uint64_t reused_chunks = 0;
  uint64_t packs = 0;
  double duration_seconds = 0;
  double dedup_ratio = 0;  // size_bytes / max(stored_bytes, 1): input bytes per stored byte
  std::vector<DiskResult> disks;
  bool format_upgraded = false;  // this backup upgraded a format 1 repository
  // Object Lock: the snapshot's retention date ("" without) and what holding the objects it
  // reuses until then cost.
  std::string retain_until_utc;
  HoldResult hold;
};

// Fills node/guest_id/guest_type from a vzdump name when the options leave them empty.
BackupOptions complete_options(const BackupOptions& options, const std::string& source_name);

BackupResult backup(Repository& repo, ByteSource& source, const BackupOptions& options);

// Makes glibc keep multi-megabyte buffers on the heap for reuse (called by backup and restore).
void tune_allocator();

}  // namespace pvesafe::repo
