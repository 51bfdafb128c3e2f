#include "repo/backup.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "archive/input.h"
#include "archive/vma.h"
#include "chunk/chunker.h"
#include "core/direct_io.h"
#include "core/error.h"
#include "core/hex.h"
#include "repo/chunk_index.h"
#include "repo/chunk_writer.h"
#include "repo/layout.h"

namespace pvesafe::repo {

namespace {

// Entries per list chunk: 4096 lines are 300-360 KiB of text, 1 GiB of a disk with the default
// chunk size.
constexpr size_t kListEntries = 4096;

std::string this_hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

int default_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(n, 2u, 16u));
}

struct Buffer {
  explicit Buffer(size_t n) : bytes(std::make_unique_for_overwrite<uint8_t[]>(n)) {}
  std::unique_ptr<uint8_t[]> bytes;
};

// Read blocks, used again once the chunks in them are stored. A page fault is dear (tens of
// microseconds per 4 KiB page on some virtual machines), so blocks are never given back while
// a backup runs, and sit on huge pages (AlignedBuffer): the first read into each costs one
// fault, not 512. Blocks come back from the worker threads; the pool lives as long as any of
// its blocks.
class BlockPool : public std::enable_shared_from_this<BlockPool> {
 public:
  explicit BlockPool(size_t block_size) : size_(block_size) {}

  std::shared_ptr<AlignedBuffer> get() {
    std::unique_ptr<AlignedBuffer> b;
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        b = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!b) b = std::make_unique<AlignedBuffer>(size_);
    return {b.release(), [self = shared_from_this()](AlignedBuffer* p) { self->put(p); }};
  }

 private:
  void put(AlignedBuffer* p) {
    std::unique_ptr<AlignedBuffer> b(p);
    std::lock_guard lock(mu_);
    free_.push_back(std::move(b));
  }

  const size_t size_;
  std::mutex mu_;
  std::vector<std::unique_ptr<AlignedBuffer>> free_;
};

// Counts what is read and reports progress every few MiB.
class CountingSource : public ByteSource {
 public:
  CountingSource(ByteSource& in, std::function<void(uint64_t)> tick)
      : in_(in), tick_(std::move(tick)) {}
  size_t read(uint8_t* buf, size_t n) override {
    size_t got = in_.read(buf, n);
    count_ += got;
    if (tick_ && count_ - last_ >= (8u << 20)) {
      last_ = count_;
      tick_(count_);
    }
    return got;
  }
  std::string name() const override { return in_.name(); }
  std::optional<uint64_t> size_hint() const override { return in_.size_hint(); }
  uint64_t count() const { return count_; }

 private:
  ByteSource& in_;
  std::function<void(uint64_t)> tick_;
  uint64_t count_ = 0, last_ = 0;
};

struct Ticketed {
  size_t ticket;
  uint64_t size;
};

// Content-defined chunks of a byte stream, read into blocks of a few maximal chunks and handed
// to the writer as views into them (only the unchunked rest of a block is copied, into the next).
std::vector<Ticketed> split_stream(ByteSource& source, const Repository& repo,
                                   ChunkWriter& writer) {
  const auto& cp = repo.config().chunker;
  chunk::Chunker chunker(
      chunk::make_gear_table(repo.gear_seed()),
      chunk::ChunkLimits{cp.min_size_bytes, cp.avg_size_bytes, cp.max_size_bytes});
  // A block holds at least two maximal chunks, so after the rest of the previous block moves in
  // (less than one maximal chunk), a boundary search never starves.
  const size_t block_size = 2 * cp.max_size_bytes + (1 << 20);
  std::vector<Ticketed> out;
  auto pool = std::make_shared<BlockPool>(block_size);
  auto block = pool->get();
  size_t begin = 0, end = 0;
  bool eof = false;
  while (!writer.failed()) {
    const size_t avail = end - begin;
    if (avail == 0 && eof) break;
    size_t cut = avail > 0 ? chunker.next_boundary(block->data() + begin, avail, eof) : 0;
    if (cut == 0) {
      // No boundary in what is left: carry the rest into a fresh block and read on. The old
      // block stays alive while queued chunks still point into it.
      if (begin > 0) {
        if (block.use_count() == 1) {
          std::memmove(block->data(), block->data() + begin, avail);
        } else {
          auto next = pool->get();
          std::memcpy(next->data(), block->data() + begin, avail);
          block = std::move(next);
        }
        begin = 0;
        end = avail;
      }
      while (!eof && end < block_size) {
        size_t n = source.read(block->data() + end, block_size - end);
        if (n == 0) eof = true;
        end += n;
      }
      continue;
    }
    size_t t = writer.add({block->data() + begin, cut}, block);
    out.push_back({t, cut});
    begin += cut;
  }
  return out;
}

std::vector<Ticketed> split_bytes(std::vector<uint8_t> bytes, const Repository& repo,
                                  ChunkWriter& writer) {
  struct VectorSource : ByteSource {
    std::vector<uint8_t> v;
    size_t pos = 0;
    size_t read(uint8_t* buf, size_t n) override {
      n = std::min(n, v.size() - pos);
      std::memcpy(buf, v.data() + pos, n);
      pos += n;
      return n;
    }
    std::string name() const override { return "structure"; }
  } src;
  src.v = std::move(bytes);
  return split_stream(src, repo, writer);
}

// One disk of a VMA archive, assembled from its clusters into fixed-size chunks at their disk
// offsets. Clusters arrive in any order; a chunk is handed to the writer once all its clusters
// have arrived, unless it is all zeros. Chunks waiting for clusters (those a running guest's
// copy-before-write sent early) are bounded in memory: past the budget, the waiting chunk
// furthest ahead is stored cluster by cluster instead (64 KiB pieces at their offsets), and so
// are its clusters still to come.
class DiskAssembler {
 public:
  struct Entry {
    uint64_t offset;
    size_t ticket;
    uint64_t size;
  };

  DiskAssembler(const archive::VmaDevice& dev, uint32_t chunk_bytes, ChunkWriter& writer,
                uint64_t* pending_bytes, uint64_t budget)
      : dev_(dev),
        chunk_bytes_(chunk_bytes),
        clusters_per_chunk_(chunk_bytes / archive::kVmaClusterBytes),
        writer_(writer),
        pending_bytes_(pending_bytes),
        budget_(budget) {}

  void add(uint32_t cluster, uint16_t mask, std::span<const uint8_t> data) {
    const uint64_t k = cluster / clusters_per_chunk_;
    if (broken_.count(k)) {
      if (mask != 0) store_piece(cluster, data);
      return;
    }
    Partial& p = partial_[k];
    const size_t slot = cluster % clusters_per_chunk_;
    if (mask != 0) {
      if (!p.buf) {
        p.buf = std::make_shared<Buffer>(chunk_bytes_);
        // Slots of zero clusters that came before, and slots still to come, start as zeros.
        std::memset(p.buf->bytes.get(), 0, chunk_bytes_);
        *pending_bytes_ += chunk_bytes_;
      }
      std::memcpy(p.buf->bytes.get() + slot * archive::kVmaClusterBytes, data.data(),
                  archive::kVmaClusterBytes);
    }
    ++p.received;
    if (p.received == clusters_in(k)) {
      complete(k, p);
      partial_.erase(k);
    } else if (*pending_bytes_ > budget_) {
      break_furthest();
    }
  }

  // After the last cluster: every chunk is complete (read_vma checked that every cluster came).
  std::vector<Entry> finish() {
    if (!partial_.empty())
      throw Error(Errc::kInternal,
                  "disk " + dev_.name + " has incomplete chunks after its archive");
    std::sort(entries_.begin(), entries_.end(),
              [](const Entry& a, const Entry& b) { return a.offset < b.offset; });
    return std::move(entries_);
  }

 private:
  struct Partial {
    std::shared_ptr<Buffer> buf;  // null while every cluster so far was zero
    uint32_t received = 0;
  };

  uint32_t clusters_in(uint64_t k) const {
    const uint64_t first = k * clusters_per_chunk_;
    return static_cast<uint32_t>(std::min<uint64_t>(clusters_per_chunk_, dev_.clusters() - first));
  }

  void complete(uint64_t k, Partial& p) {
    if (!p.buf) return;  // all zero: not stored
    *pending_bytes_ -= chunk_bytes_;
    const uint64_t offset = k * chunk_bytes_;
    const uint64_t size = std::min<uint64_t>(chunk_bytes_, dev_.size_bytes - offset);
    std::span<const uint8_t> bytes(p.buf->bytes.get(), size);
    if (all_zero(bytes)) return;
    entries_.push_back({offset, writer_.add(bytes, p.buf), size});
  }

  void store_piece(uint32_t cluster, std::span<const uint8_t> data) {
    const uint64_t offset = uint64_t{cluster} * archive::kVmaClusterBytes;
    const uint64_t size = std::min<uint64_t>(archive::kVmaClusterBytes, dev_.size_bytes - offset);
    if (all_zero(data.first(size))) return;
    auto copy = std::make_shared<Buffer>(size);
    std::memcpy(copy->bytes.get(), data.data(), size);
    entries_.push_back({offset, writer_.add({copy->bytes.get(), size}, copy), size});
  }

  void break_furthest() {
    auto furthest = partial_.end();
    for (auto it = partial_.begin(); it != partial_.end(); ++it) {
      if (it->second.buf && (furthest == partial_.end() || it->first > furthest->first))
        furthest = it;
    }
    if (furthest == partial_.end()) return;
    const uint64_t k = furthest->first;
    Partial& p = furthest->second;
    // The clusters received so far are exactly the non-zero slots we cannot tell apart from
    // zero ones that are still to come, so store every slot with data.
    for (uint32_t s = 0; s < clusters_in(k); ++s) {
      const uint32_t cluster = static_cast<uint32_t>(k * clusters_per_chunk_ + s);
      std::span<const uint8_t> slot(p.buf->bytes.get() + size_t{s} * archive::kVmaClusterBytes,
                                    archive::kVmaClusterBytes);
      store_piece(cluster, slot);
    }
    *pending_bytes_ -= chunk_bytes_;
    broken_.insert(k);
    partial_.erase(furthest);
  }

  const archive::VmaDevice& dev_;
  const uint32_t chunk_bytes_;
  const uint32_t clusters_per_chunk_;
  ChunkWriter& writer_;
  uint64_t* pending_bytes_;
  const uint64_t budget_;
  std::unordered_map<uint64_t, Partial> partial_;
  std::unordered_set<uint64_t> broken_;
  std::vector<Entry> entries_;
};

// Takes a VMA archive apart into disks, configs and structure.
class VmaIngest : public archive::VmaVisitor {
 public:
  VmaIngest(const Repository& repo, ChunkWriter& writer, uint64_t budget)
      : repo_(repo), writer_(writer), budget_(budget) {}

  void header(const archive::VmaHeader& h) override {
    header_ = h;
    structure_.assign(h.bytes.begin(), h.bytes.end());
    archive::vma_strip_header(structure_);
    for (const auto& d : header_.devices) {
      disks_.emplace(d.id, std::make_unique<DiskAssembler>(d, repo_.config().disk_chunk_bytes,
                                                           writer_, &pending_bytes_, budget_));
    }
    for (const auto& c : header_.configs) {
      auto copy = std::make_shared<std::vector<uint8_t>>(c.data);
      configs_.push_back({c.name, writer_.add(*copy, copy), copy->size()});
    }
  }
  void extent(uint64_t, std::span<const uint8_t> h) override {
    const size_t at = structure_.size();
    structure_.insert(structure_.end(), h.begin(), h.end());
    archive::vma_strip_extent({structure_.data() + at, h.size()});
  }
  void cluster(const archive::VmaDevice& dev, uint32_t cluster, uint16_t mask,
               std::span<const uint8_t> data) override {
    disks_.at(dev.id)->add(cluster, mask, data);
    if (writer_.failed())
      throw Error(Errc::kInternal, "stopped");  // the writer's error is reported by finish()
  }

  struct ConfigTicket {
    std::string name;
    size_t ticket;
    uint64_t size;
  };
  const Repository& repo_;
  ChunkWriter& writer_;
  const uint64_t budget_;
  archive::VmaHeader header_;
  std::vector<uint8_t> structure_;
  std::map<uint8_t, std::unique_ptr<DiskAssembler>> disks_;
  std::vector<ConfigTicket> configs_;
  uint64_t pending_bytes_ = 0;
};

// A gc that ran meanwhile (with this backup's lock gone stale: a hung process, another host)
// may have removed chunks this backup reuses. gc always replaces the index objects when it
// removes anything, so one listing tells whether that can have happened; only then is the index
// read again and every reused chunk looked up.
void check_reused_still_there(Repository& repo, const ChunkIndex& at_start,
                              const std::vector<ChunkId>& reused) {
  if (reused.empty()) return;
  // Format 1 chunks are objects of their own, removed without touching the index: look them up.
  std::vector<ChunkId> loose;
  for (const auto& id : reused) {
    const ChunkLocation* loc = at_start.find(id);
    if (loc && loc->loose()) loose.push_back(id);
  }
  if (!loose.empty()) {
    std::unordered_set<std::string> present;
    repo.store().list(std::string(layout::kData),
                      [&](const store::ObjectInfo& o) { present.insert(o.key); });
    size_t gone = 0;
    for (const auto& id : loose) gone += present.count(layout::loose_chunk(id.hex())) ? 0 : 1;
    if (gone > 0) {
      throw Error(
          Errc::kLocked,
          "a gc removed " + std::to_string(gone) +
              " chunks this backup reuses while it ran; no snapshot was recorded",
          "run the backup again (and check why its lock went stale: pvesafe unlock lists locks)");
    }
  }
  std::unordered_set<std::string> now;
  repo.store().list(std::string(layout::kIndex),
                    [&](const store::ObjectInfo& o) { now.insert(o.key); });
  bool removed = false;
  for (const auto& k : at_start.index_keys()) removed = removed || !now.count(k);
  if (!removed) return;
  ChunkIndex current;
  current.load(repo, std::max(4, repo.store().preferred_parallelism()));
  size_t missing = 0;
  for (const auto& id : reused) missing += current.contains(id) ? 0 : 1;
  if (missing > 0) {
    throw Error(
        Errc::kLocked,
        "a gc removed " + std::to_string(missing) +
            " chunks this backup reuses while it ran; no snapshot was recorded",
        "run the backup again (and check why its lock went stale: pvesafe unlock lists locks)");
  }
}

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
  const auto started = std::chrono::system_clock::now();  // what Object Lock dates count from
  const auto when = in_options.time.value_or(started);
  tune_allocator();
  const int threads = in_options.threads > 0 ? in_options.threads : default_threads();

  BackupResult r;
  r.format_upgraded = repo.upgrade_format();
  ChunkIndex index;
  index.load(repo, std::max(4, repo.store().preferred_parallelism()));

  archive::ArchiveInput input(source, in_options.archive_aware);
  BackupOptions opt = complete_options(in_options, input.name());
  // What restore writes is the uncompressed archive: name it so (the received name is kept).
  if (input.compression() != archive::Compression::kNone)
    opt.file_name = archive::strip_compression_suffix(opt.file_name);
  Progress progress;
  progress.bytes_total = input.size_hint();
  ChunkWriter writer(repo, index, threads);
  auto report = [&](uint64_t done) {
    if (!opt.progress) return;
    auto s = writer.progress();
    progress.bytes_done = done;
    progress.stored_bytes = s.stored_bytes;
    progress.new_chunks = s.new_chunks;
    progress.reused_chunks = s.reused_chunks;
    progress.elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    opt.progress(progress);
  };
  CountingSource counted(input, report);

  Manifest m;
  m.format = 2;
  std::vector<Ticketed> stream;
  std::unique_ptr<VmaIngest> vma;
  const bool as_vma = in_options.archive_aware && input.content() == archive::Content::kVma;
  try {
    if (as_vma) {
      vma = std::make_unique<VmaIngest>(repo, writer, in_options.vma_pending_budget_bytes);
      archive::read_vma(counted, *vma);
      stream = split_bytes(std::move(vma->structure_), repo, writer);
    } else {
      stream = split_stream(counted, repo, writer);
    }
  } catch (...) {
    if (writer.failed()) writer.finish();  // throws the pipeline's own failure, the cause
    throw;
  }
  if (writer.failed()) writer.finish();
  writer.wait_ids();

  // Chunk lists, stored as chunks of the same run.
  struct ListTicket {
    std::shared_ptr<std::string> text;
    size_t ticket;
    uint64_t entries;
  };
  auto add_list = [&](std::string text, uint64_t entries) {
    auto t = std::make_shared<std::string>(std::move(text));
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(t->data()), t->size());
    return ListTicket{t, writer.add(bytes, t, ChunkClass::kStructure), entries};
  };
  std::vector<ListTicket> stream_lists;
  {
    std::vector<ChunkRef> refs;
    refs.reserve(stream.size());
    for (const auto& t : stream) {
      refs.push_back({writer.id(t.ticket).hex(), t.size});
      m.stream.size_bytes += t.size;
    }
    m.stream.chunk_count = refs.size();
    for (size_t i = 0; i < refs.size(); i += kListEntries) {
      size_t end = std::min(refs.size(), i + kListEntries);
      stream_lists.push_back(add_list(stream_list_text(refs, i, end), end - i));
    }
  }
  std::vector<std::vector<ListTicket>> disk_lists;
  if (vma) {
    for (auto& [dev_id, asm_] : vma->disks_) {
      const archive::VmaDevice* dev = nullptr;
      for (const auto& d : vma->header_.devices) {
        if (d.id == dev_id) dev = &d;
      }
      DiskPart part;
      part.name = dev->name;
      part.dev_id = dev->id;
      part.size_bytes = dev->size_bytes;
      part.chunk_bytes = repo.config().disk_chunk_bytes;
      std::vector<DiskChunk> chunks;
      for (const auto& e : asm_->finish()) {
        chunks.push_back({e.offset, writer.id(e.ticket).hex(), e.size});
        part.data_bytes += e.size;
      }
      part.chunk_count = chunks.size();
      // One list per fixed range of the disk, so an unchanged region's list is the same chunk
      // from one day to the next.
      const uint64_t range = uint64_t{part.chunk_bytes} * kListEntries;
      std::vector<ListTicket> lists;
      for (size_t i = 0; i < chunks.size();) {
        const uint64_t piece = chunks[i].offset / range;
        size_t end = i;
        while (end < chunks.size() && chunks[end].offset / range == piece && end - i < kListEntries)
          ++end;
        lists.push_back(add_list(disk_list_text(chunks, i, end), end - i));
        i = end;
      }
      disk_lists.push_back(std::move(lists));
      r.disks.push_back({part.name, part.size_bytes, part.data_bytes});
      m.disks.push_back(std::move(part));
    }
  }
  ChunkWriterStats stats = writer.finish();

  for (const auto& l : stream_lists) {
    m.stream.lists.push_back({writer.id(l.ticket).hex(), l.text->size(), l.entries});
  }
  for (size_t d = 0; d < disk_lists.size(); ++d) {
    for (const auto& l : disk_lists[d])
      m.disks[d].lists.push_back({writer.id(l.ticket).hex(), l.text->size(), l.entries});
  }
  SnapshotInfo& s = m.info;
  s.id = random_hex(16);
  s.time = std::chrono::time_point_cast<std::chrono::microseconds>(when);
  s.time_utc = format_utc_micros(s.time);
  s.commit_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  s.hostname = opt.hostname;
  s.node = opt.node;
  s.guest_id = opt.guest_id;
  s.guest_type = opt.guest_type;
  s.file_name = opt.file_name;
  s.tags = opt.tags;
  s.size_bytes = counted.count();
  if (input.compression() != archive::Compression::kNone) {
    s.received =
        ReceivedArchive{in_options.file_name.empty() ? source.name() : in_options.file_name,
                        archive::compression_name(input.compression()), input.received_bytes(),
                        input.received_sha256()};
  }
  if (vma) {
    s.kind = "vma";
    m.vma_uuid = to_hex(vma->header_.uuid);
    for (const auto& c : vma->configs_)
      m.configs.push_back({c.name, writer.id(c.ticket).hex(), c.size});
    s.chunk_count = m.stream.chunk_count;
    for (const auto& d : m.disks) {
      s.chunk_count += d.chunk_count;
      s.disks.push_back({d.name, d.size_bytes});
    }
  } else {
    s.kind = "stream";
    s.chunk_count = m.stream.chunk_count;
  }
  const auto reused = writer.reused_ids();
  if (auto plan = hold_plan(repo, started)) {
    s.retain_until_utc = format_utc(plan->until);
    r.hold = hold_objects(repo, objects_to_hold(repo, index, reused), *plan,
                          repo.store().preferred_parallelism());
    r.retain_until_utc = s.retain_until_utc;
  }
  check_reused_still_there(repo, index, reused);
  repo.save_manifest(m);  // the commit point

  r.snapshot_id = s.id;
  r.snapshot = s;
  r.size_bytes = s.size_bytes;
  r.stored_bytes = stats.stored_bytes;
  r.new_chunks = stats.new_chunks;
  r.reused_chunks = stats.reused_chunks;
  r.packs = stats.packs;
  r.duration_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.dedup_ratio = static_cast<double>(r.size_bytes) /
                  static_cast<double>(std::max<uint64_t>(r.stored_bytes, 1));
  return r;
}

}  // namespace pvesafe::repo
