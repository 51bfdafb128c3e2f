#include "cli/disk_source.h"

#include "core/error.h"

namespace pvesafe::cli {

void add_disk_source_flags(CLI::App* cmd, DiskSourceFlags& f) {
  add_passphrase_flags(cmd, f.repo);
  cmd->add_option("snapshot", f.snapshot, "Snapshot id, unique prefix, or latest");
  cmd->add_option("--disk", f.disk, "The snapshot's disk to use (e.g. drive-scsi0)");
  cmd->add_option("--image", f.image, "A raw disk image file instead of a snapshot's disk");
}

bool disk_source_given(const DiskSourceFlags& f) {
  if (!f.image.empty() && (!f.snapshot.empty() || !f.disk.empty())) {
    throw Error(Errc::kUsage, "give either SNAPSHOT --disk NAME or --image FILE, not both");
  }
  if (!f.image.empty()) return true;
  if (f.snapshot.empty() && f.disk.empty()) return false;
  if (f.snapshot.empty() || f.disk.empty()) {
    throw Error(Errc::kUsage, "a snapshot's disk needs both SNAPSHOT and --disk NAME",
                "e.g. pvesafe nbd 0f1e2d3c --disk drive-scsi0 --socket /run/pvesafe/disk.sock");
  }
  return true;
}

namespace {

// The repository integration replaces this function's body with
//   return repo::open_snapshot_disk(open_repository(g, f.repo), f.snapshot, f.disk);
// Everything around it (export, instant restore) already works on any BlockSource.
std::shared_ptr<BlockSource> open_snapshot_disk(const GlobalOptions& g, const DiskSourceFlags& f) {
  (void)g;
  throw Error(Errc::kUnsupported,
              "serving disk " + f.disk + " of snapshot " + f.snapshot +
                  " needs the repository's disk reader, which this build does not have yet",
              "restore the snapshot to a raw file (pvesafe restore SNAPSHOT --to FILE) and use "
              "--image FILE");
}

}  // namespace

std::shared_ptr<BlockSource> open_disk_source(const GlobalOptions& g, const DiskSourceFlags& f) {
  if (!disk_source_given(f)) {
    throw Error(Errc::kUsage, "no disk given", "give SNAPSHOT --disk NAME, or --image FILE");
  }
  if (!f.image.empty()) return std::make_shared<FileBlockSource>(f.image);
  return open_snapshot_disk(g, f);
}

}  // namespace pvesafe::cli
