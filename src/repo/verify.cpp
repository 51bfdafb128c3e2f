#include "repo/verify.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "repo/restore.h"

namespace pvesafe::repo {

VerifyResult verify(Repository& repo, const VerifyOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  VerifyResult r;
  std::mutex mu;

  std::vector<std::string> snapshot_keys;
  repo.store().list("snapshots/", [&](const store::ObjectInfo& o) { snapshot_keys.push_back(o.key); });
  std::sort(snapshot_keys.begin(), snapshot_keys.end());

  std::unordered_map<std::string, store::ObjectInfo> in_store;
  for (auto& o : repo.list_chunks()) in_store.emplace(o.key.substr(o.key.find_last_of('/') + 1), o);
  r.chunks_in_store = in_store.size();

  // id -> expected plaintext size (from any snapshot naming it)
  std::unordered_map<std::string, uint64_t> expected;
  for (const auto& key : snapshot_keys) {
    std::string sid = key.substr(10);
    Manifest m;
    try {
      auto plain = repo.load(key);
      m = manifest_from_json(std::string(plain.begin(), plain.end()), key);
    } catch (const Error& e) {
      if (e.code() == Errc::kNotFound) continue;
      r.problems.push_back({key, sid, e.message()});
      continue;
    }
    ++r.snapshots;
    if (m.info.id != sid) {
      r.problems.push_back({key, sid, "snapshot " + key + " names itself " + m.info.id});
    }
    std::unordered_map<std::string, bool> reported;
    for (const auto& c : m.chunks) {
      auto [it, fresh] = expected.emplace(c.id, c.size_bytes);
      if (!fresh && it->second != c.size_bytes) {
        r.problems.push_back({Repository::chunk_key(c.id), sid,
                              "snapshots disagree about the size of chunk " + Repository::chunk_key(c.id)});
      }
      if (!in_store.count(c.id) && !reported[c.id]) {
        reported[c.id] = true;
        r.problems.push_back({Repository::chunk_key(c.id), sid,
                              "snapshot " + sid + " needs chunk " + Repository::chunk_key(c.id) + ", which is missing"});
      }
    }
  }
  r.chunks_referenced = expected.size();

  if (options.read_data) {
    std::vector<const store::ObjectInfo*> todo;
    todo.reserve(in_store.size());
    for (auto& [id, o] : in_store) todo.push_back(&o);
    std::sort(todo.begin(), todo.end(), [](auto* a, auto* b) { return a->key < b->key; });
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> bytes{0}, read{0};
    int threads = options.threads > 0
                      ? options.threads
                      : std::clamp<int>(std::max<int>(std::thread::hardware_concurrency(),
                                                      repo.store().preferred_parallelism()), 2, 32);
    auto worker = [&] {
      for (;;) {
        size_t i = next++;
        if (i >= todo.size()) return;
        const auto& o = *todo[i];
        std::string id = o.key.substr(o.key.find_last_of('/') + 1);
        try {
          auto object = repo.store().get(o.key);
          bytes += object.size();
          std::optional<uint64_t> size;
          if (auto it = expected.find(id); it != expected.end()) size = it->second;
          decode_chunk(repo, id, object, size);
        } catch (const Error& e) {
          std::lock_guard lock(mu);
          r.problems.push_back({o.key, "", e.message()});
        }
        ++read;
        if (options.progress) {
          std::lock_guard lock(mu);
          Progress p;
          p.bytes_done = read;
          p.bytes_total = todo.size();
          p.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          options.progress(p);
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    r.chunks_read = read;
    r.bytes_read = bytes;
  }
  std::sort(r.problems.begin(), r.problems.end(),
            [](const VerifyProblem& a, const VerifyProblem& b) { return a.key < b.key; });
  r.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace pvesafe::repo
