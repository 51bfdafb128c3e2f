// The repository as a read-only FUSE file system (libfuse3): one directory per snapshot of a
// guest's VMA backup, named by the snapshot id, holding
//   <disk>.raw       each disk (drive-scsi0.raw, ...) as a raw image of the disk's full size,
//                    read through the repository's disk reader (repo/disk_reader.h): only the
//                    chunks a read touches are fetched, regions without data read as zeros
//   <config>         the guest's config files (qemu-server.conf, qemu-server.fw)
//   snapshot.json    what the snapshot is (id, time, node, guest, disks)
// Snapshots without disks (stream snapshots: files, container archives) are not shown.
//
// Read-only: opening for writing fails with EROFS. A read the repository cannot deliver (a
// chunk that fails authentication, a store that stays unreachable) fails with EIO; no wrong byte
// is ever returned. Files are mode 0400 and directories 0500, owned by the mounting user, and the
// mount is not shared with other users (no allow_other): the content is decrypted data.
//
// SnapshotMount::run() mounts, calls on_mounted, and serves until the file system is unmounted
// (fusermount3 -u), stop() is called from another thread, or (with handle_signals) the process
// gets SIGINT/SIGTERM/SIGHUP; it unmounts before it returns. The set of snapshots is read once,
// at mount time.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "repo/disk_reader.h"
#include "repo/repository.h"

namespace pvesafe::mount {

struct MountOptions {
  std::string mountpoint;
  std::string snapshot;          // one snapshot (id, prefix or latest); empty: all that match
  repo::SnapshotFilter filter;   // e.g. guest_id
  repo::DiskReaderOptions disk;  // per opened disk
  int threads = 8;               // FUSE worker threads at most
  bool debug = false;            // libfuse's own debug output on stderr
  bool handle_signals = true;    // SIGINT/SIGTERM/SIGHUP end run() (the CLI; not a library user)
  std::function<void(size_t snapshots)> on_mounted;
  std::function<void(const std::string& message)> on_read_error;  // called for each failed read
};

struct MountStats {
  uint64_t snapshots = 0;
  uint64_t disks_opened = 0;
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> read_bytes{0};
  std::atomic<uint64_t> failed_reads{0};
  uint64_t fetched_bytes = 0;  // from the repository, over every disk opened
};

class SnapshotMount {
 public:
  SnapshotMount(repo::Repository& repo, MountOptions options);
  ~SnapshotMount();
  SnapshotMount(const SnapshotMount&) = delete;
  SnapshotMount& operator=(const SnapshotMount&) = delete;

  // kUsage for a mount point that is not a directory, kNotFound when no snapshot matches, kIo
  // when the kernel refuses the mount (no /dev/fuse, no permission). Call once.
  void run();
  // Ends run() from another thread (unmounts); safe before, during and after run().
  void stop();
  const MountStats& stats() const { return stats_; }
  // Bytes fetched from the repository so far by the disks opened (while run() serves).
  uint64_t fetched_bytes() const;

 private:
  struct Impl;
  repo::Repository& repo_;
  MountOptions options_;
  MountStats stats_;
  std::unique_ptr<Impl> impl_;
};

// SnapshotMount(repo, options).run(), with the counters copied into `stats`.
void serve_mount(repo::Repository& repo, const MountOptions& options, MountStats& stats);

}  // namespace pvesafe::mount
