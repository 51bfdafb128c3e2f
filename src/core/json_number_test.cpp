#include "core/json_number.h"

#include <gtest/gtest.h>

namespace pvesafe {
namespace {

using nlohmann::json;

TEST(JsonNumber, IntegersThatFit) {
  EXPECT_EQ(json_integer<int>(json::parse("42")), 42);
  EXPECT_EQ(json_integer<int>(json::parse("-7")), -7);
  EXPECT_EQ(json_integer<uint64_t>(json::parse("18446744073709551615")), UINT64_MAX);
  EXPECT_EQ(json_integer<uint32_t>(json::parse("4294967295")), 4294967295u);
  // Out of range, negative for unsigned, floats, strings: refused instead of converted.
  for (const char* bad : {"4294967296", "-1", "1e300", "5.5", "\"3\"", "null", "true"}) {
    EXPECT_FALSE(json_integer<uint32_t>(json::parse(bad))) << bad;
  }
  EXPECT_FALSE(json_integer<int>(json::parse("555555555555555555555555555555555555555697")));
  EXPECT_FALSE(json_integer<int>(json::parse("2147483648")));
  EXPECT_FALSE(json_integer<uint64_t>(json::parse("-9223372036854775808")));
  EXPECT_THROW(get_json_integer<int>(json::parse("1e300")), nlohmann::json::type_error);
  EXPECT_EQ(get_json_integer<int>(json::parse("1")), 1);
}

TEST(JsonNumber, ClampedDoubles) {
  EXPECT_EQ(clamp_to<uint64_t>(1e300), UINT64_MAX);
  EXPECT_EQ(clamp_to<uint64_t>(-5.0), 0u);
  EXPECT_EQ(clamp_to<uint64_t>(std::nan("")), 0u);
  EXPECT_EQ(clamp_to<long long>(-1e300), std::numeric_limits<long long>::min());
  EXPECT_EQ(clamp_to<long long>(1.9e19), std::numeric_limits<long long>::max());
  EXPECT_EQ(clamp_to<int>(12.7), 12);
}

}  // namespace
}  // namespace pvesafe
