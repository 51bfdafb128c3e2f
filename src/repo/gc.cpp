#include "repo/gc.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace pvesafe::repo {

namespace {
const char* kPendingKey = "gc/pending";
}

std::unordered_set<std::string> referenced_chunks(Repository& repo,
                                                  const std::vector<std::string>& ids) {
  std::unordered_set<std::string> out;
  for (const auto& id : ids) {
    Manifest m = repo.load_manifest(id);
    for (auto& c : m.chunks) out.insert(std::move(c.id));
  }
  return out;
}

GcResult collect_garbage(Repository& repo, const GcOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  GcResult r;
  std::vector<std::string> snapshot_ids;
  repo.store().list("snapshots/", [&](const store::ObjectInfo& o) { snapshot_ids.push_back(o.key.substr(10)); });
  // Any unreadable manifest aborts gc: deleting on partial knowledge could destroy data.
  auto referenced = referenced_chunks(repo, snapshot_ids);
  r.referenced_chunks = referenced.size();

  auto now = std::chrono::system_clock::now();
  std::map<std::string, std::string> pending;
  if (repo.store().stat(kPendingKey)) {
    auto plain = repo.load(kPendingKey);
    try {
      auto j = nlohmann::json::parse(plain.begin(), plain.end());
      pending = j.at("chunks").get<std::map<std::string, std::string>>();
    } catch (const nlohmann::json::exception&) {
      pending.clear();  // start the grace period afresh
    }
  }
  std::map<std::string, std::string> still_pending;
  std::vector<std::string> remove_keys;
  for (const auto& o : repo.list_chunks()) {
    ++r.total_chunks;
    std::string id = o.key.substr(o.key.find_last_of('/') + 1);
    if (referenced.count(id)) continue;
    bool remove = options.freed.count(id) > 0;
    if (!remove) {
      auto it = pending.find(id);
      if (it != pending.end()) {
        auto seen = parse_utc(it->second);
        if (seen && now - *seen >= options.grace) remove = true;
        else still_pending[id] = it->second;
      } else if (options.grace.count() == 0) {
        remove = true;
      } else {
        still_pending[id] = format_utc(now);
      }
    }
    if (remove) {
      remove_keys.push_back(o.key);
      r.removed_bytes += o.size_bytes;
    }
  }
  r.removed_chunks = remove_keys.size();
  r.pending_chunks = still_pending.size();
  if (!options.dry_run) {
    // Batches, so an interruption leaves a consistent (merely less clean) repository.
    for (size_t i = 0; i < remove_keys.size(); i += 1000) {
      std::vector<std::string> batch(remove_keys.begin() + i,
                                     remove_keys.begin() + std::min(remove_keys.size(), i + 1000));
      repo.store().remove_many(batch);
    }
    if (still_pending.empty()) {
      repo.store().remove(kPendingKey);
    } else {
      nlohmann::json j;
      j["chunks"] = still_pending;
      std::string text = j.dump(1) + "\n";
      repo.save(kPendingKey, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    }
  }
  // Leftovers of interrupted writes: at least a day old, so no backup still writes them.
  r.removed_temporaries = repo.store().remove_abandoned(
      std::max<std::chrono::seconds>(std::chrono::duration_cast<std::chrono::seconds>(options.grace),
                                     std::chrono::hours(24)),
      options.dry_run);
  r.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace pvesafe::repo
