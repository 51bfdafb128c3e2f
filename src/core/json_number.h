// Integers from JSON that came from outside (repository objects, API answers). nlohmann's
// get<int>() / get<uint64_t>() convert a floating-point number with a plain cast, which is
// undefined behaviour when it is out of range (1e300, NaN), and wrap other integers silently.
// These check first.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace pvesafe {

// The value of an integer JSON number that fits T; nullopt for anything else (a float, a
// string, a number out of T's range).
template <class T>
std::optional<T> json_integer(const nlohmann::json& v) {
  static_assert(std::is_integral_v<T>);
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<T>::max())) return static_cast<T>(u);
  } else if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if constexpr (std::is_signed_v<T>) {
      if (i >= std::numeric_limits<T>::min() && i <= std::numeric_limits<T>::max()) {
        return static_cast<T>(i);
      }
    } else if (i >= 0 && static_cast<uint64_t>(i) <= std::numeric_limits<T>::max()) {
      return static_cast<T>(i);
    }
  }
  return std::nullopt;
}

// As json_integer, for readers that handle nlohmann's exceptions: anything else throws
// nlohmann::json::type_error, as get<T>() does for a value that is not a number.
template <class T>
T get_json_integer(const nlohmann::json& v) {
  if (auto i = json_integer<T>(v)) return *i;
  throw nlohmann::json::type_error::create(
      302,
      "expected an integer in [" + std::to_string(std::numeric_limits<T>::min()) + ", " +
          std::to_string(std::numeric_limits<T>::max()) + "], got " + v.dump(),
      nullptr);
}

// A double as T, clamped to T's range; NaN gives `nan_value`.
template <class T>
T clamp_to(double d, T nan_value = 0) {
  static_assert(std::is_integral_v<T>);
  if (std::isnan(d)) return nan_value;
  // The bounds as doubles: max() rounds up to 2^N, so >= catches everything that would overflow.
  if (d >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  if (d <= static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  return static_cast<T>(d);
}

}  // namespace pvesafe
