#include "repo/backup.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "chunk/chunker.h"
#include "chunk/compress.h"
#include "core/bounded_queue.h"
#include "core/direct_io.h"
#include "core/error.h"

namespace pvesafe::repo {

namespace {

// The reader fills blocks of a few maximal chunks and hands out chunks as views into them, so
// chunk data is not copied on its way to the workers (only the unchunked rest of a block moves
// into the next one). A block lives until its last chunk is sealed or found to be known.
struct Block {
  explicit Block(size_t n) : bytes(std::make_unique_for_overwrite<uint8_t[]>(n)) {}
  std::unique_ptr<uint8_t[]> bytes;
};

struct Job {
  size_t seq;
  std::shared_ptr<const Block> block;
  std::span<const uint8_t> data;
};

std::string this_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(n, 2u, 16u));
}

// Caps the bytes held by jobs between two stages (encrypted chunks waiting for or inside a put),
// so memory stays bounded however many uploads the store wants in flight.
class ByteBudget {
 public:
  explicit ByteBudget(uint64_t limit) : limit_(limit) {}
  // Blocks until `n` bytes fit (a single job larger than the limit is let through alone).
  bool acquire(uint64_t n) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return aborted_ || used_ == 0 || used_ + n <= limit_; });
    if (aborted_) return false;
    used_ += n;
    return true;
  }
  void release(uint64_t n) {
    std::lock_guard lock(mu_);
    used_ -= n;
    cv_.notify_all();
  }
  void abort() {
    std::lock_guard lock(mu_);
    aborted_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t used_ = 0, limit_;
  bool aborted_ = false;
};

struct PutJob {
  std::string id;
  AlignedBuffer sealed;
};

constexpr uint64_t kPutBudgetBytes = 64ull << 20;

}  // namespace

// Chunk buffers are megabytes: by default glibc maps and unmaps each one, paying page faults and
// zeroing for every chunk. Keeping them on the heap lets freed buffers be reused. Two arenas
// instead of one per thread: each arena keeps its own freed buffers, and with a dozen fetch
// threads a restore's peak went from 130 to 250 MiB (these allocations are too few to contend).
void tune_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_ARENA_MAX, 2);
  });
}

namespace {

}  // namespace

BackupOptions complete_options(const BackupOptions& options, const std::string& source_name) {
  BackupOptions o = options;
  if (o.file_name.empty()) o.file_name = source_name;
  if (auto v = parse_vzdump_name(o.file_name)) {
    if (o.guest_id.empty()) o.guest_id = v->guest_id;
    if (o.guest_type.empty()) o.guest_type = v->guest_type;
  }
  if (o.hostname.empty()) o.hostname = this_hostname();
  if (o.node.empty()) o.node = o.hostname;
  return o;
}

BackupResult backup(Repository& repo, ByteSource& source, const BackupOptions& in_options) {
  const auto start = std::chrono::steady_clock::now();
  tune_allocator();
  BackupOptions opt = complete_options(in_options, source.name());
  const auto& cp = repo.config().chunker;
  chunk::Chunker chunker(chunk::make_gear_table(repo.gear_seed()),
                         chunk::ChunkLimits{cp.min_size_bytes, cp.avg_size_bytes, cp.max_size_bytes});
  const size_t max_chunk = cp.max_size_bytes;

  // Chunks already stored (one listing), plus what this run writes.
  std::unordered_set<std::string> known;
  for (const auto& o : repo.list_chunks()) known.insert(o.key.substr(o.key.find_last_of('/') + 1));
  std::mutex known_mu;
  std::map<size_t, std::string> zero_ids;
  std::mutex zero_mu;

  const int threads = opt.threads > 0 ? opt.threads : default_threads();
  // Uploads are I/O: more of them in flight than CPU workers hides store latency (fsync, network).
  const int uploaders = std::clamp(repo.store().preferred_parallelism(), 1, 32);
  BoundedQueue<Job> queue(static_cast<size_t>(threads));
  BoundedQueue<PutJob> put_queue(static_cast<size_t>(uploaders));
  ByteBudget put_budget(kPutBudgetBytes);
  std::vector<ChunkRef> refs;
  std::mutex refs_mu;
  std::atomic<uint64_t> stored_bytes{0}, new_chunks{0}, reused_chunks{0};
  std::exception_ptr failure;
  std::mutex failure_mu;
  std::atomic<bool> failed{false};
  auto fail = [&] {
    std::lock_guard lock(failure_mu);
    if (!failure) failure = std::current_exception();
    failed = true;
    queue.abort();
    put_queue.abort();
    put_budget.abort();
  };

  auto worker = [&] {
    chunk::Compressor compressor(1);
    try {
      while (auto job = queue.pop()) {
        std::string id;
        // All-zero chunks (unused disk space) are common in disk images and all alike: their
        // ids are computed once per size.
        const bool zero = all_zero(job->data);
        if (zero) {
          std::lock_guard lock(zero_mu);
          auto it = zero_ids.find(job->data.size());
          if (it != zero_ids.end()) id = it->second;
        }
        if (id.empty()) {
          id = repo.chunk_id(job->data);
          if (zero) {
            std::lock_guard lock(zero_mu);
            zero_ids.emplace(job->data.size(), id);
          }
        }
        bool store_it;
        {
          std::lock_guard lock(known_mu);
          store_it = known.insert(id).second;
        }
        const uint64_t size = job->data.size();
        {
          std::lock_guard lock(refs_mu);
          if (refs.size() <= job->seq) refs.resize(job->seq + 1);
          refs[job->seq] = ChunkRef{id, size};
        }
        if (store_it) {
          auto sealed = repo.seal(compressor.frame(job->data).pieces);
          job->block.reset();  // the block can go once its last chunk is sealed
          if (!put_budget.acquire(sealed.size())) break;
          if (!put_queue.push(PutJob{std::move(id), std::move(sealed)})) break;
          ++new_chunks;
        } else {
          ++reused_chunks;
        }
      }
    } catch (...) {
      fail();
    }
  };
  auto uploader = [&] {
    try {
      while (auto job = put_queue.pop()) {
        const uint64_t n = job->sealed.size();
        repo.store().put(Repository::chunk_key(job->id), job->sealed.span());
        stored_bytes += n;
        job->sealed = AlignedBuffer();
        put_budget.release(n);
      }
    } catch (...) {
      fail();
    }
  };
  std::vector<std::thread> pool, put_pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
  for (int i = 0; i < uploaders; ++i) put_pool.emplace_back(uploader);
  auto join_all = [&] {
    for (auto& t : pool) t.join();
    put_queue.close();
    for (auto& t : put_pool) t.join();
  };

  uint64_t total = 0;
  size_t seq = 0;
  try {
    // A block holds at least two maximal chunks, so after the rest of the previous block moves
    // in (less than one maximal chunk), a boundary search never starves.
    const size_t block_size = 2 * max_chunk + (1 << 20);
    auto block = std::make_shared<Block>(block_size);
    size_t begin = 0, end = 0;
    bool eof = false;
    Progress progress;
    progress.bytes_total = source.size_hint();
    while (!failed) {
      size_t avail = end - begin;
      if (avail == 0 && eof) break;
      size_t cut = avail > 0 ? chunker.next_boundary(block->bytes.get() + begin, avail, eof) : 0;
      if (cut == 0) {
        // No boundary in what is left: carry the rest into a fresh block and read on. The
        // old block stays alive while queued chunks still point into it.
        if (begin > 0) {
          if (block.use_count() == 1) {
            std::memmove(block->bytes.get(), block->bytes.get() + begin, avail);
          } else {
            auto next = std::make_shared<Block>(block_size);
            std::memcpy(next->bytes.get(), block->bytes.get() + begin, avail);
            block = std::move(next);
          }
          begin = 0;
          end = avail;
        }
        while (!eof && end < block_size) {
          size_t n = source.read(block->bytes.get() + end, block_size - end);
          if (n == 0) eof = true;
          end += n;
          total += n;
        }
        continue;
      }
      Job job{seq++, block, std::span<const uint8_t>(block->bytes.get() + begin, cut)};
      begin += cut;
      if (!queue.push(std::move(job))) break;
      if (opt.progress) {
        progress.bytes_done = total - (end - begin);
        progress.stored_bytes = stored_bytes;
        progress.new_chunks = new_chunks;
        progress.reused_chunks = reused_chunks;
        progress.elapsed_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        opt.progress(progress);
      }
    }
  } catch (...) {
    queue.abort();
    put_queue.abort();
    put_budget.abort();
    join_all();
    throw;
  }
  queue.close();
  join_all();
  if (failure) std::rethrow_exception(failure);

  Manifest m;
  m.info.id = random_hex(16);
  auto when = opt.time.value_or(std::chrono::system_clock::now());
  m.info.time = std::chrono::time_point_cast<std::chrono::seconds>(when);
  m.info.time_utc = format_utc(m.info.time);
  m.info.hostname = opt.hostname;
  m.info.node = opt.node;
  m.info.guest_id = opt.guest_id;
  m.info.guest_type = opt.guest_type;
  m.info.file_name = opt.file_name;
  m.info.size_bytes = total;
  m.info.tags = opt.tags;
  m.chunks = std::move(refs);
  if (m.chunks.size() != seq) throw Error(Errc::kInternal, "chunk results missing after backup");
  m.info.chunk_count = m.chunks.size();
  repo.save_manifest(m);  // the commit point

  BackupResult r;
  r.snapshot_id = m.info.id;
  r.snapshot = m.info;
  r.size_bytes = total;
  r.stored_bytes = stored_bytes;
  r.new_chunks = new_chunks;
  r.reused_chunks = reused_chunks;
  r.duration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.dedup_ratio = static_cast<double>(total) / static_cast<double>(std::max<uint64_t>(r.stored_bytes, 1));
  return r;
}

}  // namespace pvesafe::repo
