#include "core/utc_time.h"

#include <cstdio>
#include <ctime>

namespace pvesafe {

namespace {
std::string seconds_part(std::time_t tt) {
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}
}  // namespace

std::string format_utc(std::chrono::system_clock::time_point t) {
  auto s = std::chrono::floor<std::chrono::seconds>(t);
  return seconds_part(std::chrono::system_clock::to_time_t(s)) + "Z";
}

std::string format_utc_micros(std::chrono::system_clock::time_point t) {
  auto s = std::chrono::floor<std::chrono::seconds>(t);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - s).count();
  char frac[32];
  std::snprintf(frac, sizeof frac, ".%06lldZ", static_cast<long long>(us));
  return seconds_part(std::chrono::system_clock::to_time_t(s)) + frac;
}

std::optional<std::chrono::system_clock::time_point> parse_utc(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h = 0, mi = 0, sec = 0, used = 0;
  int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used);
  if (n == 3) {
    int used3 = 0;
    std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &used3);
    if (static_cast<size_t>(used3) != s.size()) return std::nullopt;
  } else if (n != 6) {
    return std::nullopt;
  }
  long long nanos = 0;
  if (n == 6) {
    size_t p = static_cast<size_t>(used);
    if (p < s.size() && s[p] == '.') {
      ++p;
      int digits = 0;
      while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
        if (digits < 9) {
          nanos = nanos * 10 + (s[p] - '0');
          ++digits;
        }
        ++p;
      }
      if (digits == 0) return std::nullopt;
      for (int k = digits; k < 9; ++k) nanos *= 10;
    }
    if (p != s.size() && !(p + 1 == s.size() && s[p] == 'Z')) return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60) {
    return std::nullopt;
  }
  // A time_point holds nanoseconds since 1970: years past 2262 would overflow it.
  if (y < 1900 || y > 2200) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::time_t tt = timegm(&tm);
  if (tt == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(tt) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(nanos));
}

}  // namespace pvesafe
