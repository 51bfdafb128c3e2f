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

// What a worker leaves for packing for one ticket: a sealed new chunk, or nothing (reused).
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
  const size_t window;  // tickets a worker may run ahead of packing

  BoundedQueue<Job> jobs;
  BoundedQueue<PackBuilder::Pack> uploads;
  std::mutex spare_mu;
  std::vector<AlignedBuffer> spare;  // buffers of uploaded packs, to fill again
  WorkerGroup group;

  // Tickets and their ids.
  mutable std::mutex mu;
  std::condition_variable cv;         // wait_ids() and finish(): ids known, packing idle
  std::condition_variable window_cv;  // workers: tickets were packed
  std::vector<ChunkId> ids;
  std::map<size_t, Sealed> ready;  // sealed or reused, waiting to be packed
  size_t next_ticket = 0;
  size_t packed = 0;      // tickets taken for packing
  size_t identified = 0;  // tickets whose id is known
  bool closed = false;    // no more tickets
  bool stopping = false;
  // The worker that readies ticket `packed` packs it and every ready ticket after it; others
  // only leave theirs in `ready`. No thread waits for its turn to pack, so a chunk costs no
  // hand-off (a context switch each, and they are dear on virtual machines).
  bool draining = false;
  PackBuilder pack;  // only the draining worker, and finish() once the workers are idle
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
        // Room for the workers to go on while a full pack waits for an upload slot.
        window(static_cast<size_t>(t) * 16 + 8),
        // Deep enough that the workers do not run dry while the reader, woken when the queue
        // is half empty, waits for a core (they share the cores with it): 64 chunks, 8 MiB,
        // on two cores halved the time workers waited for work.
        jobs(std::min<size_t>(static_cast<size_t>(t) * 32, 128)),
        uploads(1),
        pack(r.config().pack_bytes) {}

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
    std::vector<Sealed> run;  // tickets this worker packs in one go
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
      bool wake, drain;
      {
        std::lock_guard lock(mu);
        ids[job->ticket] = s.id;
        ++identified;
        ready.emplace(job->ticket, std::move(s));
        wake = identified == next_ticket;  // only then can a wait_ids() end
        drain = !draining && job->ticket == packed;
        draining = draining || drain;
      }
      if (wake) cv.notify_all();
      if (drain && !drain_ready(run)) return;
    }
  }

  // Packs ticket `packed` and every ready one after it, until the next is not ready yet; the
  // caller set `draining`. False when the pipeline stopped.
  bool drain_ready(std::vector<Sealed>& run) {
    for (;;) {
      run.clear();
      {
        std::lock_guard lock(mu);
        if (stopping) return false;
        for (auto it = ready.begin(); it != ready.end() && it->first == packed;
             it = ready.erase(it)) {
          run.push_back(std::move(it->second));
          ++packed;
        }
        if (run.empty()) {
          draining = false;
          if (closed) cv.notify_all();  // finish() waits for the last drain
          return true;
        }
      }
      window_cv.notify_all();
      for (auto& s : run) {
        if (s.bytes.size() == 0) continue;
        pack.add(s.id, s.bytes.span(), s.size);
        if (pack.full() && !ship_pack()) return false;
      }
    }
  }

  // Hands the full pack to the uploaders and takes a spare buffer for the next one.
  bool ship_pack() {
    // Named by the uploader: hashing tens of MiB here would stall every worker behind it.
    if (!uploads.push(pack.finish_unnamed(repo))) return false;
    std::lock_guard lock(spare_mu);
    if (!spare.empty()) {
      pack.reuse(std::move(spare.back()));
      spare.pop_back();
    }
    return true;
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
  bool stopped;
  {
    std::unique_lock lock(d.mu);
    d.closed = true;
    d.cv.wait(lock, [&] { return d.stopping || (d.packed == d.next_ticket && !d.draining); });
    stopped = d.stopping;
  }
  // Every ticket is packed and the workers are idle: the last pack is this thread's to ship.
  try {
    if (!stopped && !d.pack.empty()) d.ship_pack();
  } catch (...) {
    d.group.fail();  // join() below rethrows it
  }
  d.uploads.close();
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
