#!/usr/bin/env bash
# Instant restore onto a block device larger than the disk (a loop device standing in for an
# LVM volume): the copy uses the device's first DISK bytes, the guest runs from the device,
# and the file it wrote during the copy is on the device afterwards. Needs root (losetup).
source "$(dirname "$0")/../nbd/lib.sh"
source "$(dirname "$0")/lib.sh"
need losetup
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root for a loop device" >&2; exit 77; }

G=$T/guest
build_test_guest "$G" --disk-size 1G --payload-mib 16
truncate -s 1280M "$T/volume.img"
dev=$(losetup --find --show "$T/volume.img" 2>/dev/null) || { echo "SKIP: no loop device" >&2; exit 77; }
on_exit "losetup -d '$dev'"
run=$T/run
on_exit "python3 '$GUEST_DIR/guestctl.py' stop --run-dir '$run'"

instant_restore_bg "$T/ir.log" "$G" --image "$G/disk.raw" --to "$dev" --run-dir "$run" --copy-rate 4M
wait_phase "$T/ir.log" healthy 300 || fail "no healthy guest: $(cat "$T/ir.log" "$T/ir.log.err")"
guestctl cmd "$run/serial.sock" write /root/on-device.txt device-write | grep -q "PVESAFE ok write" || fail "write"
wait "$IR_PID" || fail "instant-restore exited $?: $(cat "$T/ir.log.err")"
[[ $(summary_field "$T/ir.log" copied) == True ]] || fail "not copied"
[[ ! -e "$dev.overlay.qcow2" && ! -e "$run/overlay.qcow2" ]] || fail "overlay left behind"
pid=$(summary_field "$T/ir.log" qemu_pid)
guestctl cmd "$run/serial.sock" cat /root/on-device.txt | grep -qx "PVESAFE data device-write" || fail "file"
guestctl cmd "$run/serial.sock" poweroff >/dev/null
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
debugfs -R 'cat /root/on-device.txt' "$dev?offset=1048576" 2>/dev/null | grep -qx device-write ||
  fail "the file is not on the device"
echo "PASS"
