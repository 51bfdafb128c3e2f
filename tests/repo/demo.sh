#!/usr/bin/env bash
# The README's main command: scripts/demo.sh, run as a new user runs it, on a fresh directory and
# a smaller guest. It must finish with status 0 (each step checks itself: the restored archive is
# compared bit for bit, verify --read-data reads every object), and day 2 must be the newest
# snapshot even though both backups run within the same second.
source "$(dirname "$0")/lib.sh"
PVESAFE_DEMO_DIR=$T/demo PVESAFE_DEMO_SIZE=128M bash "$PVESAFE_SOURCE_DIR/scripts/demo.sh" > "$T/demo.log" 2>&1 || {
  cat "$T/demo.log"; echo "FAIL: scripts/demo.sh failed"; exit 1; }
grep -q "bit-identical" "$T/demo.log" || { cat "$T/demo.log"; echo "FAIL: no bit-identical restore"; exit 1; }
tail -n 3 "$T/demo.log"
echo PASS
