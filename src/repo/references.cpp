#include "repo/references.h"

#include "core/error.h"

namespace pvesafe::repo {

void ReferenceCollector::note(const std::string& hex, uint64_t size, const std::string& snapshot) {
  auto id = ChunkId::parse(hex);
  if (!id) throw Error(Errc::kIntegrity, "snapshot " + snapshot + " names an invalid chunk id");
  auto [it, fresh] = chunks_.emplace(*id, size);
  if (!fresh && it->second != size) conflicts_.emplace_back(*id, snapshot);
}

void ReferenceCollector::add(const Manifest& m) {
  const std::string& sid = m.info.id;
  for (const auto& c : m.stream.inline_chunks) note(c.id, c.size_bytes, sid);
  for (const auto& c : m.configs) note(c.id, c.size_bytes, sid);
  // Lists not read before: fetch them (in parallel, in order) and note their entries.
  struct Pending {
    ChunkId id;
    uint64_t size;
    bool disk;
  };
  std::vector<Pending> todo;
  auto want = [&](const ListRef& l, bool disk) {
    note(l.id, l.size_bytes, sid);
    auto id = ChunkId::parse(l.id);
    if (lists_read_.insert(*id).second) todo.push_back({*id, l.size_bytes, disk});
  };
  for (const auto& l : m.stream.lists) want(l, false);
  for (const auto& d : m.disks) {
    for (const auto& l : d.lists) want(l, true);
  }
  if (todo.empty()) return;
  std::vector<PlanItem> plan;
  for (const auto& p : todo) plan.push_back({p.id, p.size});
  OrderedFetch fetch(source_, std::move(plan));
  for (const auto& p : todo) {
    auto data = fetch.next();
    std::string text(data->begin(), data->end());
    const std::string what = "list chunk " + p.id.hex() + " of snapshot " + sid;
    if (p.disk) {
      std::vector<DiskChunk> entries;
      parse_disk_list(text, what, entries);
      for (const auto& e : entries) note(e.id, e.size_bytes, sid);
    } else {
      std::vector<ChunkRef> entries;
      parse_stream_list(text, what, entries);
      for (const auto& e : entries) note(e.id, e.size_bytes, sid);
    }
  }
}

}  // namespace pvesafe::repo
