// A libext2fs io_manager that reads a BlockSource, so libext2fs opens a file system inside a
// snapshot's disk (read through the repository's disk reader) without a kernel mount, a loop
// device, root, or a restore of the disk.
//
// open_ext2fs() registers the source under a private name for the duration of ext2fs_open2():
// the channel keeps a pointer to the source, which must outlive the ext2_filsys. Read-only:
// writes fail with EROFS. When a read of the source throws (a chunk that fails authentication,
// a store that stops answering), the channel returns an error to libext2fs and keeps the
// pvesafe::Error; rethrow_io_error() rethrows it, so callers report the real cause (kIntegrity,
// kTransient) instead of libext2fs's generic "short read".
#pragma once

#include <ext2fs/ext2fs.h>

#include "core/block_source.h"

namespace pvesafe::fs {

// ext2fs_open2() on `source` with `flags` (EXT2_FLAG_RW is refused). Returns libext2fs's error
// code; *fs is set on success.
errcode_t open_ext2fs(BlockSource& source, int flags, ext2_filsys* fs);

// If the last failed read on fs's channel came from a pvesafe::Error, throws it (once).
void rethrow_io_error(ext2_filsys fs);

}  // namespace pvesafe::fs
