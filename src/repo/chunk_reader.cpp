#include "repo/chunk_reader.h"

#include <algorithm>
#include <condition_variable>
#include <list>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "chunk/compress.h"
#include "core/error.h"
#include "core/worker_group.h"
#include "repo/layout.h"
#include "repo/repository.h"

namespace pvesafe::repo {

int default_fetch_threads(Repository& repo) {
  int threads = std::max<int>(static_cast<int>(std::thread::hardware_concurrency()),
                              repo.store().preferred_parallelism());
  return std::clamp(threads, 2, 12);
}

ChunkSource::ChunkSource(Repository& repo, const ChunkIndex& index, std::string what)
    : repo_(repo), index_(index), what_(std::move(what)) {}

const ChunkLocation& ChunkSource::locate(const ChunkId& id) const {
  const ChunkLocation* loc = index_.find(id);
  if (!loc) {
    throw Error(Errc::kIntegrity,
                what_ + " needs chunk " + id.hex() + ", which the repository does not have",
                "run pvesafe verify; restore an older snapshot");
  }
  return *loc;
}

std::string ChunkSource::object_key(const ChunkLocation& loc, const ChunkId& id) const {
  return loc.loose() ? layout::loose_chunk(id.hex()) : layout::pack(index_.pack_id(loc.pack));
}

ByteBuffer ChunkSource::decode(const ChunkId& id, std::span<const uint8_t> sealed,
                               std::optional<uint64_t> expected_size,
                               const std::string& object) const {
  const RepositoryConfig& c = repo_.config();
  const std::string name = "chunk " + id.hex() + (object.empty() ? "" : " in " + object);
  auto frame = repo_.unseal(sealed, name, c.max_chunk_bytes() + (1 << 20));
  ByteBuffer plain;
  try {
    plain = chunk::decompress_frame(frame, c.max_chunk_bytes());
  } catch (const Error& e) {
    throw Error(Errc::kIntegrity, name + " is damaged: " + e.message(),
                "run pvesafe verify --read-data");
  }
  if (expected_size && plain.size() != *expected_size) {
    throw Error(Errc::kIntegrity,
                name + " holds " + std::to_string(plain.size()) + " bytes, " + what_ + " expects " +
                    std::to_string(*expected_size),
                "run pvesafe verify --read-data");
  }
  if (repo_.chunk_id(plain) != id) {
    throw Error(Errc::kIntegrity, name + " content does not match its id",
                "run pvesafe verify --read-data");
  }
  return plain;
}

ByteBuffer ChunkSource::fetch(const ChunkId& id, std::optional<uint64_t> expected_size) {
  const ChunkLocation& loc = locate(id);
  const std::string key = object_key(loc, id);
  std::vector<uint8_t> sealed;
  try {
    sealed =
        loc.loose() ? repo_.store().get(key) : repo_.store().get_range(key, loc.offset, loc.length);
  } catch (const Error& e) {
    if (e.code() == Errc::kNotFound) {
      throw Error(Errc::kIntegrity, what_ + " needs " + key + ", which is missing",
                  "run pvesafe verify; restore an older snapshot");
    }
    throw;
  }
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes.fetch_add(sealed.size(), std::memory_order_relaxed);
  if (!loc.loose() && sealed.size() != loc.length) {
    throw Error(Errc::kIntegrity, key + " is shorter than the index says (truncated pack)",
                "run pvesafe verify --read-data");
  }
  return decode(id, sealed, expected_size, key);
}

// ---------------------------------------------------------------------------------------------

namespace {

// One request: a range of a pack (or a loose object) and the plan items it serves, in plan
// order. Items need not be consecutive in the plan: a day-2 snapshot reads a run of day-1 chunks
// from one pack, a changed chunk from a new pack, then the day-1 run goes on; the run is still
// one range, and the changed chunk another.
struct Unit {
  std::vector<size_t> items;           // plan indices, ascending
  const ChunkLocation* loc = nullptr;  // of the first item
  uint64_t offset = 0, length = 0;     // pack range (packed units)
  uint64_t plain_bytes = 0;            // sum of the items' sizes
  size_t first() const { return items.front(); }
};

// How far apart in a pack two needed chunks may lie and still share a request (the bytes between
// are read and dropped), and how far ahead in the plan a unit may take items, which bounds what
// waits decoded for the consumer.
constexpr uint64_t kMaxGapBytes = 256u << 10;
constexpr size_t kMaxItemSpan = 2048;

}  // namespace

struct OrderedFetch::Impl {
  ChunkSource& source;
  std::vector<PlanItem> plan;
  std::vector<const ChunkLocation*> locs;
  std::vector<Unit> units;
  uint64_t window_bytes;

  std::mutex mu;
  std::condition_variable cv;
  std::map<size_t, ChunkData> ready;
  size_t next_unit = 0;   // next unit a worker may claim
  size_t next_item = 0;   // next item the consumer takes
  uint64_t inflight = 0;  // plaintext bytes claimed and not yet consumed
  bool stop = false;
  // Recently decoded chunks, so a chunk that recurs (zero chunks in a stream) is fetched once.
  std::list<std::pair<ChunkId, ChunkData>> recent;
  static constexpr size_t kRecent = 32;

  WorkerGroup group;

  Impl(ChunkSource& s, std::vector<PlanItem> p, uint64_t w)
      : source(s), plan(std::move(p)), window_bytes(w) {}

  void build_units() {
    locs.resize(plan.size());
    std::vector<size_t> unit_of(plan.size());
    std::unordered_map<uint32_t, size_t> open;  // pack -> the unit still taking its chunks
    const uint64_t max_range =
        std::clamp<uint64_t>(source.repo().store().preferred_range_bytes(), 1, kMaxRangeBytes);
    auto add_to = [&](size_t ui, size_t i) {
      units[ui].items.push_back(i);
      units[ui].plain_bytes += plan[i].size;
      unit_of[i] = ui;
    };
    for (size_t i = 0; i < plan.size(); ++i) {
      const ChunkLocation* loc = &source.locate(plan[i].id);
      locs[i] = loc;
      if (i > 0 && plan[i - 1].id == plan[i].id) {  // the same chunk again: decoded once
        add_to(unit_of[i - 1], i);
        continue;
      }
      if (!loc->loose()) {
        if (auto it = open.find(loc->pack); it != open.end()) {
          Unit& u = units[it->second];
          const uint64_t end = u.offset + u.length;
          const bool inside = loc->offset >= u.offset && loc->offset + loc->length <= end;
          const bool after = loc->offset >= end && loc->offset - end <= kMaxGapBytes &&
                             loc->offset + loc->length - u.offset <= max_range;
          if ((inside || after) && i - u.first() <= kMaxItemSpan) {
            if (after) u.length = loc->offset + loc->length - u.offset;
            add_to(it->second, i);
            continue;
          }
        }
      }
      Unit u;
      u.loc = loc;
      u.offset = loc->offset;
      u.length = loc->length;
      units.push_back(std::move(u));
      add_to(units.size() - 1, i);
      if (!loc->loose()) open[loc->pack] = units.size() - 1;
    }
  }

  ChunkData cached(const ChunkId& id) {
    for (auto it = recent.begin(); it != recent.end(); ++it) {
      if (it->first == id) {
        recent.splice(recent.begin(), recent, it);
        return it->second;
      }
    }
    return nullptr;
  }

  void remember(const ChunkId& id, const ChunkData& d) {
    for (const auto& r : recent) {
      if (r.first == id) return;
    }
    recent.emplace_front(id, d);
    if (recent.size() > kRecent) recent.pop_back();
  }

  void worker() {
    for (;;) {
      size_t ui;
      {
        std::unique_lock lock(mu);
        // The unit holding the consumer's next item is always allowed: units taking items ahead
        // could otherwise fill the window while the consumer waits for it.
        cv.wait(lock, [&] {
          return stop || next_unit >= units.size() || inflight == 0 ||
                 units[next_unit].first() <= next_item ||
                 inflight + units[next_unit].plain_bytes <= window_bytes;
        });
        if (stop || next_unit >= units.size()) return;
        ui = next_unit++;
        inflight += units[ui].plain_bytes;
      }
      const Unit& u = units[ui];
      // Items already decoded recently need no request.
      const size_t n = u.items.size();
      std::vector<ChunkData> have(n);
      bool all = true;
      {
        std::lock_guard lock(mu);
        for (size_t k = 0; k < n; ++k) {
          have[k] = cached(plan[u.items[k]].id);
          all = all && have[k];
        }
      }
      std::vector<uint8_t> bytes;
      if (!all) {
        const ChunkId& first = plan[u.first()].id;
        const std::string key = source.object_key(*u.loc, first);
        try {
          bytes = u.loc->loose() ? source.repo().store().get(key)
                                 : source.repo().store().get_range(key, u.offset, u.length);
        } catch (const Error& e) {
          if (e.code() == Errc::kNotFound) {
            throw Error(Errc::kIntegrity, source.what() + " needs " + key + ", which is missing",
                        "run pvesafe verify; restore an older snapshot");
          }
          throw;
        }
        source.stats().requests.fetch_add(1, std::memory_order_relaxed);
        source.stats().bytes.fetch_add(bytes.size(), std::memory_order_relaxed);
        if (!u.loc->loose() && bytes.size() != u.length) {
          throw Error(Errc::kIntegrity, key + " is shorter than the index says (truncated pack)",
                      "run pvesafe verify --read-data");
        }
      }
      ChunkData previous;
      for (size_t k = 0; k < n; ++k) {
        const size_t i = u.items[k];
        ChunkData d = have[k];
        if (!d && k > 0 && plan[u.items[k - 1]].id == plan[i].id) d = previous;
        if (!d) {
          std::span<const uint8_t> sealed(bytes);
          if (!u.loc->loose()) sealed = sealed.subspan(locs[i]->offset - u.offset, locs[i]->length);
          d = std::make_shared<const ByteBuffer>(source.decode(
              plan[i].id, sealed, plan[i].size, source.object_key(*u.loc, plan[u.first()].id)));
        }
        previous = d;
        std::lock_guard lock(mu);
        remember(plan[i].id, d);
        ready[i] = std::move(d);
      }
      cv.notify_all();
    }
  }
};

OrderedFetch::OrderedFetch(ChunkSource& source, std::vector<PlanItem> plan, int threads,
                           uint64_t window_bytes)
    : impl_(std::make_unique<Impl>(source, std::move(plan), window_bytes)) {
  Impl& d = *impl_;
  d.build_units();
  if (threads <= 0) threads = default_fetch_threads(source.repo());
  threads =
      std::max(1, std::min<int>(threads, static_cast<int>(std::max<size_t>(1, d.units.size()))));
  d.group.on_abort([&d] {
    {
      std::lock_guard lock(d.mu);
      d.stop = true;
    }
    d.cv.notify_all();
  });
  if (!d.units.empty()) d.group.spawn(threads, [&d] { d.worker(); });
}

OrderedFetch::~OrderedFetch() {
  impl_->group.abort();
  try {
    impl_->group.join();
  } catch (...) {
  }
}

size_t OrderedFetch::size() const { return impl_->plan.size(); }

ChunkData OrderedFetch::next() {
  Impl& d = *impl_;
  if (d.next_item >= d.plan.size()) {
    d.group.join();  // surfaces a failure that raced the last item
    return nullptr;
  }
  ChunkData data;
  {
    std::unique_lock lock(d.mu);
    d.cv.wait(lock, [&] { return d.stop || d.ready.count(d.next_item); });
    auto it = d.ready.find(d.next_item);
    if (it == d.ready.end()) {
      lock.unlock();
      d.group.join();  // rethrows the failure that stopped the workers
      throw Error(Errc::kInternal, "chunk fetch stopped without an error");
    }
    data = std::move(it->second);
    d.ready.erase(it);
    d.inflight -= d.plan[d.next_item].size;
    ++d.next_item;
  }
  d.cv.notify_all();
  return data;
}

}  // namespace pvesafe::repo
