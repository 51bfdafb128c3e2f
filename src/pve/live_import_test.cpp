#include "pve/live_import.h"

#include <gtest/gtest.h>

namespace pvesafe::pve {
namespace {

TEST(LiveImportRequest, TurnsABackedUpConfigIntoALiveImport) {
  const std::string conf =
      "# a description line\n"
      "agent: 1\n"
      "boot: order=scsi0;ide2;net0\n"
      "cores: 2\n"
      "efidisk0: local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M\n"
      "ide2: local:iso/debian.iso,media=cdrom,size=600M\n"
      "memory: 2048\n"
      "name: web\n"
      "net0: virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1\n"
      "onboot: 1\n"
      "scsi0: local-lvm:vm-100-disk-0,discard=on,iothread=1,size=32G\n"
      "scsi1: local-lvm:vm-100-disk-2,backup=0,size=100G\n"
      "scsihw: virtio-scsi-single\n"
      "unused0: local-lvm:vm-100-disk-9\n"
      "vmgenid: 7c1b...\n"
      "\n"
      "[daily]\n"
      "scsi0: local-lvm:vm-100-disk-0,size=16G\n";
  auto img = [](const std::string& k) -> std::optional<std::string> {
    if (k == "scsi1") return std::nullopt;
    return "/run/pvesafe/instant/9001/snap/drive-" + k + ".raw";
  };
  auto r = live_import_request(conf, img, "", true);
  EXPECT_EQ(r.form.at("scsi0"),
            "local-lvm:0,import-from=/run/pvesafe/instant/9001/snap/"
            "drive-scsi0.raw,discard=on,iothread=1");
  EXPECT_EQ(r.form.at("efidisk0"),
            "local-lvm:0,import-from=/run/pvesafe/instant/9001/snap/"
            "drive-efidisk0.raw,efitype=4m,pre-enrolled-keys=1");
  EXPECT_EQ(r.form.at("ide2"), "none,media=cdrom");
  EXPECT_EQ(r.form.at("net0"), "virtio,bridge=vmbr0,firewall=1,link_down=1");
  EXPECT_EQ(r.form.at("live-restore"), "1");
  EXPECT_EQ(r.form.at("memory"), "2048");
  EXPECT_EQ(r.form.at("name"), "web");
  EXPECT_FALSE(r.form.count("scsi1"));
  EXPECT_FALSE(r.form.count("onboot"));
  EXPECT_FALSE(r.form.count("unused0"));
  EXPECT_FALSE(r.form.count("vmgenid"));
  EXPECT_EQ(r.imported, (std::vector<std::string>{"efidisk0", "scsi0"}));
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("scsi1"), std::string::npos);
}

TEST(LiveImportRequest, AnotherStorageAndNetworkKept) {
  auto r = live_import_request(
      "scsi0: ceph:vm-7-disk-0,size=8G\nnet0: e1000=AA:BB:CC:DD:EE:FF,bridge=vmbr1\n",
      [](const std::string&) { return std::optional<std::string>("/x.raw"); }, "local-zfs", false);
  EXPECT_EQ(r.form.at("scsi0"), "local-zfs:0,import-from=/x.raw");
  EXPECT_EQ(r.form.at("net0"), "e1000,bridge=vmbr1");
}

}  // namespace
}  // namespace pvesafe::pve
