// Instant restore: run a guest from its backup at once, and copy its disk to the target
// storage behind it.
//
// How: the disk is exported over NBD (by an in-process nbd::Server on a private Unix socket,
// or an NBD export elsewhere); QEMU runs the guest on a local qcow2 overlay whose backing node
// is that export, so the guest reads only what it touches and its writes stay local. Right
// away (or once the guest is healthy: copy_start) a QEMU mirror job (blockdev-mirror,
// sync=full, copy-mode=write-blocking) copies what the guest sees, backup and guest writes
// together, into the target; when the copy has converged the job completes and QEMU switches
// the guest's disk to the target (the pivot). The overlay and the NBD node are then deleted
// from QEMU, the job checks that no NBD node is left, stops the export and removes the
// overlay: the guest runs from local storage alone. Why a mirror and not block-stream into the
// overlay: the mirror writes any target format (a raw LVM/ZFS/RBD volume as well as a file),
// keeps guest writes (write-blocking: each guest write lands in the target before it
// completes, so the copy converges whatever the guest does), and the pivot leaves no backing
// chain; block-stream would leave the guest on a qcow2 overlay that must live on the target.
//
// Failures:
//  - before the guest runs (bad options, target exists, QEMU refuses): Error thrown, nothing
//    left running, files this job created removed.
//  - health check not answered in time: the guest is stopped; result.failure = kCheckFailed.
//  - the source fails during the copy (a read of the export fails, or its server dies): QEMU
//    ends the mirror with an error; result.failure carries the source's own error category and
//    message when the export is in-process (kIntegrity, kTransient...), kTransient otherwise.
//    The guest keeps running on its overlay (its writes are there, on local disk) and can
//    still read what the source can serve; when the export is in-process, run() keeps serving
//    it until the guest stops or cancel is set, so the caller should report the failure from
//    the progress callback (phase kFailed) before run() returns.
//  - cancel set (SIGINT): the copy is cancelled, the guest stopped, the overlay kept (it holds
//    the guest's writes); result.failure = kInterrupted.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/block_source.h"
#include "core/error.h"
#include "qemu/launch.h"

namespace pvesafe::jobs {

// The guest answers on its serial console: `send` is written every second until a line
// containing `expect` comes back.
struct SerialHealthCheck {
  std::string send = "ping";
  std::string expect = "PVESAFE pong";
  std::chrono::seconds timeout{300};
};

enum class CopyStart {
  kAtOnce,        // copy while the guest boots (shortest time to an independent guest)
  kAfterHealthy,  // boot first with the whole link, copy after (shortest time to healthy)
};

struct InstantProgress {
  enum class Phase { kBooting, kHealthy, kCopying, kPivoted, kDone, kFailed };
  Phase phase = Phase::kBooting;
  double elapsed_seconds = 0;
  uint64_t copied_bytes = 0;  // the mirror's offset
  uint64_t total_bytes = 0;   // the mirror's length (grows with guest writes)
  double rate_bytes_per_second = 0;
  uint64_t source_fetched_bytes = 0;  // in-process export only
  std::string message;                // kFailed: what went wrong
};

struct InstantRestoreOptions {
  // The disk: an in-process BlockSource, or nbd_uri (nbd+unix:///NAME?socket=PATH or
  // nbd://HOST:PORT/NAME) served by another process.
  std::shared_ptr<BlockSource> disk;
  std::string nbd_uri;

  std::string target;                 // file (created, must not exist) or block device
  std::string target_format = "raw";  // raw | qcow2 (files only)
  std::string overlay;  // default: TARGET.overlay.qcow2, RUN_DIR/overlay.qcow2 for a device
  std::string run_dir;  // sockets, pid file (created 0700); must be short
  qemu::Machine machine;
  SerialHealthCheck health;
  CopyStart copy_start = CopyStart::kAfterHealthy;
  uint64_t copy_rate_bytes_per_second = 0;  // 0: unlimited
  int nbd_threads = 8;
  std::function<void(const InstantProgress&)> progress;
  const std::atomic<bool>* cancel = nullptr;
  std::string qemu_img = "qemu-img";
};

struct InstantRestoreResult {
  bool healthy = false;
  bool copied = false;            // pivoted: the guest runs from the target alone
  double seconds_to_started = 0;  // QEMU running
  double seconds_to_healthy = 0;
  double seconds_to_copied = 0;
  uint64_t disk_bytes = 0;
  uint64_t copied_bytes = 0;
  uint64_t source_bytes_at_healthy = 0;      // in-process export only
  uint64_t guest_read_bytes_at_healthy = 0;  // what the guest read from its disk (QEMU's count)
  uint64_t source_bytes_total = 0;
  std::string target, overlay, qmp_socket, serial_socket, nbd_uri;
  pid_t qemu_pid = 0;
  bool guest_running = false;
  std::optional<Error> failure;
};

InstantRestoreResult run_instant_restore(const InstantRestoreOptions& options);

}  // namespace pvesafe::jobs
