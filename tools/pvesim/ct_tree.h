// A container's root file system as files on disk, from the file system model (fs_model.h):
// directories with their modes, the files with their content, modes and times, empty
// directories, symlinks (merged /usr, /etc/localtime), a sparse file (holes stay holes), and
// owners (postgres, www-data, a user) when running as root. Then vzdump's archive of it: GNU tar
// with the flags of pve-container's VZDump/LXC.pm, ./etc/vzdump/pct.conf and pct.fw first, the
// standard excludes, piped into the compressor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fs_model.h"

namespace pvesim {

// Epoch of a model time (day of the history, second of the day): changes of day d happened
// during the calendar day before the backup of day d.
int64_t model_epoch(int day, uint32_t second);

// Writes the tree of `m` into root (which must not exist yet). Returns the number of entries.
uint64_t write_ct_tree(const FsModel& m, const std::string& root);

// The tar command vzdump runs for a container (without the compressor): --directory=tmpdir
// holds ./etc/vzdump/pct.conf and pct.fw, root the container's files.
std::vector<std::string> vzdump_tar_command(const std::string& tmpdir, const std::string& root,
                                            bool unprivileged);

}  // namespace pvesim
