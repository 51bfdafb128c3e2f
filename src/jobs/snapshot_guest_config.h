// The guest config a snapshot's vzdump archive carries, read without restoring the archive: a
// VMA snapshot keeps qemu-server.conf as a part of its own (one chunk); a container's tar starts
// with ./etc/vzdump/pct.conf, so only its first chunks are fetched. Restore planning reads it to
// know which storages a guest's volumes were on.
#pragma once

#include <string>

#include "repo/repository.h"

namespace pvesafe::jobs {

// kUnsupported when the snapshot holds no vzdump archive whose config can be found.
std::string snapshot_guest_config(repo::Repository& repo, const std::string& snapshot_id);

}  // namespace pvesafe::jobs
