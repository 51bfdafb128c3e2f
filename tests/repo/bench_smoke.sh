#!/usr/bin/env bash
# The backup benchmark end to end on a small image, so the script and pvesafe-stage-bench keep
# working between benchmark runs: it must finish, restore bit-identically (run.sh compares) and
# print every figure its summary promises. No timing is checked.
source "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
out=$(BENCH_DIR="$T" SIZE_MIB=24 RUNS=1 bash "$SRC/bench/backup/run.sh" "$PVESAFE_BUILD_DIR" 2>&1) || {
  echo "$out"; exit 1; }
echo "$out"
for want in "^pvesafe_backup " "^gpg_backup " "^pvesafe_restore " "^backup:  pvesafe is [0-9.]*x" \
            "read [0-9.]* s, chunk [0-9.]* s, chunk-id [0-9.]* s, compress [0-9.]* s, seal [0-9.]* s, name [0-9.]* s, unlock [0-9.]* s; sum [0-9.]* s" \
            "no schedule of these stages takes under [0-9.]* s" \
            "backup takes [0-9.]*x the floor's wall time .*; [0-9.]*x the data path alone" \
            "each round's backup / floor: [0-9.]*$" "^stored: pvesafe [0-9]* bytes"; do
  grep -q -- "$want" <<< "$out" || { echo "bench_smoke: no line matching '$want'" >&2; exit 1; }
done
note "backup benchmark runs and prints its figures"
