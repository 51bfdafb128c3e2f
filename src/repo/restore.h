// restore(): a snapshot -> a sink, bit for bit: a stream snapshot gives its bytes, a vma snapshot
// the VMA archive rebuilt exactly as vzdump wrote it (uncompressed), streamed: the structure
// says which cluster comes next, the disks' chunks are fetched in that order.
// restore_disk(): one disk of a vma snapshot as a raw image (zero regions as holes in a sparse
// file target), for `qm importdisk`, a zvol or an RBD image, without staging the archive.
//
// Chunks are fetched with range requests on packs, several in flight, decrypted, decompressed
// and authenticated (repo/chunk_reader.h) within a bounded window of memory. Errors: kNotFound
// (snapshot, disk), kIntegrity naming snapshot and chunk for anything missing, corrupted or
// mismatching. The sink's finish() is called only after every byte was written.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "repo/backup.h"
#include "repo/chunk_reader.h"
#include "repo/repository.h"
#include "repo/stream.h"

namespace pvesafe::repo {

struct RestoreOptions {
  int threads = 0;              // 0: max(CPUs, store's preferred_parallelism)
  SnapshotFilter filter;        // narrows "latest"
  std::function<void(const Progress&)> progress;
};

struct RestoreResult {
  std::string snapshot_id;
  SnapshotInfo snapshot;
  std::string file_name;  // what was written: the archive's name, or the disk's
  uint64_t size_bytes = 0;
  uint64_t chunks = 0;
  uint64_t requests = 0;       // GET requests to the store
  uint64_t fetched_bytes = 0;  // bytes received from the store
  double duration_seconds = 0;
};

RestoreResult restore(Repository& repo, const std::string& snapshot, ByteSink& sink,
                      const RestoreOptions& options = {});
RestoreResult restore_disk(Repository& repo, const std::string& snapshot, const std::string& disk,
                           ByteSink& sink, const RestoreOptions& options = {});

// A snapshot opened for reading its parts: manifest, index, and its lists once loaded.
class SnapshotReader {
 public:
  SnapshotReader(Repository& repo, const std::string& snapshot_id);
  const Manifest& manifest() const { return manifest_; }
  ChunkSource& source() { return *source_; }
  const ChunkIndex& index() const { return index_; }
  // The data chunks of the stream (kind stream: the data; kind vma: the archive structure).
  std::vector<ChunkRef> stream_chunks();
  // The stored chunks of a disk in offset order; kNotFound naming the disks there are.
  const DiskPart& disk(const std::string& name) const;
  std::vector<DiskChunk> disk_chunks(const DiskPart& disk);
  // A config file's content (qemu-server.conf).
  std::vector<uint8_t> config(const ConfigPart& c);

 private:
  std::vector<std::string> fetch_lists(const std::vector<ListRef>& lists);

  Repository& repo_;
  Manifest manifest_;
  ChunkIndex index_;
  std::unique_ptr<ChunkSource> source_;
};

}  // namespace pvesafe::repo
