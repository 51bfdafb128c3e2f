#include "cli/disk_source.h"

#include "core/error.h"
#include "repo/disk_reader.h"

namespace pvesafe::cli {

void add_disk_source_flags(CLI::App* cmd, DiskSourceFlags& f) {
  add_passphrase_flags(cmd, f.repo);
  cmd->add_option("snapshot", f.snapshot, "Snapshot id, unique prefix, or latest");
  cmd->add_option("--disk", f.disk, "The snapshot's disk to use (e.g. drive-scsi0; `pvesafe snapshots` lists them)");
  cmd->add_option("--guest", f.guest, "With latest: the newest snapshot of this guest");
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

// The disk of a snapshot, with the repository it reads from (which must outlive it).
class RepositoryDisk : public BlockSource {
 public:
  RepositoryDisk(repo::Repository repo, const DiskSourceFlags& f) : repo_(std::move(repo)) {
    repo::SnapshotFilter filter;
    filter.guest_id = f.guest;
    disk_ = repo::open_snapshot_disk(repo_, f.snapshot, f.disk, {}, filter);
  }
  uint64_t size() const override { return disk_->size(); }
  void read(uint64_t offset, uint8_t* buf, size_t n) override { disk_->read(offset, buf, n); }
  std::vector<BlockExtent> extents(uint64_t offset, uint64_t n) override { return disk_->extents(offset, n); }
  std::string name() const override { return disk_->name(); }
  uint64_t fetched_bytes() const override { return disk_->fetched_bytes(); }
  // The store counts from its creation in open_repository(): the key file is included.
  uint64_t store_bytes_read() const { return repo_.store().requests().bytes_received; }

 private:
  repo::Repository repo_;
  std::unique_ptr<BlockSource> disk_;
};

}  // namespace

std::shared_ptr<BlockSource> open_disk_source(const GlobalOptions& g, const DiskSourceFlags& f) {
  if (!disk_source_given(f)) {
    throw Error(Errc::kUsage, "no disk given", "give SNAPSHOT --disk NAME, or --image FILE");
  }
  if (!f.image.empty()) return std::make_shared<FileBlockSource>(f.image);
  return std::make_shared<RepositoryDisk>(open_repository(g, f.repo), f);
}

uint64_t repository_bytes_read(const BlockSource& disk) {
  auto* r = dynamic_cast<const RepositoryDisk*>(&disk);
  return r ? r->store_bytes_read() : 0;
}

}  // namespace pvesafe::cli
