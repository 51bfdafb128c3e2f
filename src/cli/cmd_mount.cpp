// pvesafe mount MOUNTPOINT [--snapshot ID] [--guest ID]: the repository's guest snapshots as a
// read-only FUSE file system (mount/snapshot_fs.h) until Ctrl-C, SIGTERM or fusermount3 -u.
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/error.h"
#include "mount/snapshot_fs.h"

namespace pvesafe::cli {

namespace {

struct MountFlags {
  RepoFlags repo;
  std::string mountpoint;
  std::string snapshot;
  std::string guest;
  int threads = 8;
  uint64_t cache_mib = 128;
  bool debug = false;
};

constexpr char kMountFooter[] = R"(
Layout (read-only; files 0400 and directories 0500, owned by you, not visible to other users):
  MOUNTPOINT/<snapshot id>/drive-scsi0.raw     each disk as a raw image of its full size
  MOUNTPOINT/<snapshot id>/qemu-server.conf    the guest's config (and qemu-server.fw, if any)
  MOUNTPOINT/<snapshot id>/snapshot.json       time, node, guest, disks
Only guest (VMA) snapshots are shown; the set is read when mounting.

A disk file reads through the repository's disk reader: a read fetches only the chunks it
covers (authenticated, decrypted, cached; sequential reads fetch ahead), unused regions read as
zeros at no cost. A read the repository cannot deliver fails with EIO; no wrong byte is
returned. Anything that reads a raw image works on these files: `qemu-img info`, `sfdisk -l`,
`debugfs`, `qemu-nbd`, a loop device (as root: `losetup -r -P`), `qm importdisk`.

Stops and unmounts on Ctrl-C, SIGTERM, SIGHUP or `fusermount3 -u MOUNTPOINT`; exit 0 (also
when started in the background of a script, which starts it with SIGINT ignored). With --json:
a "mounted" line, then a "summary" line (reads, failed reads, bytes fetched) on exit.
Exit codes: 0 unmounted cleanly, 2 usage (mount point not a directory), 3 configuration,
4 passphrase, 5 no snapshot with disks matches, 8 the kernel refused the mount (no /dev/fuse,
already mounted), 12 unsupported format (see docs/exit-codes.md).)";

}  // namespace

void register_mount(CLI::App& app, GlobalOptions& global) {
  auto f = std::make_shared<MountFlags>();
  auto* cmd = app.add_subcommand("mount",
                                 "Mount the repository's guest snapshots read-only (FUSE): each disk as a raw "
                                 "image file, the guest config beside it");
  cmd->add_option("mountpoint", f->mountpoint, "An existing (empty) directory")->required();
  cmd->add_option("--snapshot", f->snapshot, "Only this snapshot (id, unique prefix, or latest)");
  cmd->add_option("--guest", f->guest, "Only this guest's snapshots (with --snapshot latest: its newest)");
  cmd->add_option("--threads", f->threads, "FUSE worker threads")->capture_default_str();
  cmd->add_option("--cache-mib", f->cache_mib, "Decoded chunk cache per open disk, MiB")->capture_default_str();
  cmd->add_flag("--fuse-debug", f->debug, "libfuse's debug output on stderr");
  add_passphrase_flags(cmd, f->repo);
  cmd->footer(kMountFooter);
  cmd->callback([f, &global] {
    repo::Repository repo = open_repository(global, f->repo);
    mount::MountOptions o;
    o.mountpoint = f->mountpoint;
    o.snapshot = f->snapshot;
    o.filter.guest_id = f->guest;
    o.threads = f->threads;
    o.debug = f->debug;
    o.disk.cache_bytes = f->cache_mib << 20;
    auto log_mu = std::make_shared<std::mutex>();
    o.on_mounted = [&](size_t n) {
      if (global.json) {
        std::cout << nlohmann::json{{"message_type", "mounted"}, {"mountpoint", f->mountpoint}, {"snapshots", n}}.dump()
                  << std::endl;
      } else if (!global.quiet) {
        std::cerr << fmt::format("pvesafe: {} snapshot{} mounted on {} (read-only); Ctrl-C or fusermount3 -u to unmount",
                                 n, n == 1 ? "" : "s", f->mountpoint)
                  << std::endl;
      }
    };
    o.on_read_error = [log_mu](const std::string& m) {
      std::lock_guard lock(*log_mu);
      std::cerr << "pvesafe: warning: " << m << std::endl;
    };
    mount::MountStats stats;
    mount::serve_mount(repo, o, stats);
    if (global.json) {
      std::cout << nlohmann::json{{"message_type", "summary"},
                                  {"mountpoint", f->mountpoint},
                                  {"snapshots", stats.snapshots},
                                  {"disks_opened", stats.disks_opened},
                                  {"reads", stats.reads.load()},
                                  {"read_bytes", stats.read_bytes.load()},
                                  {"failed_reads", stats.failed_reads.load()},
                                  {"fetched_bytes", stats.fetched_bytes}}
                       .dump()
                << std::endl;
    } else if (!global.quiet) {
      std::cerr << fmt::format("pvesafe: unmounted {}: {} reads ({} failed), {} read, {} fetched from the repository",
                               f->mountpoint, stats.reads.load(), stats.failed_reads.load(),
                               human_bytes(stats.read_bytes.load()), human_bytes(stats.fetched_bytes))
                << std::endl;
    }
  });
}

}  // namespace pvesafe::cli
