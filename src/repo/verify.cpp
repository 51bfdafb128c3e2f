#include "repo/verify.h"

#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
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

VerifyResult verify(Repository& repo, const VerifyOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  VerifyResult r;
  std::mutex mu;
  auto problem = [&](std::string key, std::string snapshot, std::string message) {
    std::lock_guard lock(mu);
    r.problems.push_back({std::move(key), std::move(snapshot), std::move(message)});
  };

  ChunkIndex index;
  try {
    index.load(repo, std::max(4, repo.store().preferred_parallelism()));
  } catch (const Error& e) {
    if (e.code() != Errc::kIntegrity) throw;
    problem("index/", "", e.message());
  }
  r.chunks_in_store = index.size();
  std::unordered_map<std::string, uint64_t> pack_sizes;
  repo.store().list(std::string(layout::kPacks), [&](const store::ObjectInfo& o) {
    if (auto id = layout::id_in(o.key, layout::kPacks, 64)) pack_sizes[*id] = o.size_bytes;
  });
  r.packs = pack_sizes.size();

  // Snapshots and what they need.
  std::vector<std::string> ids;
  repo.store().list(std::string(layout::kSnapshots), [&](const store::ObjectInfo& o) {
    if (auto id = layout::id_in(o.key, layout::kSnapshots, 32)) ids.push_back(*id);
  });
  std::sort(ids.begin(), ids.end());
  ChunkSource source(repo, index, "verify");
  std::unordered_map<ChunkId, uint64_t, ChunkIdHash> needed;
  for (const auto& sid : ids) {
    const std::string key = layout::snapshot(sid);
    ReferenceCollector refs(source);  // per snapshot, so a problem names the snapshot it hurts
    try {
      refs.add(repo.load_manifest(sid));
    } catch (const Error& e) {
      if (e.code() == Errc::kNotFound) continue;  // forgotten meanwhile
      problem(key, sid, e.message());
      continue;
    }
    ++r.snapshots;
    for (const auto& [id, size] : refs.chunks()) {
      auto [it, fresh] = needed.emplace(id, size);
      if (!fresh && it->second != size) {
        problem(layout::loose_chunk(id.hex()), sid, "snapshots disagree about the size of chunk " + id.hex());
      }
      const ChunkLocation* loc = index.find(id);
      if (!loc) {
        problem("chunk " + id.hex(), sid, "snapshot " + sid + " needs chunk " + id.hex() + ", which the repository does not have");
        continue;
      }
      if (loc->loose()) continue;
      const std::string& pack = index.pack_id(loc->pack);
      auto ps = pack_sizes.find(pack);
      if (ps == pack_sizes.end()) {
        problem(layout::pack(pack), sid, "snapshot " + sid + " needs chunk " + id.hex() + " from pack " + pack + ", which is missing");
      } else if (uint64_t{loc->offset} + loc->length > ps->second) {
        problem(layout::pack(pack), sid, "pack " + pack + " is shorter than the index says");
      } else if (loc->size != size) {
        problem(layout::pack(pack), sid, "the index and snapshot " + sid + " disagree about the size of chunk " + id.hex());
      }
    }
  }
  r.chunks_referenced = needed.size();

  if (options.read_data) {
    // Every pack whole, and every format 1 object.
    struct Item {
      std::string key;
      std::string pack;    // empty for a loose chunk
      ChunkId loose_id{};
    };
    std::vector<Item> todo;
    for (const auto& [id, size] : pack_sizes) todo.push_back({layout::pack(id), id, {}});
    index.for_each([&](const ChunkId& id, const ChunkLocation& loc) {
      if (loc.loose()) todo.push_back({layout::loose_chunk(id.hex()), "", id});
    });
    std::sort(todo.begin(), todo.end(), [](const Item& a, const Item& b) { return a.key < b.key; });
    // What the index says each pack holds, to compare with the pack's own header.
    std::unordered_map<std::string, size_t> index_counts;
    index.for_each([&](const ChunkId&, const ChunkLocation& loc) {
      if (!loc.loose()) ++index_counts[index.pack_id(loc.pack)];
    });
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> bytes{0}, chunks{0}, done{0}, orphans{0};
    int threads = options.threads > 0 ? options.threads : default_fetch_threads(repo);
    WorkerGroup group;
    group.spawn(threads, [&] {
      for (size_t i = next++; i < todo.size(); i = next++) {
        const Item& it = todo[i];
        try {
          auto object = repo.store().get(it.key);
          bytes += object.size();
          if (it.pack.empty()) {
            auto found = needed.find(it.loose_id);
            std::optional<uint64_t> size;
            if (found != needed.end()) size = found->second;
            source.decode(it.loose_id, object, size, it.key);
            ++chunks;
          } else {
            uint8_t digest[32];
            SHA256(object.data(), object.size(), digest);
            if (to_hex(std::span<const uint8_t>(digest, 32)) != it.pack) {
              throw Error(Errc::kIntegrity, "pack " + it.key + " does not match its name (damaged)");
            }
            auto entries = parse_pack(repo, it.pack, object);
            for (const auto& e : entries) {
              source.decode(e.id, std::span<const uint8_t>(object).subspan(e.offset, e.length), e.size, it.key);
              ++chunks;
            }
            // A pack no index names was left by an interrupted backup: not a problem, gc
            // removes it after the grace period.
            if (!index_counts.count(it.pack)) ++orphans;
          }
        } catch (const Error& e) {
          problem(it.key, "", e.message());
        }
        ++done;
        if (options.progress) {
          std::lock_guard lock(mu);
          Progress p;
          p.bytes_done = done;
          p.bytes_total = todo.size();
          p.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          options.progress(p);
        }
      }
    });
    group.join();
    r.chunks_read = chunks;
    r.orphan_packs = orphans;
    r.bytes_read = bytes;
  }
  std::sort(r.problems.begin(), r.problems.end(),
            [](const VerifyProblem& a, const VerifyProblem& b) { return a.key < b.key; });
  r.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace pvesafe::repo
