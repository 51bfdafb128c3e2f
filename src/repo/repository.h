// Repository: a set of objects in an ObjectStore, laid out as docs/format.md (version 2) says
// (repo/layout.h names them): a plaintext config whose settings a MAC authenticates, key files
// holding the repository secrets under user passphrases, chunks in packs with index objects,
// snapshot manifests written last. Every object except config is an OpenPGP message under the
// data passphrase (fast S2K). Format 1 repositories (one object per chunk under data/) open and
// restore; the first backup into one upgrades its config to format 2.
//
// A Repository is safe to use from several threads for the object calls (seal/unseal/load/save,
// chunk_id); key management and snapshot listing are meant for one thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/direct_io.h"
#include "core/secret.h"
#include "repo/chunk_id.h"
#include "repo/manifest.h"
#include "store/object_store.h"

namespace pvesafe::repo {

inline constexpr int kFormatVersion = 2;

// Content-defined chunking of byte streams.
// The defaults come from bench/dedup/chunk_sizes.sh (docs/format.md, "Chunks").
struct ChunkerParams {
  uint32_t min_size_bytes = 32 * 1024;
  uint32_t avg_size_bytes = 128 * 1024;
  uint32_t max_size_bytes = 512 * 1024;
};

struct RepositoryConfig {
  int version = kFormatVersion;
  std::string id;            // 32 hex digits
  std::string created_utc;   // ISO 8601
  ChunkerParams chunker;
  uint32_t disk_chunk_bytes = 128 * 1024;  // fixed chunks of disks stored by offset
  uint32_t pack_bytes = 32 * 1024 * 1024;  // packs are closed once they reach this size
  // The largest plaintext a chunk of this repository may hold (decoding refuses more).
  uint64_t max_chunk_bytes() const;
};

// Selects snapshots; empty fields match everything.
struct SnapshotFilter {
  std::string node;
  std::string guest_id;
  std::string guest_type;
  std::string hostname;
  std::map<std::string, std::string> tags;  // all must match
  bool matches(const SnapshotInfo& s) const;
};

struct KeyInfo {
  std::string id;
  // When and on which host the key file was written: known for the current key only, since a
  // key file opens only with its own passphrase (empty for the others).
  std::string created_utc;
  std::string hostname;
  bool current = false;  // the key that opened this Repository
};

struct InitOptions {
  ChunkerParams chunker;
  uint32_t disk_chunk_bytes = RepositoryConfig{}.disk_chunk_bytes;
  uint32_t pack_bytes = RepositoryConfig{}.pack_bytes;
};

class Repository {
 public:
  // Creates config and the first key file. kConfig if the location already holds a repository;
  // kUsage for settings out of range. Returns the opened repository.
  static Repository init(std::unique_ptr<store::ObjectStore> store, const Secret& passphrase,
                         const InitOptions& options = {});
  // Opens an existing repository: kConfig if there is none at the location, kUnsupported for a
  // format newer than kFormatVersion, kAuth if the passphrase opens none of the key files,
  // kIntegrity when the config's settings fail their MAC (someone with write access to the store
  // changed them).
  static Repository open(std::unique_ptr<store::ObjectStore> store, const Secret& passphrase);
  // Reads and checks the plaintext config only (no passphrase needed; not authenticated).
  static RepositoryConfig read_config(store::ObjectStore& store);

  Repository(Repository&&) noexcept;
  Repository& operator=(Repository&&) noexcept;
  ~Repository();

  const RepositoryConfig& config() const;
  store::ObjectStore& store() const;
  std::string location() const;
  // Upgrades a format 1 repository to format 2 (writes the authenticated config). Returns true
  // when it did; pvesafe versions before format 2 can no longer open the repository afterwards.
  bool upgrade_format();

  // --- keys ---------------------------------------------------------------------------------
  std::string current_key_id() const;
  std::vector<KeyInfo> list_keys();
  // Writes a new key file for the same repository secrets under another passphrase.
  std::string add_key(const Secret& passphrase);
  // Refuses (kUsage) to remove the last key or the key in use.
  void remove_key(const std::string& id_or_prefix);
  // add_key(new) then remove the current key; returns the new key id.
  std::string change_passphrase(const Secret& new_passphrase);

  // --- objects ------------------------------------------------------------------------------
  // Chunk id: HMAC-SHA-256(chunk-id key, plaintext).
  ChunkId chunk_id(std::span<const uint8_t> plaintext) const;
  // Random gear table seed (32 bytes) for the chunker.
  std::span<const uint8_t> gear_seed() const;
  // OpenPGP-encrypts under the data passphrase (fast S2K).
  std::vector<uint8_t> seal(std::span<const uint8_t> plaintext) const;
  // The same for a plaintext in pieces, sealed into page-aligned memory (which the local store
  // writes to disk without another copy).
  AlignedBuffer seal(std::span<const std::span<const uint8_t>> plaintext) const;
  // Decrypts an object read from `key`; errors name the key (kIntegrity for corruption). At most
  // max_bytes of plaintext are accepted.
  std::vector<uint8_t> unseal(std::span<const uint8_t> object, const std::string& key,
                              uint64_t max_bytes = uint64_t{16} << 30) const;
  std::vector<uint8_t> load(const std::string& key);  // get + unseal
  void save(const std::string& key, std::span<const uint8_t> plaintext);  // seal + put
  // Structure objects (index objects, pack headers): one zstd frame of text, sealed.
  AlignedBuffer seal_text(const std::string& text) const;
  std::string unseal_text(std::span<const uint8_t> object, const std::string& key) const;

  // --- snapshots ----------------------------------------------------------------------------
  // All snapshots, oldest first (repo/manifest.h: snapshot_before). Unreadable manifests throw
  // kIntegrity naming the key.
  std::vector<SnapshotInfo> list_snapshots();
  std::vector<SnapshotInfo> list_snapshots(const SnapshotFilter& filter);
  // Full id from an id, a unique prefix, or "latest" (newest matching filter).
  // kNotFound if none, kUsage if a prefix is ambiguous.
  std::string resolve_snapshot(const std::string& id_prefix_or_latest,
                               const SnapshotFilter& filter = {});
  // kIntegrity when the manifest's id is not the one its name says.
  Manifest load_manifest(const std::string& snapshot_id);
  // Writes snapshots/<id> (the commit point of a backup).
  void save_manifest(const Manifest& manifest);
  void remove_snapshot(const std::string& snapshot_id);

 private:
  struct Impl;
  explicit Repository(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Random lowercase hex string of `bytes` random bytes.
std::string random_hex(size_t bytes);

}  // namespace pvesafe::repo
