#include "core/byte_stream.h"

#include <algorithm>
#include <vector>

namespace pvesafe {

void ByteSink::write_zeros(uint64_t n) {
  static const std::vector<uint8_t> zeros(1 << 20, 0);
  while (n > 0) {
    size_t k = static_cast<size_t>(std::min<uint64_t>(n, zeros.size()));
    write(zeros.data(), k);
    n -= k;
  }
}

size_t read_full(ByteSource& in, uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    size_t r = in.read(buf + got, n - got);
    if (r == 0) break;
    got += r;
  }
  return got;
}

}  // namespace pvesafe
