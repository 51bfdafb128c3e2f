#include "fs/partition_table.h"

#include <zlib.h>

#include <array>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"

namespace pvesafe::fs {

namespace {

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t le64(const uint8_t* p) { return le32(p) | (static_cast<uint64_t>(le32(p + 4)) << 32); }

std::vector<uint8_t> read_at(BlockSource& d, uint64_t off, size_t n) {
  std::vector<uint8_t> v(n, 0);
  if (off >= d.size()) return v;
  d.read(off, v.data(), static_cast<size_t>(std::min<uint64_t>(n, d.size() - off)));
  return v;
}

// GUIDs are stored with their first three fields little-endian.
std::string guid_text(const uint8_t* g) {
  return fmt::format("{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}", le32(g),
                     le16(g + 4), le16(g + 6), g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

std::string gpt_type_name(const std::string& guid) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {"0FC63DAF-8483-4772-8E79-3D69D8477DE4", "Linux filesystem"},
      {"E6D6D379-F507-44C2-A23C-238F2A3DF928", "Linux LVM"},
      {"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "Linux swap"},
      {"A19D880F-05FC-4D3B-A006-743F0F84911E", "Linux RAID"},
      {"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "Linux root (x86-64)"},
      {"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI System"},
      {"21686148-6449-6E6F-744E-656564454649", "BIOS boot"},
      {"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "Microsoft basic data"},
      {"E3C9E316-0B5C-4DB8-817D-F92DF00215AE", "Microsoft reserved"},
      {"DE94BBA4-06D1-4D40-A16A-BFD50179D6AC", "Windows recovery"},
      {"6A898CC3-1DD2-11B2-99A6-080020736631", "Solaris /usr & Mac ZFS"},
  };
  for (const auto& [id, name] : kTypes) {
    if (guid == id) return name;
  }
  return guid;
}

std::string mbr_type_name(uint8_t t) {
  switch (t) {
    case 0x83: return "Linux";
    case 0x8e: return "Linux LVM";
    case 0x82: return "Linux swap";
    case 0xfd: return "Linux raid autodetect";
    case 0x07: return "HPFS/NTFS/exFAT";
    case 0x0b:
    case 0x0c: return "W95 FAT32";
    case 0x06:
    case 0x0e: return "FAT16";
    case 0xef: return "EFI (FAT-12/16/32)";
    case 0x27: return "Hidden NTFS WinRE";
    default: return fmt::format("0x{:02x}", t);
  }
}

bool is_extended(uint8_t t) { return t == 0x05 || t == 0x0f || t == 0x85; }

std::string utf16_name(const uint8_t* p, size_t bytes) {
  std::string out;
  for (size_t i = 0; i + 1 < bytes; i += 2) {
    uint16_t c = le16(p + i);
    if (c == 0) break;
    if (c < 0x80) out += static_cast<char>(c);
    else if (c < 0x800) {
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    } else {
      out += static_cast<char>(0xe0 | (c >> 12));
      out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  return out;
}

// The GPT header at `lba` and its entries; false when there is no header there.
bool read_gpt_at(BlockSource& d, uint32_t sector, uint64_t lba, PartitionTable& t) {
  auto h = read_at(d, lba * sector, sector);
  if (std::memcmp(h.data(), "EFI PART", 8) != 0) return false;
  const std::string where = d.name() + (lba == 1 ? ": GPT" : ": backup GPT");
  uint32_t hsize = le32(h.data() + 12);
  if (hsize < 92 || hsize > sector) throw Error(Errc::kIntegrity, where + " header has an invalid size");
  uint32_t want = le32(h.data() + 16);
  std::vector<uint8_t> hc(h.begin(), h.begin() + hsize);
  std::memset(hc.data() + 16, 0, 4);
  if (crc32(0, hc.data(), hsize) != want) {
    throw Error(Errc::kIntegrity, where + " header fails its CRC-32", "the disk's partition table is damaged");
  }
  uint64_t entries_lba = le64(h.data() + 72);
  uint32_t count = le32(h.data() + 80);
  uint32_t esize = le32(h.data() + 84);
  uint32_t ecrc = le32(h.data() + 88);
  if (esize < 128 || esize > 4096 || count > 16384) {
    throw Error(Errc::kIntegrity, where + " has an invalid partition entry array");
  }
  auto e = read_at(d, entries_lba * sector, static_cast<size_t>(count) * esize);
  if (crc32(0, e.data(), static_cast<uInt>(e.size())) != ecrc) {
    throw Error(Errc::kIntegrity, where + " partition entries fail their CRC-32",
                "the disk's partition table is damaged");
  }
  t.scheme = "gpt";
  t.sector_size = sector;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* p = e.data() + static_cast<size_t>(i) * esize;
    static const std::array<uint8_t, 16> kZero{};
    if (std::memcmp(p, kZero.data(), 16) == 0) continue;
    Partition part;
    part.number = static_cast<int>(i) + 1;
    uint64_t first = le64(p + 32), last = le64(p + 40);
    if (last < first) throw Error(Errc::kIntegrity, fmt::format("{} entry {} ends before it starts", where, i + 1));
    part.offset = first * sector;
    part.size = (last - first + 1) * sector;
    part.type_id = guid_text(p);
    part.type = gpt_type_name(part.type_id);
    part.label = utf16_name(p + 56, 72);
    t.partitions.push_back(part);
  }
  return true;
}

// The primary GPT, or the backup at the disk's last sector when the primary is damaged.
bool read_gpt(BlockSource& d, uint32_t sector, PartitionTable& t) {
  if (d.size() < 3ull * sector) return false;
  auto h = read_at(d, sector, 8);
  if (std::memcmp(h.data(), "EFI PART", 8) != 0) return false;
  try {
    return read_gpt_at(d, sector, 1, t);
  } catch (const Error& primary) {
    if (primary.code() != Errc::kIntegrity) throw;
    PartitionTable backup;
    try {
      if (read_gpt_at(d, sector, d.size() / sector - 1, backup)) {
        t = backup;
        return true;
      }
    } catch (const Error&) {
    }
    throw;
  }
}

void read_mbr(BlockSource& d, const std::vector<uint8_t>& mbr, PartitionTable& t) {
  t.scheme = "mbr";
  t.sector_size = 512;
  uint64_t ext_base = 0;
  for (int i = 0; i < 4; ++i) {
    const uint8_t* p = mbr.data() + 446 + 16 * i;
    uint8_t type = p[4];
    uint32_t start = le32(p + 8), count = le32(p + 12);
    if (type == 0 || count == 0) continue;
    if (is_extended(type)) {
      if (!ext_base) ext_base = start;
      continue;
    }
    t.partitions.push_back({i + 1, uint64_t{start} * 512, uint64_t{count} * 512, mbr_type_name(type),
                            fmt::format("{:02x}", type), ""});
  }
  // Logical partitions: a chain of extended boot records, each relative to its own position
  // (first entry) and to the start of the extended partition (second entry, the next EBR).
  uint64_t ebr = ext_base;
  int number = 5;
  for (int guard = 0; ebr && guard < 128; ++guard) {
    auto b = read_at(d, ebr * 512, 512);
    if (b[510] != 0x55 || b[511] != 0xaa) break;
    const uint8_t* p = b.data() + 446;
    if (p[4] != 0 && le32(p + 12) != 0) {
      t.partitions.push_back({number++, (ebr + le32(p + 8)) * 512, uint64_t{le32(p + 12)} * 512,
                              mbr_type_name(p[4]), fmt::format("{:02x}", p[4]), ""});
    }
    const uint8_t* n = b.data() + 446 + 16;
    ebr = is_extended(n[4]) && le32(n + 8) ? ext_base + le32(n + 8) : 0;
  }
}

}  // namespace

PartitionTable read_partition_table(BlockSource& disk) {
  PartitionTable t;
  t.scheme = "none";
  if (disk.size() < 512) return t;
  if (read_gpt(disk, 512, t) || read_gpt(disk, 4096, t)) return t;
  auto mbr = read_at(disk, 0, 512);
  if (mbr[510] != 0x55 || mbr[511] != 0xaa) return t;
  // A boot sector of a file system (FAT, NTFS) also ends in 55 AA: its "entries" are not sane.
  bool sane = true, any = false;
  for (int i = 0; i < 4; ++i) {
    const uint8_t* p = mbr.data() + 446 + 16 * i;
    if (p[0] != 0 && p[0] != 0x80) sane = false;
    if (p[4] != 0) any = true;
    if (p[4] == 0xee) sane = false;  // protective MBR without a readable GPT
  }
  if (!sane || !any) return t;
  read_mbr(disk, mbr, t);
  return t;
}

VolumeProbe probe_volume(BlockSource& v) {
  VolumeProbe r;
  auto b = read_at(v, 0, 68 * 1024);
  auto at = [&](size_t off, const char* s) { return std::memcmp(b.data() + off, s, std::strlen(s)) == 0; };
  if (le16(b.data() + 1024 + 56) == 0xEF53) {
    const uint8_t* sb = b.data() + 1024;
    uint32_t compat = le32(sb + 92), incompat = le32(sb + 96);
    r.filesystem = (incompat & 0x40 /*extents*/) || (incompat & 0x200 /*flex_bg*/) ? "ext4"
                   : (compat & 0x4 /*has_journal*/)                             ? "ext3"
                                                                                : "ext2";
    r.label = std::string(reinterpret_cast<const char*>(sb + 120), strnlen(reinterpret_cast<const char*>(sb + 120), 16));
  } else if (at(0, "XFSB")) {
    r.filesystem = "xfs";
    r.label = std::string(reinterpret_cast<const char*>(b.data() + 108), strnlen(reinterpret_cast<const char*>(b.data() + 108), 12));
  } else if (at(65536 + 64, "_BHRfS_M")) {
    r.filesystem = "btrfs";
  } else if (at(3, "NTFS    ")) {
    r.filesystem = "ntfs";
  } else if (at(0, "LUKS\xba\xbe")) {
    r.filesystem = "crypto_LUKS";
  } else if (at(4096 - 10, "SWAPSPACE2") || at(4096 - 10, "SWAP-SPACE")) {
    r.filesystem = "swap";
  } else if ((at(82, "FAT32   ") || at(54, "FAT16   ") || at(54, "FAT12   ")) && b[510] == 0x55 && b[511] == 0xaa) {
    r.filesystem = "vfat";
  } else {
    for (int s = 0; s < 4; ++s) {
      if (at(512 * s, "LABELONE") && at(512 * s + 24, "LVM2 001")) r.filesystem = "LVM2_member";
    }
  }
  return r;
}

}  // namespace pvesafe::fs
