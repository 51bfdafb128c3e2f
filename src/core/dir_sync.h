// Durable directory entries. A file's fsync makes its bytes durable, not its name: after a
// create, rename or mkdir, the directory holding the new entry must be fsynced too, or a power
// loss can leave the old name, no name, or (for a new directory) nothing at all.
//
// sync_directory(DIR) opens DIR and fsyncs it. It returns 0 or the errno of the open or the
// fsync that failed (EIO, ENOSPC, ...), which callers report: a failed directory sync means the
// change may not survive a crash. File systems that cannot sync a directory (EINVAL: some FUSE
// and network file systems) count as success, as they give no stronger guarantee to anyone.
#pragma once

#include <functional>
#include <string>

namespace pvesafe {

int sync_directory(const std::string& dir);

// The directory that holds `path` ("." for a bare name, "/" for "/name").
std::string parent_directory(const std::string& path);

// Test seam: when set, called with each directory sync_directory is asked to sync, before it
// does; a nonzero return is reported as that errno instead of syncing. Set it while no other
// thread syncs; an empty function restores the normal behaviour.
void set_sync_directory_hook(std::function<int(const std::string& dir)> hook);

}  // namespace pvesafe
