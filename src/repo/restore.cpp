#include "repo/restore.h"

#include <algorithm>
#include <cstring>

#include "archive/vma.h"
#include "core/error.h"
#include "core/hex.h"

namespace pvesafe::repo {

namespace {

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

ChunkId parse_id(const std::string& hex) {
  auto id = ChunkId::parse(hex);
  if (!id) throw Error(Errc::kIntegrity, "invalid chunk id " + hex.substr(0, 80));
  return *id;
}

class ProgressReporter {
 public:
  ProgressReporter(const RestoreOptions& o, uint64_t total, std::chrono::steady_clock::time_point start)
      : fn_(o.progress), start_(start) {
    p_.bytes_total = total;
  }
  void add(uint64_t n) {
    p_.bytes_done += n;
    if (!fn_ || p_.bytes_done - last_ < (4u << 20)) return;
    last_ = p_.bytes_done;
    p_.elapsed_seconds = since(start_);
    fn_(p_);
  }
  uint64_t done() const { return p_.bytes_done; }

 private:
  std::function<void(const Progress&)> fn_;
  std::chrono::steady_clock::time_point start_;
  Progress p_;
  uint64_t last_ = 0;
};

// Finds the stored chunk of `chunks` (sorted by offset) that holds byte `offset`, or -1.
ptrdiff_t find_chunk(const std::vector<DiskChunk>& chunks, uint64_t offset) {
  auto it = std::upper_bound(chunks.begin(), chunks.end(), offset,
                             [](uint64_t o, const DiskChunk& c) { return o < c.offset; });
  if (it == chunks.begin()) return -1;
  --it;
  if (offset >= it->offset + it->size_bytes) return -1;
  return it - chunks.begin();
}

RestoreResult finish_result(SnapshotReader& snap, const std::string& name, uint64_t written, uint64_t chunks,
                            std::chrono::steady_clock::time_point start) {
  RestoreResult r;
  r.snapshot_id = snap.manifest().info.id;
  r.snapshot = snap.manifest().info;
  r.file_name = name;
  r.size_bytes = written;
  r.chunks = chunks;
  r.requests = snap.source().stats().requests;
  r.fetched_bytes = snap.source().stats().bytes;
  r.duration_seconds = since(start);
  return r;
}

}  // namespace

SnapshotReader::SnapshotReader(Repository& repo, const std::string& id)
    : repo_(repo), manifest_(repo.load_manifest(id)) {
  index_.load(repo, std::max(4, repo.store().preferred_parallelism()));
  source_ = std::make_unique<ChunkSource>(repo, index_, "snapshot " + id);
}

std::vector<std::string> SnapshotReader::fetch_lists(const std::vector<ListRef>& lists) {
  std::vector<PlanItem> plan;
  for (const auto& l : lists) plan.push_back({parse_id(l.id), l.size_bytes});
  OrderedFetch fetch(*source_, std::move(plan));
  std::vector<std::string> out;
  while (auto d = fetch.next()) out.emplace_back(d->begin(), d->end());
  return out;
}

std::vector<ChunkRef> SnapshotReader::stream_chunks() {
  const StreamPart& s = manifest_.stream;
  if (manifest_.format < 2) return s.inline_chunks;
  std::vector<ChunkRef> out;
  out.reserve(s.chunk_count);
  auto texts = fetch_lists(s.lists);
  uint64_t total = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const size_t before = out.size();
    parse_stream_list(texts[i], "list chunk " + s.lists[i].id, out);
    if (out.size() - before != s.lists[i].entries) {
      throw Error(Errc::kIntegrity, "list chunk " + s.lists[i].id + " holds " + std::to_string(out.size() - before) +
                                        " entries, the manifest says " + std::to_string(s.lists[i].entries));
    }
  }
  for (const auto& c : out) total += c.size_bytes;
  if (out.size() != s.chunk_count || total != s.size_bytes) {
    throw Error(Errc::kIntegrity, "snapshot " + manifest_.info.id + ": its stream lists do not add up to its manifest",
                "run pvesafe verify");
  }
  return out;
}

const DiskPart& SnapshotReader::disk(const std::string& name) const {
  for (const auto& d : manifest_.disks) {
    if (d.name == name) return d;
  }
  std::string names;
  for (const auto& d : manifest_.disks) names += (names.empty() ? "" : ", ") + d.name;
  if (manifest_.disks.empty()) {
    throw Error(Errc::kNotFound, "snapshot " + manifest_.info.id + " (" + manifest_.info.file_name + ") holds no disks",
                "restore it whole with --to FILE");
  }
  throw Error(Errc::kNotFound, "snapshot " + manifest_.info.id + " has no disk " + name, "its disks: " + names);
}

std::vector<DiskChunk> SnapshotReader::disk_chunks(const DiskPart& d) {
  std::vector<DiskChunk> out;
  out.reserve(d.chunk_count);
  auto texts = fetch_lists(d.lists);
  for (size_t i = 0; i < texts.size(); ++i) parse_disk_list(texts[i], "list chunk " + d.lists[i].id, out);
  uint64_t end = 0, data = 0;
  for (const auto& c : out) {
    if (c.offset < end || c.size_bytes == 0 || c.offset + c.size_bytes > d.size_bytes) {
      throw Error(Errc::kIntegrity, "snapshot " + manifest_.info.id + ": the chunk list of disk " + d.name + " is inconsistent",
                  "run pvesafe verify");
    }
    end = c.offset + c.size_bytes;
    data += c.size_bytes;
  }
  if (out.size() != d.chunk_count || data != d.data_bytes) {
    throw Error(Errc::kIntegrity, "snapshot " + manifest_.info.id + ": the lists of disk " + d.name + " do not add up to its manifest",
                "run pvesafe verify");
  }
  return out;
}

std::vector<uint8_t> SnapshotReader::config(const ConfigPart& c) {
  auto bytes = source_->fetch(parse_id(c.id), c.size_bytes);
  return {bytes.begin(), bytes.end()};
}

// ---------------------------------------------------------------------------------------------

RestoreResult restore(Repository& repo, const std::string& snapshot, ByteSink& sink, const RestoreOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  tune_allocator();  // decoded chunks are megabytes each, as in backup
  SnapshotReader snap(repo, repo.resolve_snapshot(snapshot, options.filter));
  const Manifest& m = snap.manifest();
  ProgressReporter progress(options, m.info.size_bytes, start);

  auto chunks = snap.stream_chunks();
  std::vector<PlanItem> plan;
  plan.reserve(chunks.size());
  for (const auto& c : chunks) plan.push_back({parse_id(c.id), c.size_bytes});

  if (m.info.kind != "vma") {
    OrderedFetch fetch(snap.source(), std::move(plan), options.threads);
    uint64_t written = 0;
    while (auto d = fetch.next()) {
      sink.write(d->data(), d->size());
      written += d->size();
      progress.add(d->size());
    }
    if (written != m.info.size_bytes) {
      throw Error(Errc::kIntegrity, "snapshot " + m.info.id + " restored " + std::to_string(written) +
                                        " bytes, expected " + std::to_string(m.info.size_bytes));
    }
    sink.finish();
    return finish_result(snap, m.info.file_name, written, chunks.size(), start);
  }

  // VMA: the structure first (small), then the clusters in archive order.
  std::vector<uint8_t> structure;
  structure.reserve(m.stream.size_bytes);
  {
    OrderedFetch fetch(snap.source(), std::move(plan), options.threads);
    while (auto d = fetch.next()) structure.insert(structure.end(), d->begin(), d->end());
  }
  archive::VmaUuid uuid{};
  from_hex(m.vma_uuid, uuid);
  archive::VmaRebuilder rebuilder(std::move(structure), uuid);

  std::map<uint8_t, std::vector<DiskChunk>> disks;
  uint64_t chunk_total = chunks.size();
  for (const auto& d : m.disks) {
    disks[static_cast<uint8_t>(d.dev_id)] = snap.disk_chunks(d);
    chunk_total += d.chunk_count;
  }
  auto chunk_of = [&](uint8_t dev, uint32_t cluster) -> std::pair<const std::vector<DiskChunk>*, ptrdiff_t> {
    auto it = disks.find(dev);
    if (it == disks.end()) {
      throw Error(Errc::kIntegrity, "snapshot " + m.info.id + ": the archive structure names device " +
                                        std::to_string(dev) + ", which the snapshot does not hold");
    }
    ptrdiff_t i = find_chunk(it->second, uint64_t{cluster} * archive::kVmaClusterBytes);
    if (i < 0) {
      throw Error(Errc::kIntegrity, "snapshot " + m.info.id + ": cluster " + std::to_string(cluster) + " of device " +
                                        std::to_string(dev) + " holds data but no chunk covers it",
                  "run pvesafe verify");
    }
    return {&it->second, i};
  };
  // Fetch plan: the chunk of every cluster with data, in archive order; a chunk is fetched again
  // when it is needed again later (copy-before-write clusters), which keeps memory bounded.
  std::vector<PlanItem> cluster_plan;
  {
    const DiskChunk* last = nullptr;
    rebuilder.for_each_cluster([&](const archive::VmaRebuilder::Cluster& c) {
      auto [list, i] = chunk_of(c.dev_id, c.cluster);
      const DiskChunk* dc = &(*list)[static_cast<size_t>(i)];
      if (dc == last) return;
      last = dc;
      cluster_plan.push_back({parse_id(dc->id), dc->size_bytes});
    });
  }
  OrderedFetch fetch(snap.source(), std::move(cluster_plan), options.threads);
  const DiskChunk* current = nullptr;
  ChunkData data;
  std::vector<uint8_t> tail(archive::kVmaClusterBytes);

  class CountingSink : public ByteSink {
   public:
    CountingSink(ByteSink& s, ProgressReporter& p) : s_(s), p_(p) {}
    void write(const uint8_t* b, size_t n) override {
      s_.write(b, n);
      p_.add(n);
    }
    void finish() override {}

   private:
    ByteSink& s_;
    ProgressReporter& p_;
  } counted(sink, progress);

  rebuilder.write(counted, [&](uint8_t dev, uint32_t cluster) -> const uint8_t* {
    auto [list, i] = chunk_of(dev, cluster);
    const DiskChunk* dc = &(*list)[static_cast<size_t>(i)];
    if (dc != current) {
      data = fetch.next();
      if (!data) throw Error(Errc::kInternal, "VMA rebuild ran out of chunks");
      current = dc;
    }
    const uint64_t at = uint64_t{cluster} * archive::kVmaClusterBytes - dc->offset;
    if (at + archive::kVmaClusterBytes <= data->size()) return data->data() + at;
    // The disk's last cluster extends past its end: pad with zeros.
    std::memset(tail.data(), 0, tail.size());
    std::memcpy(tail.data(), data->data() + at, static_cast<size_t>(data->size() - at));
    return tail.data();
  });
  if (progress.done() != m.info.size_bytes || rebuilder.archive_bytes() != m.info.size_bytes) {
    throw Error(Errc::kIntegrity, "snapshot " + m.info.id + " rebuilt " + std::to_string(progress.done()) +
                                      " bytes of VMA archive, expected " + std::to_string(m.info.size_bytes));
  }
  sink.finish();
  return finish_result(snap, m.info.file_name, progress.done(), chunk_total, start);
}

RestoreResult restore_disk(Repository& repo, const std::string& snapshot, const std::string& disk, ByteSink& sink,
                           const RestoreOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  tune_allocator();
  SnapshotReader snap(repo, repo.resolve_snapshot(snapshot, options.filter));
  const DiskPart& d = snap.disk(disk);
  ProgressReporter progress(options, d.size_bytes, start);
  auto chunks = snap.disk_chunks(d);
  std::vector<PlanItem> plan;
  plan.reserve(chunks.size());
  for (const auto& c : chunks) plan.push_back({parse_id(c.id), c.size_bytes});
  OrderedFetch fetch(snap.source(), std::move(plan), options.threads);
  uint64_t pos = 0;
  for (const auto& c : chunks) {
    auto data = fetch.next();
    if (c.offset > pos) {
      sink.write_zeros(c.offset - pos);
      progress.add(c.offset - pos);
    }
    sink.write(data->data(), data->size());
    progress.add(data->size());
    pos = c.offset + data->size();
  }
  if (pos < d.size_bytes) {
    sink.write_zeros(d.size_bytes - pos);
    progress.add(d.size_bytes - pos);
  }
  sink.finish();
  return finish_result(snap, d.name, d.size_bytes, chunks.size(), start);
}

}  // namespace pvesafe::repo
