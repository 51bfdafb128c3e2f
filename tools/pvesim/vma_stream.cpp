#include "vma_stream.h"

#include <algorithm>
#include <unordered_set>

#include "content.h"

namespace pvesim {

namespace {

std::vector<uint64_t> device_starts(const std::vector<VmaSource>& sources, uint64_t& total) {
  std::vector<uint64_t> starts;
  total = 0;
  for (const auto& s : sources) {
    starts.push_back(total);
    total += (s.size + kVmaCluster - 1) / kVmaCluster;
  }
  return starts;
}

}  // namespace

std::vector<GuestWrite> time_guest_writes(const std::vector<VmaSource>& sources,
                                          const std::vector<std::pair<size_t, uint64_t>>& writes,
                                          uint64_t seed) {
  uint64_t total = 0;
  std::vector<uint64_t> starts = device_starts(sources, total);
  Rng rng(hash_combine(seed, 0xc0b3ull));
  std::vector<GuestWrite> out;
  std::unordered_set<uint64_t> seen;
  for (auto [dev, cluster] : writes) {
    if (dev >= sources.size() || cluster * kVmaCluster >= sources[dev].size) continue;
    uint64_t pos = starts[dev] + cluster;
    if (pos == 0 || !seen.insert(pos).second) continue;
    out.push_back({dev, cluster, rng.below(pos)});
  }
  return out;
}

std::vector<GuestWrite> random_guest_writes(const std::vector<VmaSource>& sources, double percent,
                                            uint64_t seed) {
  uint64_t total = 0;
  std::vector<uint64_t> starts = device_starts(sources, total);
  uint64_t want = static_cast<uint64_t>(static_cast<double>(total) * percent / 100.0 + 0.5);
  want = std::min(want, total ? total - 1 : 0);
  Rng rng(hash_combine(seed, 0x5eedull));
  std::unordered_set<uint64_t> picked;
  std::vector<std::pair<size_t, uint64_t>> writes;
  while (picked.size() < want) {
    uint64_t pos = 1 + rng.below(total - 1);
    if (!picked.insert(pos).second) continue;
    size_t dev =
        static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), pos) - starts.begin()) -
        1;
    writes.emplace_back(dev, pos - starts[dev]);
  }
  return time_guest_writes(sources, writes, seed);
}

VmaStreamStats write_vma_stream(const std::function<void(const unsigned char*, size_t)>& sink,
                                const Uuid& uuid, int64_t ctime,
                                const std::vector<std::pair<std::string, std::string>>& configs,
                                const std::vector<VmaSource>& sources,
                                std::vector<GuestWrite> writes) {
  VmaStreamStats st;
  VmaWriter w(
      [&](const unsigned char* p, size_t n) {
        sink(p, n);
        st.bytes += n;
      },
      uuid, ctime);
  for (const auto& [name, data] : configs) w.add_config(name, data);
  std::vector<int> ids;
  for (const auto& s : sources) ids.push_back(w.add_device(s.name, s.size));
  uint64_t total = 0;
  std::vector<uint64_t> starts = device_starts(sources, total);
  std::vector<bool> done(total, false);
  std::vector<unsigned char> buf(kVmaCluster);
  auto emit = [&](size_t dev, uint64_t cluster) {
    uint64_t pos = starts[dev] + cluster;
    if (done[pos]) return false;
    done[pos] = true;
    bool data = sources[dev].read(cluster, buf.data());
    w.write_cluster(ids[dev], cluster, data ? buf.data() : nullptr);
    ++st.clusters;
    return true;
  };
  std::stable_sort(writes.begin(), writes.end(),
                   [](const GuestWrite& a, const GuestWrite& b) { return a.when < b.when; });
  size_t next = 0;
  for (size_t dev = 0; dev < sources.size(); ++dev) {
    uint64_t clusters = (sources[dev].size + kVmaCluster - 1) / kVmaCluster;
    for (uint64_t c = 0; c < clusters; ++c) {
      uint64_t pos = starts[dev] + c;
      // The guest's writes while the cursor stands here: copy-before-write saves those clusters
      // now.
      for (; next < writes.size() && writes[next].when <= pos; ++next)
        if (emit(writes[next].device, writes[next].cluster)) ++st.early;
      emit(dev, c);
    }
  }
  w.finish();
  st.extents = w.extents();
  return st;
}

}  // namespace pvesim
