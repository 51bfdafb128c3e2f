// Repository: a set of objects in an ObjectStore, laid out as docs/format.md (version 1) says:
//   config              plaintext JSON: format version, repository id, chunker parameters
//   keys/<id>           OpenPGP message under a user passphrase (strong S2K) holding the
//                       repository secrets (data passphrase, chunk-id HMAC key, gear seed)
//   data/<2 hex>/<id>   chunks: OpenPGP(zstd frame(plaintext)), id = HMAC-SHA-256(plaintext)
//   snapshots/<id>      manifests: OpenPGP(JSON), written last
//   locks/<id>          lock objects: OpenPGP(JSON)
// Every object except config is encrypted under the data passphrase (fast S2K).
//
// A Repository is safe to use from several threads for the object calls (seal/open/load/save,
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
#include "store/object_store.h"

namespace pvesafe::repo {

inline constexpr int kFormatVersion = 1;

struct ChunkerParams {
  uint32_t min_size_bytes = 512 * 1024;
  uint32_t avg_size_bytes = 2 * 1024 * 1024;
  uint32_t max_size_bytes = 8 * 1024 * 1024;
};

struct RepositoryConfig {
  int version = kFormatVersion;
  std::string id;            // 32 hex digits
  std::string created_utc;   // ISO 8601
  ChunkerParams chunker;
};

struct ChunkRef {
  std::string id;           // 64 hex digits
  uint64_t size_bytes = 0;  // plaintext size
};

struct SnapshotInfo {
  std::string id;           // 32 hex digits
  std::string time_utc;     // ISO 8601 UTC, "2026-11-26T01:00:00Z"
  std::chrono::system_clock::time_point time;
  std::string hostname;     // machine that ran the backup
  std::string node;         // PVE node
  std::string guest_id;     // "100"
  std::string guest_type;   // qemu | lxc | ""
  std::string file_name;
  uint64_t size_bytes = 0;
  std::map<std::string, std::string> tags;
  uint64_t chunk_count = 0;
};

struct Manifest {
  SnapshotInfo info;
  std::vector<ChunkRef> chunks;
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
};

class Repository {
 public:
  // Creates config and the first key file. kConfig if the location already holds a repository.
  // Returns the opened repository.
  static Repository init(std::unique_ptr<store::ObjectStore> store, const Secret& passphrase,
                         const InitOptions& options = {});
  // Opens an existing repository: kConfig if there is none at the location, kUnsupported for a
  // format newer than kFormatVersion, kAuth if the passphrase opens none of the key files.
  static Repository open(std::unique_ptr<store::ObjectStore> store, const Secret& passphrase);
  // Reads and checks the plaintext config only (no passphrase needed).
  static RepositoryConfig read_config(store::ObjectStore& store);

  Repository(Repository&&) noexcept;
  Repository& operator=(Repository&&) noexcept;
  ~Repository();

  const RepositoryConfig& config() const;
  store::ObjectStore& store() const;
  std::string location() const;

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
  // Chunk id: lowercase hex of HMAC-SHA-256(hmac key, plaintext).
  std::string chunk_id(std::span<const uint8_t> plaintext) const;
  static std::string chunk_key(const std::string& chunk_id);  // "data/ab/ab12..."
  // Random gear table seed (32 bytes) for the chunker.
  std::span<const uint8_t> gear_seed() const;
  // OpenPGP-encrypts under the data passphrase (fast S2K).
  std::vector<uint8_t> seal(std::span<const uint8_t> plaintext) const;
  // The same for a plaintext in pieces, sealed into page-aligned memory (which the local store
  // writes to disk without another copy).
  AlignedBuffer seal(std::span<const std::span<const uint8_t>> plaintext) const;
  // Decrypts an object read from `key`; errors name the key (kIntegrity for corruption).
  std::vector<uint8_t> unseal(std::span<const uint8_t> object, const std::string& key) const;
  std::vector<uint8_t> load(const std::string& key);  // get + unseal
  void save(const std::string& key, std::span<const uint8_t> plaintext);  // seal + put

  // --- snapshots ----------------------------------------------------------------------------
  // All snapshots, oldest first. Unreadable manifests throw kIntegrity naming the key.
  std::vector<SnapshotInfo> list_snapshots();
  std::vector<SnapshotInfo> list_snapshots(const SnapshotFilter& filter);
  // Full id from an id, a unique prefix, or "latest" (newest matching filter).
  // kNotFound if none, kUsage if a prefix is ambiguous.
  std::string resolve_snapshot(const std::string& id_prefix_or_latest,
                               const SnapshotFilter& filter = {});
  Manifest load_manifest(const std::string& snapshot_id);
  // Writes snapshots/<id> (the commit point of a backup).
  void save_manifest(const Manifest& manifest);
  void remove_snapshot(const std::string& snapshot_id);

  // Set of chunk ids present in data/ (one list call).
  std::vector<store::ObjectInfo> list_chunks();

 private:
  struct Impl;
  explicit Repository(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Random lowercase hex string of `bytes` random bytes.
std::string random_hex(size_t bytes);
// "2026-11-26T01:00:00Z" <-> time_point (second precision).
std::string format_utc(std::chrono::system_clock::time_point t);
std::optional<std::chrono::system_clock::time_point> parse_utc(const std::string& s);

// Manifest <-> JSON text (the exact layout of docs/format.md: one chunk per line).
std::string manifest_to_json(const Manifest& m);
Manifest manifest_from_json(const std::string& text, const std::string& key_for_errors);

}  // namespace pvesafe::repo
