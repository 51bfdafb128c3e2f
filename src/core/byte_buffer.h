// ByteBuffer: a std::vector of bytes whose new elements are left uninitialised, for buffers a
// decoder or a read fills right away. A std::vector<uint8_t>(n) zero-fills its n bytes first:
// for the decoded chunks of a restore that was 8% of its CPU, and the first write to fresh
// memory is the expensive one.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace pvesafe {

template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  using std::allocator<T>::allocator;
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  // value_type() for a trivial type: no initialisation at all. Construction with arguments
  // (copies, fills) is std::allocator_traits' own std::construct_at.
  template <typename U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
};

using ByteBuffer = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;

}  // namespace pvesafe
