#include "repo/restore.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "chunk/compress.h"
#include "core/error.h"
#include "repo/backup.h"

namespace pvesafe::repo {

namespace {
// Decompresses a decrypted chunk payload and checks size and id.
std::vector<uint8_t> decode_frame(const Repository& repo, const std::string& id,
                                  std::span<const uint8_t> frame,
                                  std::optional<uint64_t> expected_size) {
  const std::string key = Repository::chunk_key(id);
  std::vector<uint8_t> plain;
  try {
    plain = chunk::decompress_frame(frame, repo.config().chunker.max_size_bytes);
  } catch (const Error& e) {
    throw Error(Errc::kIntegrity, "chunk " + key + " is damaged: " + e.message(),
                "run pvesafe verify --read-data");
  }
  if (expected_size && plain.size() != *expected_size) {
    throw Error(Errc::kIntegrity,
                "chunk " + key + " holds " + std::to_string(plain.size()) + " bytes, the snapshot expects " +
                    std::to_string(*expected_size),
                "run pvesafe verify --read-data");
  }
  if (repo.chunk_id(plain) != id) {
    throw Error(Errc::kIntegrity, "chunk " + key + " content does not match its id",
                "run pvesafe verify --read-data");
  }
  return plain;
}
}  // namespace

std::vector<uint8_t> decode_chunk(const Repository& repo, const std::string& id,
                                  std::span<const uint8_t> object,
                                  std::optional<uint64_t> expected_size) {
  auto frame = repo.unseal(object, Repository::chunk_key(id));
  return decode_frame(repo, id, frame, expected_size);
}

RestoreResult restore(Repository& repo, const std::string& snapshot, ByteSink& sink,
                      const RestoreOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  tune_allocator();  // decoded chunks are megabytes each, as in backup
  std::string id = repo.resolve_snapshot(snapshot, options.filter);
  Manifest m = repo.load_manifest(id);
  const size_t n = m.chunks.size();

  int threads = options.threads;
  if (threads <= 0) {
    threads = std::max<int>(static_cast<int>(std::thread::hardware_concurrency()),
                            repo.store().preferred_parallelism());
    threads = std::clamp(threads, 2, 12);
  }
  const size_t window = static_cast<size_t>(threads) * 2;
  // Decoded chunks claimed but not yet written are capped in bytes too, so memory stays bounded
  // with many fetches in flight (a single chunk above the cap is let through alone).
  constexpr uint64_t kWindowBytes = 64ull << 20;
  uint64_t inflight_bytes = 0;

  std::mutex mu;
  std::condition_variable cv;
  std::map<size_t, std::shared_ptr<const std::vector<uint8_t>>> ready;
  size_t next_claim = 0;    // next chunk index a worker may take
  size_t next_write = 0;    // next chunk index the writer needs
  std::exception_ptr failure;
  bool stop = false;
  // Runs of identical chunks (zeroed disk regions) are fetched once.
  std::string last_id;
  std::shared_ptr<const std::vector<uint8_t>> last_data;

  auto worker = [&] {
    for (;;) {
      size_t i;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] {
          return stop || next_claim >= n ||
                 (next_claim < next_write + window &&
                  (inflight_bytes == 0 || inflight_bytes + m.chunks[next_claim].size_bytes <= kWindowBytes));
        });
        if (stop || next_claim >= n) return;
        i = next_claim++;
        inflight_bytes += m.chunks[i].size_bytes;
      }
      const ChunkRef& ref = m.chunks[i];
      try {
        std::shared_ptr<const std::vector<uint8_t>> data;
        {
          std::lock_guard lock(mu);
          if (last_data && last_id == ref.id) data = last_data;
        }
        if (!data) {
          const std::string key = Repository::chunk_key(ref.id);
          std::vector<uint8_t> object;
          try {
            object = repo.store().get(key);
          } catch (const Error& e) {
            if (e.code() == Errc::kNotFound) {
              throw Error(Errc::kIntegrity,
                          "snapshot " + id + " needs chunk " + key + ", which is missing",
                          "run pvesafe verify; restore an older snapshot");
            }
            throw;
          }
          auto frame = repo.unseal(object, key);
          object = std::vector<uint8_t>();  // free before decompressing: bounded memory per worker
          data = std::make_shared<const std::vector<uint8_t>>(decode_frame(repo, ref.id, frame, ref.size_bytes));
        }
        std::lock_guard lock(mu);
        last_id = ref.id;
        last_data = data;
        ready[i] = std::move(data);
        cv.notify_all();
      } catch (...) {
        std::lock_guard lock(mu);
        if (!failure) failure = std::current_exception();
        stop = true;
        cv.notify_all();
        return;
      }
    }
  };

  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker);
  auto finish_pool = [&] {
    {
      std::lock_guard lock(mu);
      stop = true;
      cv.notify_all();
    }
    for (auto& t : pool) t.join();
  };

  uint64_t written = 0;
  Progress progress;
  progress.bytes_total = m.info.size_bytes;
  try {
    while (next_write < n) {
      std::shared_ptr<const std::vector<uint8_t>> data;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return failure || ready.count(next_write); });
        if (failure) break;
        auto it = ready.find(next_write);
        data = std::move(it->second);
        ready.erase(it);
      }
      sink.write(data->data(), data->size());
      written += data->size();
      {
        std::lock_guard lock(mu);
        inflight_bytes -= m.chunks[next_write].size_bytes;
        ++next_write;
        cv.notify_all();
      }
      if (options.progress) {
        progress.bytes_done = written;
        progress.elapsed_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        options.progress(progress);
      }
    }
  } catch (...) {
    finish_pool();
    throw;
  }
  finish_pool();
  if (failure) std::rethrow_exception(failure);
  if (written != m.info.size_bytes) {
    throw Error(Errc::kIntegrity, "snapshot " + id + " restored " + std::to_string(written) +
                                      " bytes, expected " + std::to_string(m.info.size_bytes));
  }
  sink.finish();

  RestoreResult r;
  r.snapshot_id = id;
  r.snapshot = m.info;
  r.size_bytes = written;
  r.chunks = n;
  r.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace pvesafe::repo
