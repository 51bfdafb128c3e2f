#!/bin/sh
# The test guest's init (PID 1 after switch_root): mounts the kernel file systems, says it is
# up on the serial console, then answers one command per line there. Every answer starts with
# "PVESAFE " so the host can tell it from kernel messages.
#   ping                 -> PVESAFE pong UPTIME
#   write FILE TEXT...   -> writes TEXT to FILE, syncs      -> PVESAFE ok write FILE
#   cat FILE             -> drops the page cache, reads FILE from the disk -> PVESAFE data TEXT
#   md5 FILE             -> drops the page cache, md5sum of FILE           -> PVESAFE md5 SUM
#   sync                 -> PVESAFE ok sync
#   poweroff             -> syncs, PVESAFE bye, powers off
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
hostname -F /etc/hostname
exec 0</dev/ttyS0 1>/dev/ttyS0 2>&1
stty -echo 2>/dev/null
echo "PVESAFE-GUEST-READY $(cut -d' ' -f1 /proc/uptime)"
while true; do
  if ! read -r cmd arg rest; then sleep 0.2; continue; fi
  case $cmd in
    ping) echo "PVESAFE pong $(cut -d' ' -f1 /proc/uptime)" ;;
    write)
      if echo "$rest" > "$arg" && sync; then echo "PVESAFE ok write $arg"; else echo "PVESAFE fail write $arg"; fi ;;
    cat)
      echo 3 > /proc/sys/vm/drop_caches
      if text=$(cat "$arg" 2>/dev/null); then echo "PVESAFE data $text"; else echo "PVESAFE fail cat $arg"; fi ;;
    md5)
      echo 3 > /proc/sys/vm/drop_caches
      if sum=$(md5sum "$arg" 2>/dev/null); then echo "PVESAFE md5 ${sum%% *}"; else echo "PVESAFE fail md5 $arg"; fi ;;
    sync) sync; echo "PVESAFE ok sync" ;;
    poweroff) sync; echo "PVESAFE bye"; poweroff -f ;;
    "") ;;
    *) echo "PVESAFE unknown $cmd" ;;
  esac
done
