// Snapshot manifests (docs/format.md, "Snapshots"): what one backup stored, as JSON laid out one
// field per line so that a shell can read it.
//
// A format 2 snapshot is one of two kinds:
//   stream  a byte stream (any file, a container tar, anything pvesafe does not look into), cut
//           into content-defined chunks;
//   vma     a VMA archive as vzdump writes it for a qemu guest, stored as its disks (fixed-size
//           chunks at their disk offsets, zero chunks not stored), its config files, and its
//           structure (archive header and extent headers, a small stream of its own) from which
//           restore rebuilds the archive bit for bit.
// Chunk lists are not inline: they are stored as chunks of their own ("list chunks", text, one
// entry per line), named by the manifest, so a manifest stays small whatever the disk size and an
// unchanged region's list dedups from one day to the next. A format 1 manifest lists its chunks
// inline; it still loads, as a stream whose list is in memory already.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/utc_time.h"

namespace pvesafe::repo {

struct ChunkRef {
  std::string id;           // 64 hex digits
  uint64_t size_bytes = 0;  // plaintext size
};

// A list chunk: `entries` lines of a stream or disk chunk list.
struct ListRef {
  std::string id;
  uint64_t size_bytes = 0;  // plaintext size of the list chunk
  uint64_t entries = 0;
};

// A byte stream: its data chunks in order, through list chunks (format 2) or inline (format 1).
struct StreamPart {
  uint64_t size_bytes = 0;
  uint64_t chunk_count = 0;
  std::vector<ListRef> lists;
  std::vector<ChunkRef> inline_chunks;  // format 1 only
};

// One disk chunk: bytes [offset, offset + size) of the disk. Regions without an entry are zero.
struct DiskChunk {
  uint64_t offset = 0;
  std::string id;
  uint64_t size_bytes = 0;
};

struct DiskPart {
  std::string name;       // VMA device name: drive-scsi0, drive-efidisk0, ...
  uint32_t dev_id = 0;    // VMA device id (1..255)
  uint64_t size_bytes = 0;
  uint32_t chunk_bytes = 0;   // fixed chunk size of this disk
  uint64_t chunk_count = 0;   // data chunks (zero chunks are not stored)
  uint64_t data_bytes = 0;    // bytes in those chunks
  std::vector<ListRef> lists;
};

struct ConfigPart {
  std::string name;  // qemu-server.conf, qemu-server.fw
  std::string id;    // chunk holding the file
  uint64_t size_bytes = 0;
};

// How the backed-up archive arrived, when pvesafe decompressed it on the way in.
struct ReceivedArchive {
  std::string name;         // vzdump-qemu-100-...vma.zst
  std::string compression;  // zstd | gzip | lzo
  uint64_t size_bytes = 0;
  std::string sha256;       // of the bytes as received
};

struct SnapshotInfo {
  std::string id;           // 32 hex digits
  std::string time_utc;     // ISO 8601 UTC with microseconds (format 1: seconds)
  std::chrono::system_clock::time_point time;
  // Creation order among snapshots with the same time (nanoseconds at commit; 0 in format 1).
  int64_t commit_ns = 0;
  // Object Lock: every object the snapshot needs is retained at least until then ("" if not).
  std::string retain_until_utc;
  std::string hostname;     // machine that ran the backup
  std::string node;         // PVE node
  std::string guest_id;     // "100"
  std::string guest_type;   // qemu | lxc | ""
  std::string file_name;    // what restore writes (the uncompressed archive's name)
  uint64_t size_bytes = 0;  // size of what restore writes
  std::map<std::string, std::string> tags;
  std::string kind = "stream";  // stream | vma
  uint64_t chunk_count = 0;     // data chunks (all streams and disks)
  std::optional<ReceivedArchive> received;
  struct Disk {
    std::string name;
    uint64_t size_bytes = 0;
  };
  std::vector<Disk> disks;  // kind vma: its disks (from the manifest's disk entries)
};

struct Manifest {
  int format = 2;
  SnapshotInfo info;
  StreamPart stream;  // kind stream: the data; kind vma: the archive structure
  std::vector<DiskPart> disks;
  std::vector<ConfigPart> configs;
  std::string vma_uuid;  // 32 hex digits (kind vma)
};

// Snapshot order: time, then creation order, then id.
bool snapshot_before(const SnapshotInfo& a, const SnapshotInfo& b);

// Manifest <-> JSON text (the exact layout of docs/format.md). Parsing accepts formats 1 and 2;
// kUnsupported for a newer one, kIntegrity for anything malformed (naming key_for_errors).
std::string manifest_to_json(const Manifest& m);
Manifest manifest_from_json(const std::string& text, const std::string& key_for_errors);

// List chunks: "<id> <size>\n" per stream chunk, "<offset> <id> <size>\n" per disk chunk.
std::string stream_list_text(const std::vector<ChunkRef>& chunks, size_t begin, size_t end);
std::string disk_list_text(const std::vector<DiskChunk>& chunks, size_t begin, size_t end);
void parse_stream_list(const std::string& text, const std::string& what, std::vector<ChunkRef>& out);
void parse_disk_list(const std::string& text, const std::string& what, std::vector<DiskChunk>& out);

}  // namespace pvesafe::repo
