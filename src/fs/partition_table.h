// The partition table of a disk (a BlockSource): GPT (primary header and entries, both checked
// against their CRC-32; 512- or 4096-byte sectors) or MBR (four primary entries and the logical
// partitions of an extended one, numbered from 5 as Linux does). A disk without either is one
// unpartitioned volume. Numbers are the ones Linux gives (sda1 is partition 1).
//
// probe_volume() names what a volume holds from its signatures (ext2/3/4, xfs, btrfs, ntfs,
// vfat, LVM2 physical volume, LUKS, swap), so a command can say why it cannot read it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/block_source.h"

namespace pvesafe::fs {

struct Partition {
  int number = 0;         // 1-based, as Linux numbers them
  uint64_t offset = 0;    // bytes from the start of the disk
  uint64_t size = 0;      // bytes
  std::string type;       // "Linux filesystem", "Linux LVM", "EFI System", "0x83", ...
  std::string type_id;    // GPT type GUID or MBR type byte ("83")
  std::string label;      // GPT partition name (empty for MBR)
};

struct PartitionTable {
  std::string scheme;  // "gpt", "mbr" or "none"
  uint32_t sector_size = 512;
  std::vector<Partition> partitions;
};

// kIntegrity for a GPT whose CRCs do not match or entries that lie outside the disk.
PartitionTable read_partition_table(BlockSource& disk);

struct VolumeProbe {
  std::string filesystem;  // "ext4", "ext3", "ext2", "xfs", "btrfs", "ntfs", "vfat",
                           // "LVM2_member", "crypto_LUKS", "swap", or "" when unknown
  std::string label;       // the file system's label when known (ext*, xfs)
};
VolumeProbe probe_volume(BlockSource& volume);

}  // namespace pvesafe::fs
