#include "pve/guest_config.h"

#include <algorithm>

namespace pvesafe::pve {

namespace {
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string l = text.substr(pos, nl - pos);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(l);
    pos = nl + 1;
  }
  return out;
}
}  // namespace

std::map<std::string, std::string> parse_guest_config(const std::string& text) {
  std::map<std::string, std::string> cfg;
  for (const auto& l : lines_of(text)) {
    if (l.empty() || l[0] == '#') continue;
    if (l[0] == '[') break;
    auto colon = l.find(':');
    if (colon == std::string::npos) continue;
    std::string value = l.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    cfg[l.substr(0, colon)] = value;
  }
  return cfg;
}

std::vector<GuestVolume> restore_volumes(const std::string& type, const std::string& text) {
  std::vector<GuestVolume> out;
  auto cfg = parse_guest_config(text);
  auto volume_of = [](const std::string& value) { return value.substr(0, value.find(',')); };
  if (type == "qemu") {
    for (const auto& l : lines_of(text)) {
      if (l.rfind("#qmdump#map:", 0) != 0) continue;
      // #qmdump#map:KEY:DRIVE:STORAGE:FORMAT:
      std::vector<std::string> f;
      size_t pos = 0;
      while (pos <= l.size()) {
        size_t c = l.find(':', pos);
        f.push_back(l.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
      }
      if (f.size() < 4) continue;
      GuestVolume v;
      v.key = f[1];
      v.storage = f[3];
      auto it = cfg.find(v.key);
      v.volume = it == cfg.end() ? "" : volume_of(it->second);
      out.push_back(v);
    }
    return out;
  }
  std::vector<std::string> keys;
  for (const auto& [k, v] : cfg) {
    bool mp = k.size() > 2 && k.compare(0, 2, "mp") == 0 &&
              k.find_first_not_of("0123456789", 2) == std::string::npos;
    if (k == "rootfs" || mp) keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end(), [](const std::string& a, const std::string& b) {
    if (a == "rootfs" || b == "rootfs") return a == "rootfs" && b != "rootfs";
    return std::stoi(a.substr(2)) < std::stoi(b.substr(2));
  });
  for (const auto& k : keys) {
    std::string vol = volume_of(cfg[k]);
    auto colon = vol.find(':');
    if (vol.empty() || vol[0] == '/' || colon == std::string::npos) continue;  // bind/device mount
    out.push_back({k, vol.substr(0, colon), vol});
  }
  return out;
}

}  // namespace pvesafe::pve
