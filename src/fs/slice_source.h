// SliceSource: a window [offset, offset + size) of another BlockSource seen as a BlockSource of
// its own (a partition of a disk). Reads and extents are translated; fetched_bytes() is the
// whole disk's. The underlying source must outlive the slice.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/block_source.h"

namespace pvesafe::fs {

class SliceSource : public BlockSource {
 public:
  // kUsage when the window does not lie within `disk`.
  SliceSource(BlockSource& disk, uint64_t offset, uint64_t size, std::string name);
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, uint8_t* buf, size_t n) override;
  std::vector<BlockExtent> extents(uint64_t offset, uint64_t n) override;
  std::string name() const override { return name_; }
  uint64_t fetched_bytes() const override { return disk_.fetched_bytes(); }

 private:
  BlockSource& disk_;
  uint64_t offset_ = 0;
  uint64_t size_ = 0;
  std::string name_;
};

}  // namespace pvesafe::fs
