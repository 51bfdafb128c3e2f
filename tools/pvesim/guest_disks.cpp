#include "guest_disks.h"

#include <algorithm>

#include "common.h"
#include "content.h"

namespace pvesim {

namespace {

constexpr uint64_t kEfiVarsSize = 540672;  // OVMF_VARS_4M: 528 KiB
constexpr uint64_t kTpmStateSize = 4ull << 20;
constexpr int kRebootEvery = 11;
constexpr uint64_t kMinFsDisk =
    1ull << 20;  // the smallest disk that holds the file system model  // days between reboots of a
                 // guest (EFI vars, TPM state change)

// PVE's drive order (qemu-server's valid_drive_names).
std::vector<std::string> drive_order() {
  std::vector<std::string> keys;
  for (int i = 0; i < 4; ++i) keys.push_back("ide" + std::to_string(i));
  for (int i = 0; i < 31; ++i) keys.push_back("scsi" + std::to_string(i));
  for (int i = 0; i < 16; ++i) keys.push_back("virtio" + std::to_string(i));
  for (int i = 0; i < 6; ++i) keys.push_back("sata" + std::to_string(i));
  keys.push_back("efidisk0");
  keys.push_back("tpmstate0");
  return keys;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string option(const std::string& value, const std::string& name) {
  for (const auto& part : split(value, ',')) {
    auto eq = part.find('=');
    if (eq != std::string::npos && part.substr(0, eq) == name) return part.substr(eq + 1);
  }
  return "";
}

uint64_t configured_size(const std::string& value, uint64_t def) {
  std::string s = option(value, "size");
  if (s.empty()) return def;
  try {
    return parse_size(s);
  } catch (...) {
    return def;
  }
}

}  // namespace

std::map<std::string, std::string> parse_guest_config(const std::string& text) {
  std::map<std::string, std::string> cfg;
  for (const auto& line : split(text, '\n')) {
    if (!line.empty() && line[0] == '[') break;
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(": ");
    if (colon == std::string::npos) continue;
    cfg[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return cfg;
}

int history_day(int64_t epoch) {
  int64_t d = (epoch >= 0 ? epoch : epoch - 86399) / 86400 - kHistoryStartDay;
  return d < 0 ? 0 : static_cast<int>(std::min<int64_t>(d, 100000));
}

std::vector<GuestDisk> guest_disks(const std::string& type,
                                   const std::map<std::string, std::string>& config, uint64_t total,
                                   std::vector<std::string>* excluded) {
  std::vector<GuestDisk> out;
  std::vector<uint64_t> weights;
  auto add = [&](const std::string& key, const std::string& value) {
    GuestDisk d;
    d.key = key;
    d.volume = value.substr(0, value.find(','));
    auto colon = d.volume.find(':');
    d.storage = colon == std::string::npos ? "" : d.volume.substr(0, colon);
    d.format = d.volume.find(".qcow2") != std::string::npos  ? "qcow2"
               : d.volume.find(".vmdk") != std::string::npos ? "vmdk"
                                                             : "raw";
    d.devname = type == "lxc" ? key : "drive-" + key + (key == "tpmstate0" ? "-backup" : "");
    out.push_back(d);
    weights.push_back(configured_size(value, 32ull << 30));
  };
  if (type == "lxc") {
    auto it = config.find("rootfs");
    add("rootfs", it == config.end() ? "local-lvm:vm-0-disk-0" : it->second);
  } else {
    for (const auto& key : drive_order()) {
      auto it = config.find(key);
      if (it == config.end()) continue;
      const std::string& v = it->second;
      std::string vol = v.substr(0, v.find(','));
      if (option(v, "media") == "cdrom" || vol == "none" || vol.empty()) continue;
      if (option(v, "backup") == "0" || option(v, "backup") == "no") {
        if (excluded) excluded->push_back(key + " '" + vol + "' (backup=no)");
        continue;
      }
      add(key, v);
    }
  }
  // Fixed sizes first, then the data disks share what is left, in whole MiB when there is room.
  uint64_t fixed = 0, weight = 0;
  size_t data = 0;
  for (size_t k = 0; k < out.size(); ++k) {
    if (out[k].key == "efidisk0") {
      out[k].size =
          std::min<uint64_t>(weights[k] < (4ull << 20) ? weights[k] : kEfiVarsSize, kEfiVarsSize);
    } else if (out[k].key == "tpmstate0") {
      out[k].size = kTpmStateSize;
    } else {
      weight += weights[k];
      ++data;
      continue;
    }
    fixed += out[k].size;
  }
  uint64_t left = total > fixed ? total - fixed : 0;
  uint64_t unit = data && left / data >= (4ull << 20) ? (1ull << 20) : (64ull << 10);
  for (size_t k = 0; k < out.size(); ++k) {
    if (out[k].size) continue;
    uint64_t share =
        weight ? static_cast<uint64_t>(static_cast<long double>(left) * weights[k] / weight) : left;
    out[k].size = std::max<uint64_t>(kMinFsDisk, share / unit * unit);
  }
  return out;
}

DiskContent::DiskContent(const std::string& type, int vmid, const GuestDisk& disk, bool first_fs,
                         int day)
    : size_(disk.size), day_(day), vmid_(vmid) {
  seed_ = hash_combine(static_cast<uint64_t>(vmid) * 0x9e3779b97f4a7c15ull, fnv1a(disk.key));
  boots_ = (day + vmid % kRebootEvery) / kRebootEvery;
  if (disk.key == "efidisk0") {
    kind_ = Kind::kEfi;
  } else if (disk.key == "tpmstate0") {
    kind_ = Kind::kTpm;
  } else {
    kind_ = Kind::kFs;
    DiskRole role = type == "lxc" ? DiskRole::kContainer
                    : first_fs    ? DiskRole::kSystem
                                  : DiskRole::kData;
    fs_ = std::make_unique<FsModel>(seed_, size_, role);
    fs_->advance_to(day);
  }
}

uint64_t DiskContent::cid(uint64_t block) const {
  switch (kind_) {
    case Kind::kFs:
      return fs_->cid(block);
    case Kind::kEfi:
      // Firmware volume header, then the variable store (rewritten at each boot), then erased
      // flash (the fault-tolerant-write areas): all 0xFF.
      if (block == 0) return make_cid(BlockKind::kFirmware, 0, 1);
      if (block <= 3)
        return make_cid(BlockKind::kFirmware, 0,
                        hash_combine(seed_, block << 32 | static_cast<uint64_t>(boots_)) | 2);
      return make_cid(BlockKind::kFirmware, 0, 0);
    case Kind::kTpm:
      // swtpm's state blob at the start, zeros after it.
      if (block < 6)
        return make_cid(BlockKind::kRandom, block == 5 ? 1234 : 0,
                        hash_combine(seed_, block << 32 | static_cast<uint64_t>(boots_)));
      return 0;
  }
  return 0;
}

std::vector<uint32_t> DiskContent::next_day_writes() const {
  if (kind_ == Kind::kFs) return fs_->next_day_writes();
  std::vector<uint32_t> out;
  if ((day_ + 1 + vmid_ % kRebootEvery) / kRebootEvery == boots_) return out;  // no reboot
  if (kind_ == Kind::kEfi)
    out = {1, 2, 3};
  else
    out = {0, 1, 2, 3, 4, 5};
  return out;
}

}  // namespace pvesim
