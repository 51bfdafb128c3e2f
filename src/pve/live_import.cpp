#include "pve/live_import.h"

#include <set>
#include <sstream>

namespace pvesafe::pve {

namespace {

std::vector<std::string> split_commas(const std::string& v) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : v) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

}  // namespace

bool is_disk_key(const std::string& k) {
  for (const char* p : {"scsi", "virtio", "sata", "ide", "efidisk", "tpmstate"}) {
    std::string s = p;
    if (k.size() > s.size() && starts_with(k, p) &&
        k.find_first_not_of("0123456789", s.size()) == std::string::npos)
      return true;
  }
  return false;
}

LiveImportRequest live_import_request(
    const std::string& conf,
    const std::function<std::optional<std::string>(const std::string&)>& image_path,
    const std::string& storage, bool isolate_network) {
  static const std::set<std::string> kDrop = {
      "parent",         "digest",     "lock",     "vmgenid", "meta",    "snaptime",  "vmstate",
      "runningmachine", "runningcpu", "template", "onboot",  "startup", "hookscript"};
  LiveImportRequest r;
  std::istringstream in(conf);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '[') break;  // snapshots and pending changes follow
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (kDrop.count(key) || starts_with(key, "unused")) continue;
    if (is_disk_key(key)) {
      auto parts = split_commas(value);
      bool cdrom = false;
      for (const auto& p : parts) cdrom = cdrom || p == "media=cdrom";
      if (cdrom) {
        r.form[key] = "none,media=cdrom";
        continue;
      }
      auto img = image_path(key);
      if (!img) {
        r.notes.push_back(key + " is not in the backup (backup=0?): left out");
        continue;
      }
      std::string vol = parts[0];
      std::string st = storage.empty() ? vol.substr(0, vol.find(':')) : storage;
      std::string v = st + ":0,import-from=" + *img;
      for (size_t i = 1; i < parts.size(); ++i) {
        if (starts_with(parts[i], "size=") || starts_with(parts[i], "file=") ||
            starts_with(parts[i], "import-from="))
          continue;
        v += "," + parts[i];
      }
      r.form[key] = v;
      r.imported.push_back(key);
      continue;
    }
    if (starts_with(key, "net") && key.find_first_not_of("0123456789", 3) == std::string::npos &&
        key.size() > 3) {
      auto parts = split_commas(value);
      std::string model = parts[0].substr(0, parts[0].find('='));  // virtio=BC:24:.. -> virtio
      std::string v = model;
      for (size_t i = 1; i < parts.size(); ++i) {
        if (isolate_network && starts_with(parts[i], "link_down=")) continue;
        v += "," + parts[i];
      }
      if (isolate_network) v += ",link_down=1";
      r.form[key] = v;
      continue;
    }
    r.form[key] = value;
  }
  r.form["live-restore"] = "1";
  return r;
}

}  // namespace pvesafe::pve
