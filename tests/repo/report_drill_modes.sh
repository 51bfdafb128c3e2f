#!/usr/bin/env bash
# pvesafe report tells the drill modes apart: a full-restore drill and an instant drill of one
# guest, as the catalog records them (restore drills carry no mode in their details, instant
# drills carry "mode":"instant"), show as "drill (restore)" and "drill (instant)" in the table
# and as "mode" in --json.
set -euo pipefail
: "${PVESAFE_BIN:?}"
command -v sqlite3 > /dev/null || { echo "SKIP: sqlite3 not installed" >&2; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cat=$T/catalog.db
"$PVESAFE_BIN" --catalog "$cat" report > /dev/null
sqlite3 "$cat" <<'SQL'
INSERT INTO events (time_utc,kind,node,guest_id,guest_type,duration_seconds,result,details_json)
  VALUES ('2026-12-05T01:00:00Z','drill','pve-01','100','qemu',140,'ok','{"rto_seconds":140}'),
         ('2026-12-05T02:00:00Z','drill','pve-01','100','qemu',35,'ok','{"mode":"instant","rto_seconds":35}'),
         ('2026-12-05T03:00:00Z','backup','pve-01','100','qemu',60,'ok','');
SQL
"$PVESAFE_BIN" --catalog "$cat" report --kind drill > "$T/table.txt"
grep -q "drill (restore)" "$T/table.txt" || { echo "FAIL: no restore drill in: $(cat "$T/table.txt")"; exit 1; }
grep -q "drill (instant)" "$T/table.txt" || { echo "FAIL: no instant drill in: $(cat "$T/table.txt")"; exit 1; }
"$PVESAFE_BIN" --catalog "$cat" --json report > "$T/all.json"
python3 - "$T/all.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
modes = sorted(r.get("mode") for r in rows if r["kind"] == "drill")
assert modes == ["instant", "restore"], modes
assert all("mode" not in r for r in rows if r["kind"] != "drill"), rows
PY
echo PASS
