#include "guest_ops.h"

#include <cctype>
#include <set>

namespace pvesim {

namespace {

const std::set<std::string> kNotConfig = {"node",
                                          "vmid",
                                          "archive",
                                          "force",
                                          "start",
                                          "storage",
                                          "pool",
                                          "unique",
                                          "restore",
                                          "password",
                                          "ssh-public-keys",
                                          "bwlimit",
                                          "live-restore",
                                          "digest",
                                          "delete",
                                          "skiplock",
                                          "revert",
                                          "background_delay",
                                          "ignore-unpack-errors",
                                          "ha-managed"};

uint64_t memory_mib(const std::string& v) {
  std::string s = v;
  auto pos = s.find("current=");
  if (pos != std::string::npos) s = s.substr(pos + 8);
  try {
    return std::stoull(s);
  } catch (...) {
    param_error("memory", "type check ('integer') failed - got '" + v + "'");
  }
}

bool disk_key(const std::string& k) {
  if (k == "rootfs") return true;
  for (const char* prefix :
       {"scsi", "virtio", "sata", "ide", "efidisk", "tpmstate", "unused", "mp"}) {
    std::string p = prefix;
    if (k.size() > p.size() && starts_with(k, p) &&
        k.find_first_not_of("0123456789", p.size()) == std::string::npos)
      return true;
  }
  return false;
}

void derive(Guest& g) {
  auto get = [&](const char* k) -> const std::string* {
    auto it = g.config.find(k);
    return it == g.config.end() ? nullptr : &it->second;
  };
  if (auto v = get(g.type == "qemu" ? "name" : "hostname")) g.name = *v;
  if (auto v = get("memory")) g.maxmem = memory_mib(*v) << 20;
  int cores = 1, sockets = 1;
  if (auto v = get("cores")) cores = std::max(1, std::atoi(v->c_str()));
  if (auto v = get("sockets")) sockets = std::max(1, std::atoi(v->c_str()));
  g.cpus = cores * sockets;
  if (auto v = get("vcpus")) g.cpus = std::max(1, std::atoi(v->c_str()));
  g.tags = get("tags") ? *get("tags") : "";
  if (auto v = get("agent"))
    g.agent = *v == "1" || starts_with(*v, "enabled=1") || starts_with(*v, "1,");
  else
    g.agent = false;
  g.is_template = get("template") && *get("template") == "1";
  uint64_t disk = 0;
  for (const auto& [k, v] : g.config) {
    if (!disk_key(k) || starts_with(k, "unused") || starts_with(k, "efidisk") ||
        starts_with(k, "tpmstate"))
      continue;
    if (v.find("media=cdrom") != std::string::npos) continue;
    auto pos = v.find("size=");
    if (pos != std::string::npos) {
      try {
        disk += parse_size(v.substr(pos + 5, v.find(',', pos) - pos - 5));
      } catch (...) {
      }
    }
  }
  if (disk) g.maxdisk = disk;
}

}  // namespace

void check_lock(const Guest& g, const Params& p) {
  if (g.lock.empty()) return;
  if (bool_param(p, "skiplock", false)) return;
  fail(std::string(guest_word(g.type)) + " is locked (" + g.lock + ")");
}

void apply_config(Sim& sim, Guest& g, const Params& p, const std::string& node) {
  if (auto d = opt_param(p, "delete"))
    for (auto& k : split(*d, ','))
      if (!k.empty()) g.config.erase(k);
  int next_disk = 0;
  for (const auto& [k, v] : g.config)
    if (disk_key(k) && v.find(":vm-") != std::string::npos) ++next_disk;
  for (const auto& [k, v] : p) {
    if (kNotConfig.count(k)) continue;
    if (g.type == "lxc" && k == "ostemplate") continue;
    std::string val = v;
    if (k == "memory") memory_mib(v);
    if (g.type == "qemu" && starts_with(k, "net")) {
      // "virtio,bridge=vmbr0" gets a generated MAC address, as PVE does:
      // "virtio=BC:24:11:..,bridge=vmbr0".
      std::string model = v.substr(0, v.find(','));
      if (!model.empty() && model.find('=') == std::string::npos) {
        std::string mac = "BC:24:11";
        std::string r = random_hex(3);
        for (size_t i = 0; i < 6; i += 2) mac += ":" + r.substr(i, 2);
        for (auto& ch : mac) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        val = model + "=" + mac + v.substr(model.size());
      }
    }
    if (disk_key(k)) {
      // "STORAGE:SIZE[,opts]" allocates a new volume of SIZE GiB, like PVE does.
      auto colon = v.find(':');
      auto comma = v.find(',');
      std::string st = colon == std::string::npos ? "" : v.substr(0, colon);
      std::string size = colon == std::string::npos
                             ? ""
                             : v.substr(colon + 1, comma == std::string::npos ? std::string::npos
                                                                              : comma - colon - 1);
      bool is_alloc = !st.empty() && std::isalpha(static_cast<unsigned char>(st[0])) &&
                      !size.empty() && size.find_first_not_of("0123456789.") == std::string::npos &&
                      (comma == std::string::npos || comma > colon);
      if (is_alloc) {
        Storage* s = sim.storage(st);
        if (!s || !sim.storage_on_node(*s, node)) fail("storage '" + st + "' does not exist");
        std::string opts = comma == std::string::npos ? "" : v.substr(comma);
        val = st + ":vm-" + std::to_string(g.vmid) + "-disk-" + std::to_string(next_disk++) + opts +
              ",size=" + size + "G";
      }
    }
    g.config[k] = val;
  }
  derive(g);
}

void apply_config_text(Guest& g, const std::string& text) {
  std::map<std::string, std::string> cfg;
  for (auto& line : split(text, '\n')) {
    if (line.empty() || line[0] == '#' || line[0] == '[') {
      if (!line.empty() && line[0] == '[') break;  // snapshot sections
      continue;
    }
    auto colon = line.find(": ");
    if (colon == std::string::npos) continue;
    cfg[line.substr(0, colon)] = line.substr(colon + 2);
  }
  if (cfg.empty()) return;
  g.config = cfg;
  derive(g);
}

}  // namespace pvesim
