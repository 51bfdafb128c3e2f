// Standard vzdump archive names:
//   vzdump-qemu-100-2026_11_24-01_00_00.vma.zst   (also .vma, .vma.lzo, .vma.gz)
//   vzdump-lxc-101-2026_11_24-01_00_00.tar.zst    (also .tar, .tar.gz, .tar.lzo)
//   vzdump-openvz-... is treated as lxc.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pvesafe::repo {

struct VzdumpName {
  std::string guest_type;  // qemu | lxc
  std::string guest_id;    // "100"
  std::string time_utc;    // "2026-11-24T01:00:00Z" (vzdump names carry local time; kept as is)
  std::string extension;   // "vma.zst"
};

// nullopt when name (a path or base name) is not a vzdump archive name.
std::optional<VzdumpName> parse_vzdump_name(std::string_view name);

}  // namespace pvesafe::repo
