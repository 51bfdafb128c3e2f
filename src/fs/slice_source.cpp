#include "fs/slice_source.h"

#include "core/error.h"

namespace pvesafe::fs {

SliceSource::SliceSource(BlockSource& disk, uint64_t offset, uint64_t size, std::string name)
    : disk_(disk), offset_(offset), size_(size), name_(std::move(name)) {
  if (offset > disk.size() || size > disk.size() - offset) {
    throw Error(Errc::kIntegrity,
                name_ + " lies beyond the end of " + disk.name() + " (" + std::to_string(offset) + "+" +
                    std::to_string(size) + " of " + std::to_string(disk.size()) + " bytes)",
                "the partition table is damaged or belongs to a larger disk");
  }
}

void SliceSource::read(uint64_t offset, uint8_t* buf, size_t n) {
  if (offset > size_ || n > size_ - offset) {
    throw Error(Errc::kUsage, "read of " + std::to_string(n) + " bytes at " + std::to_string(offset) +
                                  " is beyond the end of " + name_);
  }
  disk_.read(offset_ + offset, buf, n);
}

std::vector<BlockExtent> SliceSource::extents(uint64_t offset, uint64_t n) {
  if (offset >= size_) return {};
  if (n > size_ - offset) n = size_ - offset;
  auto v = disk_.extents(offset_ + offset, n);
  for (auto& e : v) e.offset -= offset_;
  return v;
}

}  // namespace pvesafe::fs
