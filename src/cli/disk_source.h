// Where a disk that pvesafe serves or instant-restores comes from: a snapshot's disk in the
// repository (SNAPSHOT --disk NAME: repo/disk_reader.h), or a raw image file (--image FILE:
// local images, tests). open_disk_source() is the one place that turns these flags into a
// BlockSource.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/block_source.h"

namespace pvesafe::cli {

struct DiskSourceFlags {
  RepoFlags repo;
  std::string snapshot;  // id, unique prefix or latest
  std::string disk;      // the disk's name in the snapshot (drive-scsi0, ...)
  std::string guest;     // with "latest": the newest snapshot of this guest
  std::string image;     // a raw image file instead of a snapshot
};

// Adds SNAPSHOT (positional, optional), --disk, --guest, --image and the passphrase flags.
void add_disk_source_flags(CLI::App* cmd, DiskSourceFlags& flags);
// True when the flags name a disk (SNAPSHOT --disk or --image); kUsage when they are mixed.
bool disk_source_given(const DiskSourceFlags& flags);
std::shared_ptr<BlockSource> open_disk_source(const GlobalOptions& g, const DiskSourceFlags& flags);
// Bytes received from the repository's store since open_disk_source() opened it: the key file,
// the snapshot's manifest, the chunk index and every chunk range, as the store counts them (what
// crossed the network for S3, what was read from the pack files for a directory). 0 for --image.
uint64_t repository_bytes_read(const BlockSource& disk);

}  // namespace pvesafe::cli
