#include "repo/object_hold.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <set>
#include <string_view>

#include "core/error.h"
#include "core/worker_group.h"
#include "repo/layout.h"
#include "repo/repository.h"

namespace pvesafe::repo {

std::optional<HoldPlan> hold_plan(Repository& repo, std::chrono::system_clock::time_point start) {
  store::ObjectLock* lock = repo.store().object_lock();
  if (!lock || !lock->enabled()) return std::nullopt;
  auto rule = lock->rule();
  if (!rule || rule->period.count() <= 0) return std::nullopt;
  return HoldPlan{*rule, start + rule->period};
}

std::vector<std::string> objects_to_hold(Repository& repo, const ChunkIndex& index,
                                         const std::vector<ChunkId>& reused) {
  std::set<std::string> keys;
  std::set<uint32_t> packs;
  for (const auto& id : reused) {
    const ChunkLocation* loc = index.find(id);
    if (!loc) continue;
    if (loc->loose()) {
      keys.insert(layout::loose_chunk(id.hex()));
    } else {
      packs.insert(loc->pack);
    }
  }
  for (uint32_t p : packs) {
    keys.insert(layout::pack(index.pack_id(p)));
    for (auto& k : index.index_keys_naming(p)) keys.insert(std::move(k));
  }
  // What opens the repository at all.
  keys.insert(std::string(layout::kConfig));
  for (auto prefix : {layout::kKeys, layout::kKeyInfo}) {
    repo.store().list(std::string(prefix), [&](const store::ObjectInfo& o) {
      if (layout::id_in(o.key, prefix, 32)) keys.insert(o.key);
    });
  }
  return {keys.begin(), keys.end()};
}

HoldResult hold_objects(Repository& repo, const std::vector<std::string>& keys,
                        const HoldPlan& plan, int threads) {
  const auto start = std::chrono::steady_clock::now();
  HoldResult r;
  store::ObjectLock* lock = repo.store().object_lock();
  if (!lock || keys.empty()) return r;
  if (const char* off = std::getenv("PVESAFE_TEST_NO_RETENTION_EXTENSION");
      off && std::string_view(off) == "1") {
    r.skipped = true;
    return r;
  }
  const uint64_t before = lock->retention_requests();
  const auto target = plan.until + plan.rule.margin;
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> extended{0};
  WorkerGroup group;
  group.spawn(
      std::clamp<int>(threads, 1, static_cast<int>(std::min<size_t>(keys.size(), 64))), [&] {
        for (size_t i = next++; i < keys.size() && !group.failed(); i = next++) {
          std::optional<store::Retention> now;
          try {
            now = lock->retention(keys[i]);
          } catch (const Error& e) {
            // Gone since the index was read (a gc that ran meanwhile): the commit check that
            // follows tells whether the snapshot needed it.
            if (e.code() == Errc::kNotFound) continue;
            throw;
          }
          if (now && now->until >= plan.until) continue;
          // An object under COMPLIANCE stays so; a GOVERNANCE one is extended in its own mode
          // unless the rule asks for COMPLIANCE (a mode can be raised, never lowered).
          lock->set_retention(keys[i], target, plan.rule.compliance || (now && now->compliance));
          extended.fetch_add(1, std::memory_order_relaxed);
        }
      });
  group.join();
  r.objects = keys.size();
  r.extended = extended.load();
  r.requests = lock->retention_requests() - before;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace pvesafe::repo
