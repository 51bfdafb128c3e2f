#include "repo/gc.h"

#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "core/hex.h"
#include "core/worker_group.h"
#include "repo/chunk_index.h"
#include "repo/chunk_reader.h"
#include "repo/layout.h"
#include "repo/pack.h"
#include "repo/references.h"

namespace pvesafe::repo {

namespace {

constexpr size_t kEntriesPerIndexObject = 65536;

struct PackState {
  uint64_t size = 0;        // bytes in the store (0: listed by the index but missing)
  bool listed = false;      // exists under packs/
  uint64_t keep_bytes = 0;  // chunk messages to keep
  uint64_t drop_bytes = 0;  // chunk messages no longer needed
  std::vector<size_t> keep; // indexes into the entry list
};

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

GcResult collect_garbage(Repository& repo, const GcOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const auto now = std::chrono::system_clock::now();
  GcResult r;

  // --- mark -------------------------------------------------------------------------------
  ChunkIndex index;
  index.load(repo, std::max(4, repo.store().preferred_parallelism()));
  ChunkSource source(repo, index, "gc");
  ReferenceCollector refs(source);
  std::vector<std::string> snapshot_ids;
  repo.store().list(std::string(layout::kSnapshots), [&](const store::ObjectInfo& o) {
    if (auto id = layout::id_in(o.key, layout::kSnapshots, 32)) snapshot_ids.push_back(*id);
  });
  std::sort(snapshot_ids.begin(), snapshot_ids.end());
  std::optional<std::chrono::system_clock::time_point> hold_until;  // latest snapshot retention
  for (const auto& id : snapshot_ids) {
    const auto& gone = options.assume_forgotten;
    if (std::find(gone.begin(), gone.end(), id) != gone.end()) continue;
    Manifest m = repo.load_manifest(id);
    if (auto t = parse_utc(m.info.retain_until_utc);
        t && *t > now && (!hold_until || *t > *hold_until))
      hold_until = t;
    refs.add(m);
  }
  store::ObjectLock* lock = repo.store().object_lock();
  if (lock && !lock->enabled()) lock = nullptr;
  store::PutOptions hold;
  if (lock && hold_until) {
    hold.retain_until = *hold_until;
    if (auto rule = lock->rule()) {
      hold.retain_until = *hold_until + rule->margin;
      hold.compliance_mode = rule->compliance;
    }
  }
  uint64_t locked_packs = 0;
  auto note_locked = [&](const std::vector<store::Retained>& kept) {
    r.locked_objects += kept.size();
    for (const auto& k : kept) locked_packs += k.key.starts_with(layout::kPacks) ? 1 : 0;
    if (!kept.empty() && r.locked_example.empty()) {
      r.locked_example = kept.front().key + " until " + format_utc(kept.front().until);
    }
  };
  const auto& live = refs.chunks();
  r.referenced_chunks = live.size();

  // --- what is there ------------------------------------------------------------------------
  std::vector<IndexEntry> entries;
  std::vector<std::vector<IndexEntry>> parts;  // per index object, as index.index_keys()
  {
    const auto& keys = index.index_keys();
    parts.resize(keys.size());
    std::atomic<size_t> next{0};
    WorkerGroup group;
    group.spawn(std::clamp(repo.store().preferred_parallelism(), 1, 16), [&] {
      for (size_t i = next++; i < keys.size() && !group.failed(); i = next++) parts[i] = read_index(repo, keys[i]);
    });
    group.join();
    for (const auto& p : parts) entries.insert(entries.end(), p.begin(), p.end());
  }
  std::unordered_map<std::string, PackState> packs;
  repo.store().list(std::string(layout::kPacks), [&](const store::ObjectInfo& o) {
    if (auto id = layout::id_in(o.key, layout::kPacks, 64)) {
      auto& p = packs[*id];
      p.listed = true;
      p.size = o.size_bytes;
    }
  });
  std::vector<std::string> loose_dead;
  std::map<std::string, std::string> pending;  // "chunk <id>" / "pack <id>" -> first seen
  std::map<std::string, std::string> still_pending;
  if (repo.store().stat(std::string(layout::kGcPending))) {
    auto plain = repo.load(std::string(layout::kGcPending));
    try {
      auto j = nlohmann::json::parse(plain.begin(), plain.end());
      for (const char* kind : {"chunks", "packs"}) {
        if (!j.contains(kind)) continue;
        auto m = j.at(kind).get<std::map<std::string, std::string>>();
        for (const auto& [id, t] : m) pending[std::string(kind).substr(0, 5) == "chunk" ? "chunk " + id : "pack " + id] = t;
      }
    } catch (const nlohmann::json::exception&) {
      pending.clear();  // start the grace period afresh
    }
  }
  // Whether something unreferenced may go now; otherwise it is recorded as pending.
  auto may_remove = [&](const std::string& what) {
    if (options.grace.count() == 0) return true;
    auto it = pending.find(what);
    if (it != pending.end()) {
      auto seen = parse_utc(it->second);
      if (seen && now - *seen >= options.grace) return true;
      still_pending[what] = it->second;
      return false;
    }
    still_pending[what] = format_utc(now);
    return false;
  };

  // --- sweep: decide per chunk, then per pack -----------------------------------------------
  std::unordered_map<ChunkId, bool, ChunkIdHash> decided;  // id -> kept (first copy only)
  std::unordered_map<ChunkId, bool, ChunkIdHash> stored;   // ids with a copy in an existing pack
  for (const auto& e : entries) {
    if (packs[e.pack].listed) stored[e.id] = true;
  }
  uint64_t missing_live = 0;
  std::string missing_example;
  for (size_t i = 0; i < entries.size(); ++i) {
    const IndexEntry& e = entries[i];
    PackState& p = packs[e.pack];
    if (!p.listed) {
      // The index names a pack that is gone: fatal if a snapshot needs the chunk and no other
      // copy exists, otherwise the entry is simply not carried into the new index.
      const ChunkLocation* loc = index.find(e.id);
      if (live.count(e.id) && !stored.count(e.id) && !(loc && loc->loose())) {
        ++missing_live;
        missing_example = e.pack;
      }
      continue;
    }
    auto [it, first] = decided.emplace(e.id, false);
    bool keep = false;
    if (first) {
      ++r.total_chunks;
      if (live.count(e.id)) {
        keep = true;
      } else if (!may_remove("chunk " + e.id.hex())) {
        keep = true;
        ++r.pending_chunks;
      } else {
        ++r.removed_chunks;
      }
      it->second = keep;
    }
    if (keep) {
      p.keep_bytes += e.length;
      p.keep.push_back(i);
    } else {
      p.drop_bytes += e.length;
    }
  }
  if (missing_live > 0) {
    throw Error(Errc::kIntegrity,
                std::to_string(missing_live) + " chunks that snapshots need are in packs that are missing (e.g. " +
                    layout::pack(missing_example) + "); gc changed nothing",
                "run pvesafe verify; restore the packs from a copy");
  }
  // Format 1 chunks, one object each.
  index.for_each([&](const ChunkId& id, const ChunkLocation& loc) {
    if (!loc.loose() || decided.count(id)) return;
    ++r.total_chunks;
    if (live.count(id)) return;
    if (may_remove("chunk " + id.hex())) {
      loose_dead.push_back(layout::loose_chunk(id.hex()));
      ++r.removed_chunks;
    } else {
      ++r.pending_chunks;
    }
  });

  std::vector<std::string> delete_packs, repack;
  uint64_t budget = options.repack_budget_bytes;
  std::vector<std::pair<double, std::string>> sparse;
  for (auto& [id, p] : packs) {
    if (!p.listed) continue;
    ++r.packs;
    const bool named = p.keep_bytes + p.drop_bytes > 0;
    if (!named) {
      // No index names it: an interrupted backup's pack, removed after the grace period.
      ++r.orphan_packs;
      if (may_remove("pack " + id)) {
        delete_packs.push_back(id);
        r.removed_bytes += p.size;
      }
      continue;
    }
    if (p.keep_bytes == 0) {
      delete_packs.push_back(id);
      r.removed_bytes += p.size;
      continue;
    }
    const double share = static_cast<double>(p.keep_bytes) / static_cast<double>(p.keep_bytes + p.drop_bytes);
    if (share < options.repack_below) sparse.emplace_back(share, id);
  }
  // The emptiest packs first: they give back the most per byte rewritten.
  std::sort(sparse.begin(), sparse.end());
  for (const auto& [share, id] : sparse) {
    const PackState& p = packs[id];
    if (lock && p.keep_bytes <= budget && !options.dry_run) {
      // A copy could not replace a pack retention keeps: leave it until it is free.
      auto ret = lock->retention(layout::pack(id));
      if (ret && ret->until > now) {
        ++r.locked_sparse_packs;
        continue;
      }
    }
    if (p.keep_bytes > budget) {
      ++r.kept_sparse_packs;
      continue;
    }
    budget -= p.keep_bytes;
    repack.push_back(id);
  }

  const bool index_changes = !delete_packs.empty() || !repack.empty() ||
                             std::any_of(packs.begin(), packs.end(), [](const auto& kv) {
                               return kv.second.listed && kv.second.drop_bytes > 0;
                             }) ||
                             std::any_of(entries.begin(), entries.end(),
                                         [&](const IndexEntry& e) { return !packs[e.pack].listed; });
  if (options.dry_run) {
    for (const auto& id : repack) {
      const PackState& p = packs[id];
      r.repacked_packs++;
      r.repacked_bytes += p.keep_bytes;
      r.removed_bytes += p.size - p.keep_bytes;
    }
    r.removed_packs = delete_packs.size() + repack.size();
    r.removed_temporaries = repo.store().remove_abandoned(
        std::max<std::chrono::seconds>(options.grace, std::chrono::hours(24)), true);
    r.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

  // --- commit -------------------------------------------------------------------------------
  std::vector<IndexEntry> new_entries;
  if (!repack.empty()) {
    PackBuilder builder(repo.config().pack_bytes);
    auto store_pack = [&] {
      auto pack = builder.finish(repo);
      repo.store().put(layout::pack(pack.id), pack.bytes.span(), hold);
      r.repacked_bytes += pack.bytes.size();
      new_entries.insert(new_entries.end(), pack.entries.begin(), pack.entries.end());
    };
    for (const auto& id : repack) {
      const PackState& p = packs[id];
      auto bytes = repo.store().get(layout::pack(id));
      uint8_t digest[32];
      SHA256(bytes.data(), bytes.size(), digest);
      if (to_hex(std::span<const uint8_t>(digest, 32)) != id) {
        throw Error(Errc::kIntegrity, "pack " + layout::pack(id) + " does not match its name (damaged); gc stopped before deleting anything",
                    "run pvesafe verify --read-data");
      }
      for (size_t i : p.keep) {
        const IndexEntry& e = entries[i];
        if (uint64_t{e.offset} + e.length > bytes.size()) {
          throw Error(Errc::kIntegrity, "pack " + layout::pack(id) + " is shorter than its index says",
                      "run pvesafe verify --read-data");
        }
        builder.add(e.id, std::span<const uint8_t>(bytes).subspan(e.offset, e.length), e.size);
        if (builder.full()) store_pack();
      }
      ++r.repacked_packs;
      r.removed_bytes += p.size;
    }
    if (!builder.empty()) store_pack();
    r.removed_bytes = r.removed_bytes > r.repacked_bytes ? r.removed_bytes - r.repacked_bytes : 0;
    delete_packs.insert(delete_packs.end(), repack.begin(), repack.end());
  }
  r.removed_packs = delete_packs.size();

  if (index_changes) {
    std::unordered_map<std::string, bool> going;
    for (const auto& id : delete_packs) going[id] = true;
    for (auto& [id, p] : packs) {
      if (!p.listed || going.count(id)) continue;
      for (size_t i : p.keep) new_entries.push_back(entries[i]);
    }
    // New index first, then the old objects: in between both are there, which is fine.
    std::vector<std::string> written;
    for (size_t i = 0; i < new_entries.size(); i += kEntriesPerIndexObject) {
      std::vector<IndexEntry> part(new_entries.begin() + static_cast<ptrdiff_t>(i),
                                   new_entries.begin() + static_cast<ptrdiff_t>(std::min(new_entries.size(), i + kEntriesPerIndexObject)));
      written.push_back(write_index(repo, part, hold).key);
    }
    std::vector<std::string> old;
    for (const auto& k : index.index_keys()) {
      if (std::find(written.begin(), written.end(), k) == written.end()) old.push_back(k);
    }
    if (!old.empty() && lock) {
      // An old index object retention keeps still names its packs: those stay too, or a later
      // backup would find chunks in it that are gone.
      auto kept = lock->remove_unretained(old);
      note_locked(kept);
      std::unordered_map<std::string, bool> still_named;
      for (const auto& k : kept) {
        auto at = std::find(index.index_keys().begin(), index.index_keys().end(), k.key);
        if (at == index.index_keys().end()) continue;
        for (const auto& e : parts[static_cast<size_t>(at - index.index_keys().begin())])
          still_named[e.pack] = true;
      }
      std::erase_if(delete_packs, [&](const std::string& id) { return still_named.count(id) > 0; });
    } else if (!old.empty()) {
      repo.store().remove_many(old);
    }
  }
  // Dead packs and chunks last, in batches: an interruption leaves a consistent (merely less
  // clean) repository.
  std::vector<std::string> keys;
  for (const auto& id : delete_packs) keys.push_back(layout::pack(id));
  keys.insert(keys.end(), loose_dead.begin(), loose_dead.end());
  for (size_t i = 0; i < keys.size(); i += 1000) {
    std::vector<std::string> batch(keys.begin() + static_cast<ptrdiff_t>(i),
                                   keys.begin() + static_cast<ptrdiff_t>(std::min(keys.size(), i + 1000)));
    if (lock) {
      note_locked(lock->remove_unretained(batch));
    } else {
      repo.store().remove_many(batch);
    }
  }
  r.removed_packs = delete_packs.size() - std::min<uint64_t>(locked_packs, delete_packs.size());
  // Pending: chunks and packs still within their grace period.
  if (still_pending.empty()) {
    repo.store().remove(std::string(layout::kGcPending));
  } else {
    nlohmann::json chunks = nlohmann::json::object(), orphan = nlohmann::json::object();
    for (const auto& [what, t] : still_pending) {
      if (what.rfind("chunk ", 0) == 0) chunks[what.substr(6)] = t;
      else orphan[what.substr(5)] = t;
    }
    nlohmann::json j{{"chunks", chunks}, {"packs", orphan}};
    std::string text = j.dump(1) + "\n";
    repo.save(std::string(layout::kGcPending), bytes_of(text));
  }
  // Leftovers of interrupted writes: at least a day old, so no backup still writes them.
  r.removed_temporaries = repo.store().remove_abandoned(
      std::max<std::chrono::seconds>(options.grace, std::chrono::hours(24)), false);
  r.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace pvesafe::repo
