#include "repo/chunk_writer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "chunk/compress.h"
#include "core/bounded_queue.h"
#include "core/direct_io.h"
#include "core/error.h"
#include "core/worker_group.h"
#include "repo/layout.h"
#include "repo/pack.h"
#include "repo/repository.h"

namespace pvesafe::repo {

namespace {

struct Job {
  size_t ticket;
  std::span<const uint8_t> data;
  std::shared_ptr<const void> keep;
  ChunkClass cls = ChunkClass::kData;
};

// What a worker hands the packer for one ticket: a sealed new chunk, or nothing (reused).
struct Sealed {
  ChunkId id;
  AlignedBuffer bytes;  // empty when the chunk was reused
  uint32_t size = 0;
};

constexpr size_t kEntriesPerIndexObject = 65536;

}  // namespace

struct ChunkWriter::Impl {
  Repository& repo;
  const ChunkIndex& known;
  const int threads;
  const size_t window;  // tickets a worker may run ahead of the packer

  BoundedQueue<Job> jobs;
  BoundedQueue<PackBuilder::Pack> uploads;
  std::mutex spare_mu;
  std::vector<AlignedBuffer> spare;  // buffers of uploaded packs, for the packer to fill again
  WorkerGroup group;

  // Tickets and their ids.
  mutable std::mutex mu;
  std::condition_variable cv;         // the packer and wait_ids(): a ticket is ready
  std::condition_variable window_cv;  // workers: the packer took a ticket
  std::vector<ChunkId> ids;
  std::map<size_t, Sealed> ready;  // sealed or reused, waiting for the packer
  size_t next_ticket = 0;
  size_t packed = 0;      // tickets the packer has taken
  size_t identified = 0;  // tickets whose id is known
  bool closed = false;    // no more tickets
  bool stopping = false;
  std::unordered_set<ChunkId, ChunkIdHash> claimed;  // new chunks of this run
  std::unordered_set<ChunkId, ChunkIdHash> reused;   // chunks found in the repository
  std::map<size_t, ChunkId> zero_ids;                // all-zero chunks by size

  // Entries of stored packs not yet written to an index object.
  std::mutex index_mu;
  std::vector<IndexEntry> pending_entries;

  std::atomic<uint64_t> new_chunks{0}, reused_chunks{0}, new_bytes{0}, stored_bytes{0}, packs{0},
      index_objects{0};
  bool finished = false;

  Impl(Repository& r, const ChunkIndex& k, int t)
      : repo(r),
        known(k),
        threads(t),
        // Room for the workers to go on while the packer seals a full pack's header.
        window(static_cast<size_t>(t) * 16 + 8),
        // Deep enough that the workers do not run dry while the reader, woken when the queue
        // is half empty, waits for a core (they share the cores with it): 64 chunks, 8 MiB,
        // on two cores halved the time workers waited for work.
        jobs(std::min<size_t>(static_cast<size_t>(t) * 32, 128)),
        uploads(1) {}

  void stop() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    cv.notify_all();
    window_cv.notify_all();
    jobs.abort();
    uploads.abort();
  }

  ChunkId zero_aware_id(std::span<const uint8_t> data) {
    // All-zero chunks (unused space in a stream) are all alike: their ids are computed once per
    // size.
    const bool zero = all_zero(data);
    if (zero) {
      std::lock_guard lock(mu);
      if (auto it = zero_ids.find(data.size()); it != zero_ids.end()) return it->second;
    }
    ChunkId id = repo.chunk_id(data);
    if (zero) {
      std::lock_guard lock(mu);
      zero_ids.emplace(data.size(), id);
    }
    return id;
  }

  void worker() {
    chunk::Compressor compressor(1);
    while (auto job = jobs.pop()) {
      {
        std::unique_lock lock(mu);
        window_cv.wait(lock, [&] { return stopping || job->ticket < packed + window; });
        if (stopping) return;
      }
      Sealed s;
      s.id = zero_aware_id(job->data);
      s.size = static_cast<uint32_t>(job->data.size());
      bool store_it = false;
      if (!known.contains(s.id)) {
        std::lock_guard lock(mu);
        store_it = claimed.insert(s.id).second;
      } else {
        std::lock_guard lock(mu);
        reused.insert(s.id);
      }
      if (store_it) {
        auto frame = compressor.frame(job->data);
        s.bytes =
            job->cls == ChunkClass::kData ? repo.seal_data(frame.pieces) : repo.seal(frame.pieces);
        new_chunks.fetch_add(1, std::memory_order_relaxed);
        new_bytes.fetch_add(job->data.size(), std::memory_order_relaxed);
      } else {
        reused_chunks.fetch_add(1, std::memory_order_relaxed);
      }
      job->keep.reset();
      bool wake;
      {
        std::lock_guard lock(mu);
        ids[job->ticket] = s.id;
        ++identified;
        ready.emplace(job->ticket, std::move(s));
        // Only the ticket the packer takes next, or the last one, can end a wait on cv: other
        // wake-ups would cost a context switch for nothing.
        wake = job->ticket == packed || identified == next_ticket;
      }
      if (wake) cv.notify_all();
    }
  }

  void packer() {
    PackBuilder pack(repo.config().pack_bytes);
    for (;;) {
      Sealed s;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] {
          return stopping || ready.count(packed) || (closed && packed == next_ticket);
        });
        if (stopping) return;
        auto it = ready.find(packed);
        if (it == ready.end()) break;  // closed and everything packed
        s = std::move(it->second);
        ready.erase(it);
        ++packed;
      }
      window_cv.notify_all();
      if (s.bytes.size() == 0) continue;
      pack.add(s.id, s.bytes.span(), s.size);
      if (pack.full()) {
        // Named by the uploader: hashing tens of MiB here would stall every worker behind it.
        if (!uploads.push(pack.finish_unnamed(repo))) return;
        std::lock_guard lock(spare_mu);
        if (!spare.empty()) {
          pack.reuse(std::move(spare.back()));
          spare.pop_back();
        }
      }
    }
    if (!pack.empty() && !uploads.push(pack.finish_unnamed(repo))) return;
    uploads.close();
  }

  void uploader() {
    while (auto p = uploads.pop()) {
      PackBuilder::name(*p);
      repo.store().put(layout::pack(p->id), p->bytes.span());
      stored_bytes.fetch_add(p->bytes.size(), std::memory_order_relaxed);
      packs.fetch_add(1, std::memory_order_relaxed);
      {
        std::lock_guard lock(spare_mu);
        if (spare.size() < 2) spare.push_back(std::move(p->bytes));
      }
      p->bytes = AlignedBuffer();
      std::vector<IndexEntry> batch;
      {
        std::lock_guard lock(index_mu);
        pending_entries.insert(pending_entries.end(), p->entries.begin(), p->entries.end());
        if (pending_entries.size() >= kEntriesPerIndexObject) batch.swap(pending_entries);
      }
      if (!batch.empty()) write_index_object(batch);
    }
  }

  void write_index_object(const std::vector<IndexEntry>& entries) {
    auto written = write_index(repo, entries);
    index_objects.fetch_add(1, std::memory_order_relaxed);
    stored_bytes.fetch_add(written.size_bytes, std::memory_order_relaxed);
  }

  // After a failure: index the packs that were stored, so a rerun reuses their chunks instead
  // of uploading them again. Best effort: the store may be what failed.
  void index_stored_packs() noexcept {
    try {
      std::lock_guard lock(index_mu);
      if (pending_entries.empty()) return;
      write_index_object(pending_entries);
      pending_entries.clear();
    } catch (...) {
    }
  }

  // Joins the pipeline; when it failed, indexes what was stored and rethrows the failure.
  void join() {
    try {
      group.join();
    } catch (...) {
      index_stored_packs();
      throw;
    }
  }
};

ChunkWriter::ChunkWriter(Repository& repo, const ChunkIndex& known, int threads)
    : impl_(std::make_unique<Impl>(repo, known, std::max(1, threads))) {
  Impl& d = *impl_;
  d.group.on_abort([&d] { d.stop(); });
  d.group.spawn(d.threads, [&d] { d.worker(); });
  d.group.spawn([&d] { d.packer(); });
  // Two packs in flight: with packs of tens of MiB that keeps any store busy (the S3 store
  // uploads a large pack's parts in parallel) while memory stays bounded.
  d.group.spawn(2, [&d] { d.uploader(); });
}

ChunkWriter::~ChunkWriter() {
  if (!impl_->finished) {
    impl_->group.abort();
    try {
      impl_->group.join();
    } catch (...) {
    }
    impl_->index_stored_packs();
  }
}

size_t ChunkWriter::add(std::span<const uint8_t> data, std::shared_ptr<const void> keep,
                        ChunkClass cls) {
  Impl& d = *impl_;
  size_t ticket;
  {
    std::lock_guard lock(d.mu);
    ticket = d.next_ticket++;
    d.ids.emplace_back();
  }
  d.jobs.push(
      Job{ticket, data, std::move(keep), cls});  // false after a failure: finish() reports it
  return ticket;
}

bool ChunkWriter::failed() const { return impl_->group.failed(); }

void ChunkWriter::wait_ids() {
  Impl& d = *impl_;
  {
    std::unique_lock lock(d.mu);
    d.cv.wait(lock, [&] { return d.stopping || d.identified == d.next_ticket; });
    if (!d.stopping) return;
  }
  d.finished = true;
  d.join();  // rethrows the failure that stopped the pipeline
  throw Error(Errc::kInternal, "backup pipeline stopped without an error");
}

ChunkWriterStats ChunkWriter::finish() {
  Impl& d = *impl_;
  d.finished = true;
  d.jobs.close();
  {
    std::lock_guard lock(d.mu);
    d.closed = true;
  }
  d.cv.notify_all();
  d.join();
  if (!d.pending_entries.empty()) {
    d.write_index_object(d.pending_entries);
    d.pending_entries.clear();
  }
  return progress();
}

const ChunkId& ChunkWriter::id(size_t ticket) const { return impl_->ids.at(ticket); }

std::vector<ChunkId> ChunkWriter::reused_ids() const {
  std::lock_guard lock(impl_->mu);
  return {impl_->reused.begin(), impl_->reused.end()};
}

ChunkWriterStats ChunkWriter::progress() const {
  const Impl& d = *impl_;
  ChunkWriterStats s;
  {
    std::lock_guard lock(d.mu);
    s.chunks = d.next_ticket;
  }
  s.new_chunks = d.new_chunks;
  s.reused_chunks = d.reused_chunks;
  s.new_bytes = d.new_bytes;
  s.stored_bytes = d.stored_bytes;
  s.packs = d.packs;
  s.index_objects = d.index_objects;
  return s;
}

}  // namespace pvesafe::repo
