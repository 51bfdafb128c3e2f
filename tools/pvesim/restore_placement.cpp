#include "restore_placement.h"

#include <map>
#include <set>

namespace pvesim {

namespace {

bool has_content(const Storage& s, const std::string& content) {
  for (const auto& c : split(s.content, ','))
    if (c == content) return true;
  return false;
}

// "STORAGE:VOLUME,opts" -> (STORAGE:VOLUME, ",opts")
std::pair<std::string, std::string> volume_and_options(const std::string& v) {
  auto comma = v.find(',');
  return comma == std::string::npos ? std::make_pair(v, std::string())
                                    : std::make_pair(v.substr(0, comma), v.substr(comma));
}

}  // namespace

void check_volume_storage(Sim& sim, const std::string& storage, const std::string& node,
                          const std::string& type) {
  Storage* s = sim.storage(storage);
  if (!s || !sim.storage_on_node(*s, node)) fail("storage '" + storage + "' does not exist");
  if (type == "qemu" && !has_content(*s, "images"))
    fail("Content type 'images' is not available on storage '" + storage + "'");
  if (type == "lxc" && !has_content(*s, "rootdir"))
    fail("storage '" + storage + "' does not support container directories");
}

void check_ct_restore_storage(Sim& sim, const std::string& storage, const std::string& node) {
  std::string st = storage.empty() ? "local" : storage;
  Storage* s = sim.storage(st);
  if (!s || !sim.storage_on_node(*s, node))
    param_error("storage", "storage '" + st + "' does not exist");
  if (!has_content(*s, "rootdir"))
    param_error("storage", "storage '" + st + "' does not support container directories");
}

std::string free_volume_name(const Guest& g, const std::string& storage) {
  std::set<std::string> used;
  for (const auto& [k, v] : g.config) used.insert(volume_and_options(v).first);
  for (int n = 0;; ++n) {
    std::string vol = storage + ":vm-" + std::to_string(g.vmid) + "-disk-" + std::to_string(n);
    // A name is taken on any storage: PVE numbers disks per guest.
    bool taken = false;
    for (const auto& u : used) {
      auto colon = u.find(':');
      if (colon != std::string::npos &&
          u.substr(colon) == ":vm-" + std::to_string(g.vmid) + "-disk-" + std::to_string(n))
        taken = true;
    }
    if (!taken) return vol;
  }
}

std::string place_restored_volumes(Sim& sim, const std::string& type, int vmid,
                                   const std::string& node, const std::string& storage,
                                   const std::string& conf) {
  std::vector<std::string> lines = split(conf, '\n');
  std::map<std::string, std::string> target;  // config key -> storage
  std::vector<std::string> order;             // config keys in archive order
  if (type == "qemu") {
    for (const auto& l : lines) {
      auto f = split(l, ':');
      if (f.size() >= 4 && f[0] == "#qmdump#map") {
        std::string st = !storage.empty() ? storage : f[3];
        if (st.empty()) st = "local";
        check_volume_storage(sim, st, node, "qemu");
        target[f[1]] = st;
        order.push_back(f[1]);
      }
    }
  } else {
    std::string st = storage.empty() ? "local" : storage;
    for (const auto& l : lines) {
      if (!l.empty() && l[0] == '[') break;
      auto colon = l.find(": ");
      if (colon == std::string::npos) continue;
      std::string key = l.substr(0, colon);
      bool mp = key.size() > 2 && key.compare(0, 2, "mp") == 0 &&
                key.find_first_not_of("0123456789", 2) == std::string::npos;
      std::string vol = volume_and_options(l.substr(colon + 2)).first;
      if ((key == "rootfs" || mp) && vol.find(':') != std::string::npos && vol[0] != '/') {
        target[key] = st;
        order.push_back(key);
      }
    }
  }
  std::map<std::string, std::string> renamed;
  for (size_t i = 0; i < order.size(); ++i) {
    renamed[order[i]] =
        target[order[i]] + ":vm-" + std::to_string(vmid) + "-disk-" + std::to_string(i);
  }
  std::string out;
  bool in_snapshot = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string l = lines[i];
    if (!l.empty() && l[0] == '[') in_snapshot = true;
    auto colon = l.find(": ");
    if (!in_snapshot && colon != std::string::npos && l[0] != '#') {
      auto it = renamed.find(l.substr(0, colon));
      if (it != renamed.end()) {
        l = l.substr(0, colon + 2) + it->second + volume_and_options(l.substr(colon + 2)).second;
      }
    }
    out += l;
    if (i + 1 < lines.size()) out += "\n";
  }
  return out;
}

}  // namespace pvesim
