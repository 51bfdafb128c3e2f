// backup(): stream -> content-defined chunks -> (HMAC id, zstd, OpenPGP, put) -> manifest.
//
// Pipeline: the calling thread reads and chunks; a bounded queue feeds `threads` workers that
// hash, skip chunks already in the repository, compress, encrypt and put; results are committed
// in order. Memory is bounded by (queue depth + threads) * max chunk size whatever the input.
// The manifest is written last, after every chunk it names is stored. The caller holds a shared
// lock (repo/lock.h) for the duration.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

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
  std::function<void(const Progress&)> progress;  // called from the reading thread
  std::string hostname;  // empty: this machine's
  // Snapshot time; default now.
  std::optional<std::chrono::system_clock::time_point> time;
};

struct BackupResult {
  std::string snapshot_id;
  SnapshotInfo snapshot;
  uint64_t size_bytes = 0;
  uint64_t stored_bytes = 0;  // new bytes in the store (after compression + encryption)
  uint64_t new_chunks = 0;
  uint64_t reused_chunks = 0;
  double duration_seconds = 0;
  double dedup_ratio = 0;  // size_bytes / stored_bytes (0 when nothing was stored? see below)
};
// dedup_ratio is size_bytes / max(stored_bytes, 1): how many input bytes per stored byte.

// Fills node/guest_id/guest_type from a vzdump name when the options leave them empty.
BackupOptions complete_options(const BackupOptions& options, const std::string& source_name);

BackupResult backup(Repository& repo, ByteSource& source, const BackupOptions& options);

// Makes glibc keep multi-megabyte buffers on the heap for reuse (called by backup and restore).
void tune_allocator();

}  // namespace pvesafe::repo
