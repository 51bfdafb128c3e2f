#!/usr/bin/env bash
# Builds a small bootable Linux guest for QEMU (TCG is enough) without root:
#   OUT/vmlinuz      Debian's kernel (linux-image-amd64, /boot/vmlinuz-*)
#   OUT/initrd.img   busybox-static + the modules to reach the disk (virtio, ext4); its /init
#                    mounts the root file system from the disk and switches to it
#   OUT/disk.raw     a GPT disk (sfdisk on a file) with one ext4 partition (mke2fs -d -E offset=)
#                    holding busybox, the guest's init and /data/payload (deterministic bytes
#                    that boot never reads: what a background copy has to move)
#   OUT/cmdline      the kernel command line to boot it with
# The guest's init prints "PVESAFE-GUEST-READY" on the serial console (ttyS0), then answers
# one command per line there (see guest_init.sh): ping, write FILE TEXT, cat FILE, md5 FILE,
# sync, poweroff. Lines it prints for the host start with "PVESAFE ".
#
# usage: build_guest.sh OUT [--disk-size 1G] [--payload-mib 64]
# Nothing is cached outside OUT; a build takes a few seconds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build_guest.sh OUT [--disk-size 1G] [--payload-mib 64]}
shift
disk_size=1G
payload_mib=64
while (( $# )); do
  case $1 in
    --disk-size) disk_size=$2; shift 2 ;;
    --payload-mib) payload_mib=$2; shift 2 ;;
    *) echo "build_guest.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

need() { command -v "$1" >/dev/null || { echo "build_guest.sh: $1 not found (scripts/install-deps.sh --test)" >&2; exit 77; }; }
for t in busybox cpio sfdisk mke2fs modinfo openssl gzip; do need "$t"; done
kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1 || true)
[[ -n "$kernel" && -r "$kernel" ]] || { echo "build_guest.sh: no readable /boot/vmlinuz-* (install linux-image-amd64)" >&2; exit 77; }
kver=${kernel#/boot/vmlinuz-}
[[ -d /lib/modules/$kver ]] || { echo "build_guest.sh: no /lib/modules/$kver" >&2; exit 77; }
busybox_bin=$(command -v busybox)
[[ "$(ldd "$busybox_bin" 2>&1)" == *"not a dynamic"* ]] ||
  { echo "build_guest.sh: $busybox_bin is not static (install busybox-static)" >&2; exit 77; }

mkdir -p "$out"
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- initramfs: busybox, the modules in load order, /init ------------------------------------
ird=$work/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,lib/modules}
cp "$busybox_bin" "$ird/bin/busybox"
order=()
add_module() {  # depth-first: dependencies before the module
  local m=$1 d
  for d in $(modinfo -k "$kver" -F depends "$m" | tr ',' ' '); do add_module "$d"; done
  [[ " ${order[*]} " == *" $m "* ]] || order+=("$m")
}
for m in virtio_pci virtio_blk crc32c_generic ext4; do add_module "$m"; done
: > "$ird/modules.order"
for m in "${order[@]}"; do
  src=$(modinfo -k "$kver" -n "$m")
  case $src in
    *.ko) cp "$src" "$ird/lib/modules/$m.ko" ;;
    *.ko.xz) xz -dc "$src" > "$ird/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$src" > "$ird/lib/modules/$m.ko" ;;
    *) echo "build_guest.sh: module $m is built in or unknown ($src)" >&2; continue ;;
  esac
  echo "$m" >> "$ird/modules.order"
done
cat > "$ird/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m.ko 2>/dev/null; done
root=/dev/vda1
for a in $(cat /proc/cmdline); do case $a in pvesafe.root=*) root=${a#pvesafe.root=} ;; esac; done
i=0
while [ ! -b "$root" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
if ! mount -t ext4 "$root" /newroot; then
  echo "PVESAFE-GUEST-ERROR cannot mount $root" > /dev/ttyS0
  poweroff -f
fi
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
INIT
chmod 755 "$ird/init"
(cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) > "$work/initrd.img"

# --- root file system ----------------------------------------------------------------------
rfs=$work/rootfs
mkdir -p "$rfs"/{bin,sbin,dev,proc,sys,tmp,root,data,etc}
cp "$busybox_bin" "$rfs/bin/busybox"
for applet in $("$busybox_bin" --list); do
  [[ -e "$rfs/bin/$applet" ]] || ln -s busybox "$rfs/bin/$applet"
done
cp "$here/guest_init.sh" "$rfs/sbin/init"
chmod 755 "$rfs/sbin/init"
echo pvesafe-guest > "$rfs/etc/hostname"
echo "pvesafe test guest, kernel $kver" > "$rfs/etc/pvesafe-guest"
# Deterministic, incompressible bytes (AES-CTR keystream of a fixed key).
head -c $((payload_mib * 1024 * 1024)) /dev/zero |
  openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f -iv 00000000000000000000000000000000 \
    -nosalt > "$rfs/data/payload"

# --- disk: GPT, one partition from 1 MiB to the end, ext4 written into it ---------------------
disk=$work/disk.raw
truncate -s "$disk_size" "$disk"
printf 'label: gpt\nstart=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n' |
  sfdisk --quiet "$disk" >/dev/null
read -r part_start part_sectors < <(sfdisk -J "$disk" | python3 -c '
import json,sys; p=json.load(sys.stdin)["partitiontable"]["partitions"][0]; print(p["start"], p["size"])')
mke2fs -q -F -t ext4 -L pvesafe-root -d "$rfs" -E offset=$((part_start * 512)) \
  "$disk" $((part_sectors / 2))k

mv "$work/initrd.img" "$out/initrd.img"
cp "$kernel" "$out/vmlinuz"
mv "$disk" "$out/disk.raw"
echo "console=ttyS0 quiet loglevel=1 panic=-1 pvesafe.root=/dev/vda1" > "$out/cmdline"
