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
    throw Error(Errc::kIntegrity, what_ + " needs chunk " + id.hex() + ", which the repository does not have",
                "run pvesafe verify; restore an older snapshot");
  }
  return *loc;
}

std::string ChunkSource::object_key(const ChunkLocation& loc, const ChunkId& id) const {
  return loc.loose() ? layout::loose_chunk(id.hex()) : layout::pack(index_.pack_id(loc.pack));
}

std::vector<uint8_t> ChunkSource::decode(const ChunkId& id, std::span<const uint8_t> sealed,
                                         std::optional<uint64_t> expected_size, const std::string& object) const {
  const RepositoryConfig& c = repo_.config();
  const std::string name = "chunk " + id.hex() + (object.empty() ? "" : " in " + object);
  auto frame = repo_.unseal(sealed, name, c.max_chunk_bytes() + (1 << 20));
  std::vector<uint8_t> plain;
  try {
    plain = chunk::decompress_frame(frame, c.max_chunk_bytes());
  } catch (const Error& e) {
    throw Error(Errc::kIntegrity, name + " is damaged: " + e.message(), "run pvesafe verify --read-data");
  }
  if (expected_size && plain.size() != *expected_size) {
    throw Error(Errc::kIntegrity,
                name + " holds " + std::to_string(plain.size()) + " bytes, " + what_ + " expects " +
                    std::to_string(*expected_size),
                "run pvesafe verify --read-data");
  }
  if (repo_.chunk_id(plain) != id) {
    throw Error(Errc::kIntegrity, name + " content does not match its id", "run pvesafe verify --read-data");
  }
  return plain;
}

std::vector<uint8_t> ChunkSource::fetch(const ChunkId& id, std::optional<uint64_t> expected_size) {
  const ChunkLocation& loc = locate(id);
  const std::string key = object_key(loc, id);
  std::vector<uint8_t> sealed;
  try {
    sealed = loc.loose() ? repo_.store().get(key) : repo_.store().get_range(key, loc.offset, loc.length);
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

struct Unit {
  size_t first = 0, end = 0;  // items [first, end)
  const ChunkLocation* loc = nullptr;  // of the first item
  uint64_t offset = 0, length = 0;     // pack range (packed units)
  uint64_t plain_bytes = 0;            // sum of the items' sizes
};

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
  size_t next_unit = 0;     // next unit a worker may claim
  size_t next_item = 0;     // next item the consumer takes
  uint64_t inflight = 0;    // plaintext bytes claimed and not yet consumed
  bool stop = false;
  // Recently decoded chunks, so a chunk that recurs (zero chunks in a stream) is fetched once.
  std::list<std::pair<ChunkId, ChunkData>> recent;
  static constexpr size_t kRecent = 32;

  WorkerGroup group;

  Impl(ChunkSource& s, std::vector<PlanItem> p, uint64_t w) : source(s), plan(std::move(p)), window_bytes(w) {}

  void build_units() {
    locs.resize(plan.size());
    for (size_t i = 0; i < plan.size(); ++i) {
      const ChunkLocation* loc = &source.locate(plan[i].id);
      locs[i] = loc;
      if (!units.empty()) {
        Unit& u = units.back();
        const PlanItem& prev = plan[i - 1];
        const ChunkLocation* pl = locs[i - 1];
        bool extend = false;
        if (prev.id == plan[i].id) {
          extend = true;  // the same chunk again: decoded once
        } else if (!loc->loose() && !u.loc->loose() && loc->pack == u.loc->pack && !pl->loose()) {
          const uint64_t end = u.offset + u.length;
          // Back to back or nearly so in the same pack, and the range stays bounded.
          if (loc->offset >= end && loc->offset - end <= (256u << 10) &&
              loc->offset + loc->length - u.offset <= kMaxRangeBytes) {
            extend = true;
          }
        }
        if (extend) {
          if (prev.id != plan[i].id) u.length = loc->offset + loc->length - u.offset;
          u.end = i + 1;
          u.plain_bytes += plan[i].size;
          continue;
        }
      }
      Unit u;
      u.first = i;
      u.end = i + 1;
      u.loc = loc;
      u.offset = loc->offset;
      u.length = loc->length;
      u.plain_bytes = plan[i].size;
      units.push_back(u);
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
        cv.wait(lock, [&] {
          return stop || next_unit >= units.size() || inflight == 0 ||
                 inflight + units[next_unit].plain_bytes <= window_bytes;
        });
        if (stop || next_unit >= units.size()) return;
        ui = next_unit++;
        inflight += units[ui].plain_bytes;
      }
      const Unit& u = units[ui];
      // Items already decoded recently need no request.
      std::vector<ChunkData> have(u.end - u.first);
      bool all = true;
      {
        std::lock_guard lock(mu);
        for (size_t i = u.first; i < u.end; ++i) {
          have[i - u.first] = cached(plan[i].id);
          all = all && have[i - u.first];
        }
      }
      std::vector<uint8_t> bytes;
      if (!all) {
        const ChunkId& first = plan[u.first].id;
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
      for (size_t i = u.first; i < u.end; ++i) {
        ChunkData d = have[i - u.first];
        if (!d && i > u.first && plan[i - 1].id == plan[i].id) {
          std::lock_guard lock(mu);
          d = ready.count(i - 1) ? ready[i - 1] : cached(plan[i].id);
        }
        if (!d) {
          std::span<const uint8_t> sealed(bytes);
          if (!u.loc->loose()) sealed = sealed.subspan(locs[i]->offset - u.offset, locs[i]->length);
          d = std::make_shared<const std::vector<uint8_t>>(
              source.decode(plan[i].id, sealed, plan[i].size, source.object_key(*u.loc, plan[u.first].id)));
        }
        std::lock_guard lock(mu);
        remember(plan[i].id, d);
        ready[i] = std::move(d);
      }
      cv.notify_all();
    }
  }
};

OrderedFetch::OrderedFetch(ChunkSource& source, std::vector<PlanItem> plan, int threads, uint64_t window_bytes)
    : impl_(std::make_unique<Impl>(source, std::move(plan), window_bytes)) {
  Impl& d = *impl_;
  d.build_units();
  if (threads <= 0) threads = default_fetch_threads(source.repo());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<size_t>(1, d.units.size()))));
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
