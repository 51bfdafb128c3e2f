#!/usr/bin/env bash
# Does a container's vzdump tar dedup well from one day to the next as a byte stream? Day 1 and
# day 2 of a container (pvesim make-archive ct: GNU tar with vzdump's flags over a root tree that
# changes like a server's: packages replaced, logs appended, database pages), then:
#   changed file data   the size of every regular file that is new or whose content differs
#   pvesafe day 2       what `pvesafe backup day2.tar` stores after day 1 (compressed, encrypted)
#   restic day 2        `restic backup --stdin` of the same tars, side by side (when installed)
# The rule (docs/format.md): the tar path stays a byte stream while day 2 stores at most 1.5x the
# changed file data.
#
#   bench/dedup/ct_tar.sh BUILD_DIR     (SIZE=256M, VMID=102, DAYS="2026-03-01 2026-03-02")
set -euo pipefail
B=$(cd "${1:?usage: ct_tar.sh BUILD_DIR}" && pwd)
PS=$B/bin/pvesafe; SIM=$B/bin/pvesim
SIZE=${SIZE:-256M}; VMID=${VMID:-102}
read -r DAY1 DAY2 <<< "${DAYS:-2026-03-01 2026-03-02}"
W=$(mktemp -d "${TMPDIR:-/var/tmp}/pvesafe-ct.XXXXXX")
trap 'rm -rf "$W"' EXIT
export PVESAFE_CATALOG=$W/catalog.db
"$SIM" make-archive ct --vmid "$VMID" --day "$DAY1" --size "$SIZE" --out "$W/d1.tar" --tree "$W/r1" > /dev/null
"$SIM" make-archive ct --vmid "$VMID" --day "$DAY2" --size "$SIZE" --out "$W/d2.tar" --tree "$W/r2" > /dev/null
changed=$(python3 - "$W/r1" "$W/r2" <<'PY'
import filecmp, os, sys
r1, r2 = sys.argv[1:3]
changed = 0
for dp, _, files in os.walk(r2):
    for f in files:
        p2 = os.path.join(dp, f)
        if os.path.islink(p2) or not os.path.isfile(p2):
            continue
        p1 = os.path.join(r1, os.path.relpath(p2, r2))
        if not os.path.isfile(p1) or not filecmp.cmp(p1, p2, shallow=False):
            changed += os.path.getsize(p2)
print(changed)
PY
)
(umask 077; echo "ct bench" > "$W/pass")
"$PS" -r "$W/repo" init --passphrase-file "$W/pass" > /dev/null
stored() { python3 -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])'; }
p1=$("$PS" -r "$W/repo" backup --passphrase-file "$W/pass" --json "$W/d1.tar" | stored)
p2=$("$PS" -r "$W/repo" backup --passphrase-file "$W/pass" --json "$W/d2.tar" | stored)
r2=""
if command -v restic > /dev/null; then
  export RESTIC_PASSWORD_FILE=$W/pass RESTIC_REPOSITORY=$W/restic
  restic init -q > /dev/null
  rs() { restic stats --mode raw-data --json -q | python3 -c 'import json,sys; print(json.load(sys.stdin)["total_size"])'; }
  restic backup -q --stdin --stdin-filename ct.tar < "$W/d1.tar" > /dev/null; s1=$(rs)
  restic backup -q --stdin --stdin-filename ct.tar < "$W/d2.tar" > /dev/null; s2=$(rs)
  r2=$((s2 - s1))
fi
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "container $VMID, $SIZE, $DAY1 -> $DAY2: tar $(mib "$(stat -c %s "$W/d2.tar")")"
echo "changed file data:   $(mib "$changed")"
echo "pvesafe day 1:       $(mib "$p1")"
echo "pvesafe day 2:       $(mib "$p2")  = $(awk -v a="$p2" -v b="$changed" 'BEGIN { printf "%.2f", a / b }')x the changed file data (rule: at most 1.5x)"
[[ -z "$r2" ]] || echo "restic day 2:        $(mib "$r2")  = $(awk -v a="$r2" -v b="$changed" 'BEGIN { printf "%.2f", a / b }')x"
