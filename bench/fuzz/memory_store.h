// An ObjectStore in memory, for fuzz targets that read repository objects through the public
// repository API (no disk, no network). Not thread-safe beyond what one fuzz input needs.
#pragma once

#include <map>
#include <mutex>

#include "core/error.h"
#include "store/object_store.h"

namespace pvesafe::fuzz {

class MemoryStore : public store::ObjectStore {
 public:
  void put(const std::string& key, std::span<const uint8_t> data,
           const store::PutOptions& = {}) override {
    std::lock_guard g(mu_);
    objects_[key].assign(data.begin(), data.end());
  }
  std::vector<uint8_t> get(const std::string& key) override {
    std::lock_guard g(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) throw Error(Errc::kNotFound, "no object " + key);
    return it->second;
  }
  std::vector<uint8_t> get_range(const std::string& key, uint64_t offset,
                                 uint64_t length) override {
    auto all = get(key);
    if (offset >= all.size()) return {};
    auto end = all.size() - offset < length ? all.size() : offset + length;
    return {all.begin() + static_cast<ptrdiff_t>(offset),
            all.begin() + static_cast<ptrdiff_t>(end)};
  }
  std::optional<store::ObjectInfo> stat(const std::string& key) override {
    std::lock_guard g(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return std::nullopt;
    return store::ObjectInfo{key, it->second.size()};
  }
  void list(const std::string& prefix,
            const std::function<void(const store::ObjectInfo&)>& fn) override {
    std::vector<store::ObjectInfo> found;
    {
      std::lock_guard g(mu_);
      for (auto it = objects_.lower_bound(prefix);
           it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        found.push_back({it->first, it->second.size()});
      }
    }
    for (const auto& o : found) fn(o);
  }
  void remove(const std::string& key) override {
    std::lock_guard g(mu_);
    objects_.erase(key);
  }
  std::string location() const override { return "memory:"; }

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<uint8_t>> objects_;
};

}  // namespace pvesafe::fuzz
