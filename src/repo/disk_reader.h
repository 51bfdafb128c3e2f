// A snapshot's disk as a BlockSource (core/block_source.h): random access to any byte range of a
// disk of a vma snapshot, for the NBD export, the FUSE mount, file extraction and instant
// recovery.
//
//  - A read fetches only the chunks it covers, one range request each (a chunk is a range of its
//    pack), decrypts, decompresses and authenticates them (repo/chunk_reader.h): bytes that fail
//    any check are never returned; the read throws kIntegrity instead.
//  - Decoded chunks are kept in a cache bounded in bytes (LRU); two readers wanting the same chunk
//    wait for one fetch.
//  - Sequential reads start read-ahead of the next chunks in the background.
//  - Regions no chunk covers are zeros, answered without I/O, and extents() reports them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/block_source.h"
#include "repo/repository.h"

namespace pvesafe::repo {

struct DiskReaderOptions {
  uint64_t cache_bytes = 128ull << 20;
  int readahead_chunks = 8;  // chunks fetched ahead of a sequential reader (0: none)
  int fetch_threads = 4;     // background fetches (read-ahead)
};

// Opens disk `disk` of `snapshot` (id, prefix or "latest" with filter). kNotFound for a snapshot
// without disks or a disk name it does not have (naming the disks it has). The repository must
// outlive the returned source.
std::unique_ptr<BlockSource> open_snapshot_disk(Repository& repo, const std::string& snapshot,
                                                const std::string& disk, const DiskReaderOptions& options = {},
                                                const SnapshotFilter& filter = {});

}  // namespace pvesafe::repo
