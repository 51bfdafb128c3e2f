#include "pve/guest_config.h"

#include <gtest/gtest.h>

namespace pvesafe::pve {
namespace {

TEST(GuestConfig, QemuVolumesFollowTheArchiveMap) {
  // As vzdump writes qemu-server.conf into a VMA: the description first, the map lines of the
  // disks it backed up (virtio2 has backup=0: no map line), a snapshot section at the end.
  const std::string conf =
      "#web server\n"
      "#qmdump#map:efidisk0:drive-efidisk0:local-lvm:raw:\n"
      "#qmdump#map:scsi0:drive-scsi0:local-lvm:raw:\n"
      "#qmdump#map:virtio1:drive-virtio1:ceph-vm:raw:\n"
      "bios: ovmf\n"
      "efidisk0: local-lvm:vm-100-disk-0,efitype=4m,size=528K\n"
      "scsi0: local-lvm:vm-100-disk-1,iothread=1,size=4G\n"
      "virtio1: ceph-vm:vm-100-disk-2,size=8G\n"
      "virtio2: local-lvm:vm-100-disk-3,backup=0,size=8G\n"
      "\n[before-upgrade]\nscsi0: old-store:vm-100-disk-9,size=4G\n";
  auto v = restore_volumes("qemu", conf);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].key, "efidisk0");
  EXPECT_EQ(v[1].key, "scsi0");
  EXPECT_EQ(v[1].storage, "local-lvm");
  EXPECT_EQ(v[1].volume, "local-lvm:vm-100-disk-1");
  EXPECT_EQ(v[2].key, "virtio1");
  EXPECT_EQ(v[2].storage, "ceph-vm");
  auto cfg = parse_guest_config(conf);
  EXPECT_EQ(cfg["scsi0"], "local-lvm:vm-100-disk-1,iothread=1,size=4G");  // not the snapshot's
  EXPECT_EQ(cfg.count("#qmdump#map"), 0u);
}

TEST(GuestConfig, ContainerVolumesAreRootfsAndMountPointsInOrder) {
  const std::string conf =
      "arch: amd64\r\n"
      "mp10: local-lvm:vm-101-disk-3,mp=/srv/b,size=1G\r\n"
      "mp2: ceph-vm:vm-101-disk-2,mp=/srv/a,size=1G\r\n"
      "mp3: /mnt/host,mp=/srv/bind\r\n"  // a bind mount: not a volume
      "rootfs: local-lvm:vm-101-disk-0,size=8G\r\n";
  auto v = restore_volumes("lxc", conf);
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].key, "rootfs");
  EXPECT_EQ(v[1].key, "mp2");
  EXPECT_EQ(v[1].storage, "ceph-vm");
  EXPECT_EQ(v[2].key, "mp10");
}

TEST(GuestConfig, NoVolumesInAnEmptyConfig) {
  EXPECT_TRUE(restore_volumes("qemu", "").empty());
  EXPECT_TRUE(restore_volumes("lxc", "hostname: x\n").empty());
}

}  // namespace
}  // namespace pvesafe::pve
