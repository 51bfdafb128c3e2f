#!/usr/bin/env bash
# Builds the test guest and boots it from its disk image under QEMU (TCG unless
# PVESAFE_TEST_ACCEL says otherwise): it must answer ping on its serial console, write a file
# that survives a power-off (checked on the image with debugfs), and read its payload intact.
# Prints the boot time (launch to first answered ping).
source "$(dirname "$0")/../nbd/lib.sh"
need qemu-system-x86_64 busybox sfdisk mke2fs debugfs cpio openssl
here=$(cd "$(dirname "$0")" && pwd)
G=$T/guest
"$here/build_guest.sh" "$G" --disk-size 1G --payload-mib 16 || exit $?
accel=${PVESAFE_TEST_ACCEL:-tcg}
on_exit "python3 '$here/guestctl.py' stop --run-dir '$T/run'"
boot=$(python3 "$here/guestctl.py" boot --guest "$G" --disk "$G/disk.raw" --run-dir "$T/run" --accel "$accel" --timeout 240)
pid=$(cat "$T/run/qemu.pid")
secs=$(echo "$boot" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["seconds_to_healthy"])')
note "guest healthy $secs s after launch ($accel)"
python3 "$here/guestctl.py" cmd "$T/run/serial.sock" write /root/boot-test.txt hello from the guest |
  grep -q "PVESAFE ok write" || fail "write"
want=$(head -c $((16 << 20)) /dev/zero | openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f \
  -iv 00000000000000000000000000000000 -nosalt | md5sum | cut -d' ' -f1)
got=$(python3 "$here/guestctl.py" cmd "$T/run/serial.sock" md5 /data/payload)
[[ "$got" == "PVESAFE md5 $want" ]] || fail "payload md5: $got, want $want"
python3 "$here/guestctl.py" cmd "$T/run/serial.sock" poweroff >/dev/null
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "guest did not power off"
debugfs -R 'cat /root/boot-test.txt' "$G/disk.raw?offset=1048576" 2>/dev/null | grep -q "hello from the guest" ||
  fail "the file written by the guest is not on the disk"
echo "PASS (boot to healthy: $secs s)"
