// The one place that names the objects of a repository (docs/format.md, "Objects and keys"):
//   config                    plaintext settings, authenticated by a MAC (format 2)
//   keys/<32 hex>             key files
//   keyinfo/<32 hex>          format 3: a key file's mode, time and host (structure passphrase)
//   snapshots/<32 hex>        snapshot manifests (the commit point of a backup)
//   packs/<2 hex>/<64 hex>    packs: chunk messages back to back, then the pack's own header
//   index/<64 hex>            where each chunk of some packs lives
//   data/<2 hex>/<64 hex>     format 1 chunks, one object each (read, never written any more)
//   locks/<32 hex>            locks
//   gc/pending                unreferenced chunks gc has seen, with the time it first saw them
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pvesafe::repo::layout {

inline constexpr std::string_view kConfig = "config";
inline constexpr std::string_view kKeys = "keys/";
inline constexpr std::string_view kKeyInfo = "keyinfo/";
inline constexpr std::string_view kSnapshots = "snapshots/";
inline constexpr std::string_view kPacks = "packs/";
inline constexpr std::string_view kIndex = "index/";
inline constexpr std::string_view kData = "data/";
inline constexpr std::string_view kLocks = "locks/";
inline constexpr std::string_view kGcPending = "gc/pending";

std::string key_file(std::string_view id);
std::string key_info(std::string_view id);
std::string snapshot(std::string_view id);
std::string pack(std::string_view pack_id);          // packs/ab/ab12...
std::string index(std::string_view index_id);
std::string loose_chunk(std::string_view chunk_id);  // data/ab/ab12...
std::string lock(std::string_view id);

// The id at the end of `key` when key lies under `prefix` and ends in exactly `hex_digits` hex
// digits (anything else, such as a temporary file, gives nullopt).
std::optional<std::string> id_in(std::string_view key, std::string_view prefix, size_t hex_digits);

// "packs/00/" .. "packs/ff/": the fan-out directories under a prefix.
std::vector<std::string> fanout(std::string_view prefix);

}  // namespace pvesafe::repo::layout
