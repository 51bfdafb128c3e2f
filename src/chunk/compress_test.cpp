#include "chunk/compress.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <random>

#include "core/error.h"

namespace pvesafe::chunk {
namespace {

std::vector<uint8_t> random_data(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::vector<uint8_t> as_vector(const ByteBuffer& b) { return {b.begin(), b.end()}; }

// Decodes with libzstd's streaming decoder, independent of decompress_frame.
std::vector<uint8_t> zstd_stream_decode(const std::vector<uint8_t>& frame) {
  ZSTD_DStream* ds = ZSTD_createDStream();
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(ZSTD_DStreamOutSize());
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  size_t r = 1;
  while (in.pos < in.size) {
    ZSTD_outBuffer o{buf.data(), buf.size(), 0};
    r = ZSTD_decompressStream(ds, &o, &in);
    EXPECT_FALSE(ZSTD_isError(r)) << ZSTD_getErrorName(r);
    if (ZSTD_isError(r)) break;
    out.insert(out.end(), buf.begin(), buf.begin() + o.pos);
  }
  EXPECT_EQ(r, 0u);  // frame complete
  ZSTD_freeDStream(ds);
  return out;
}

TEST(RawFrame, DecodesWithLibzstd) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{131071}, size_t{131072}, size_t{131073}, size_t{3 << 20}}) {
    auto data = random_data(n, n);
    auto frame = raw_zstd_frame(data);
    EXPECT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), n);
    EXPECT_EQ(zstd_stream_decode(frame), data) << n;
    EXPECT_EQ(as_vector(decompress_frame(frame, 8 << 20)), data) << n;
  }
}

TEST(Compressor, RandomDataBecomesRawFrame) {
  Compressor c;
  auto data = random_data(2 << 20, 5);
  EXPECT_TRUE(c.looks_incompressible(data));
  auto frame = c.compress(data);
  EXPECT_EQ(frame, raw_zstd_frame(data));
  EXPECT_EQ(as_vector(decompress_frame(frame, 8 << 20)), data);
}

TEST(Compressor, TextCompresses) {
  Compressor c;
  std::string text;
  while (text.size() < (1 << 20)) text += "the quick brown fox jumps over the lazy dog " + std::to_string(text.size() % 977) + "\n";
  std::vector<uint8_t> data(text.begin(), text.end());
  EXPECT_FALSE(c.looks_incompressible(data));
  auto frame = c.compress(data);
  EXPECT_LT(frame.size(), data.size() / 4);
  EXPECT_EQ(zstd_stream_decode(frame), data);
  EXPECT_EQ(as_vector(decompress_frame(frame, 8 << 20)), data);
}

// The sample is taken while the data does not compress, not in compressible stretches; either
// way every frame decodes to its data and incompressible data is stored raw.
TEST(Compressor, SamplesOnlyAfterDataThatDidNotCompress) {
  Compressor c;
  std::string text;
  while (text.size() < (512 << 10)) text += "a line of a log file, number " + std::to_string(text.size()) + "\n";
  const std::vector<uint8_t> compressible(text.begin(), text.end());
  const auto random = random_data(512 << 10, 9);
  auto check = [&](const std::vector<uint8_t>& data, bool raw) {
    const auto frame = c.compress(data);
    EXPECT_EQ(frame == raw_zstd_frame(data), raw);
    EXPECT_EQ(as_vector(decompress_frame(frame, 8 << 20)), data);
  };
  check(random, true);  // the first frame is sampled
  EXPECT_EQ(c.samples(), 1u);
  check(random, true);  // still incompressible: sampled again, not compressed
  EXPECT_EQ(c.samples(), 2u);
  check(compressible, false);  // sampled, compresses
  EXPECT_EQ(c.samples(), 3u);
  check(compressible, false);  // compressible stretch: no sample
  check(compressible, false);
  EXPECT_EQ(c.samples(), 3u);
  check(random, true);  // found by compressing it, without a sample
  EXPECT_EQ(c.samples(), 3u);
  check(random, true);  // sampled again after it
  EXPECT_EQ(c.samples(), 4u);
}

TEST(Decompress, RejectsDamage) {
  Compressor c;
  std::vector<uint8_t> data(1 << 20, 'a');
  auto frame = c.compress(data);
  auto truncated = frame;
  truncated.resize(frame.size() - 1);
  EXPECT_THROW(decompress_frame(truncated, 8 << 20), Error);
  auto trailing = frame;
  trailing.push_back(0);
  EXPECT_THROW(decompress_frame(trailing, 8 << 20), Error);
  EXPECT_THROW(decompress_frame(frame, 1000), Error);
  std::vector<uint8_t> junk(100, 0x42);
  EXPECT_THROW(decompress_frame(junk, 8 << 20), Error);
}

}  // namespace
}  // namespace pvesafe::chunk
