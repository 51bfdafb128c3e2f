#include "repo/vzdump_name.h"

#include <regex>

namespace pvesafe::repo {

std::optional<VzdumpName> parse_vzdump_name(std::string_view name) {
  size_t slash = name.find_last_of('/');
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  static const std::regex re(
      R"(^vzdump-(qemu|lxc|openvz)-(\d+)-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})\.((?:vma|tar|tgz)(?:\.(?:zst|gz|lzo|bz2|xz))?)$)");
  std::cmatch m;
  if (!std::regex_match(name.begin(), name.end(), m, re)) return std::nullopt;
  VzdumpName v;
  v.guest_type = m[1] == "qemu" ? "qemu" : "lxc";
  v.guest_id = m[2];
  v.time_utc = m[3].str() + "-" + m[4].str() + "-" + m[5].str() + "T" + m[6].str() + ":" +
               m[7].str() + ":" + m[8].str() + "Z";
  v.extension = m[9];
  return v;
}

}  // namespace pvesafe::repo
