#!/usr/bin/env bash
# The exporter's status page (/) in headless Chromium: the rendered DOM shows cluster health,
# every node of the pvesim cluster, backups per guest with their age (and the failed one), and
# the last drill; the screenshot is a real PNG of the page (decoded and checked for content).
set -euo pipefail
source "$(dirname "$0")/common.sh"
obs_need chromium sqlite3 curl
obs_pvesim sim --nodes 3 --guests 6
export PVESAFE_PVE_TOKEN_SECRET=$PVESIM_TOKEN
cat="$OBS_TMP/catalog.db"
old=$(date -u -d '-3 days' +%Y-%m-%dT%H:%M:%SZ)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# The catalog as pvesafe creates it (its own schema), then the rows the checks need.
"$PVESAFE_BIN" --catalog "$cat" report > /dev/null
sqlite3 "$cat" <<SQL
INSERT INTO events (time_utc,kind,node,guest_id,guest_type,size_bytes,stored_bytes,duration_seconds,dedup_ratio,result)
  VALUES ('$old','backup','pve-01','100','qemu',2147483648,1,10,2,'ok'),
         ('$now','backup','pve-01','100','qemu',0,0,1,0,'error'),
         ('$now','backup','pve-02','101','lxc',1073741824,1,10,2,'ok');
INSERT INTO events (time_utc,kind,node,guest_id,guest_type,duration_seconds,result,details_json)
  VALUES ('$now','drill','pve-01','100','qemu',400,'error','{"rto_seconds":400,"sla_seconds":300}');
SQL
obs_exporter central --mode central --catalog "$cat" --pve-token-id 'auditor@pve!monitor' \
  --pve-fingerprint "$PVESIM_FP" --target "lab=127.0.0.1:$PVESIM_PORT"
profile=$(mktemp -d "$OBS_TMP/chromium.XXXXXX")
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --user-data-dir="$profile")
timeout 90 chromium "${flags[@]}" --dump-dom "$EXPORTER_URL/" >"$OBS_TMP/dom.html" 2>"$OBS_TMP/chromium.log"
timeout 90 chromium "${flags[@]}" --window-size=1200,1400 --screenshot="$OBS_TMP/page.png" \
  "$EXPORTER_URL/" >>"$OBS_TMP/chromium.log" 2>&1
/usr/bin/python3 - "$OBS_TMP/dom.html" "$OBS_TMP/page.png" <<'PY'
import sys, struct, zlib
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows = {}; self.table = None; self.cells = []; self.cur = None; self.text = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table": self.table = a.get("id"); self.rows.setdefault(self.table, [])
        if tag == "tr": self.cells = []
        if tag == "td": self.cur = ""
    def handle_endtag(self, tag):
        if tag == "td": self.cells.append(self.cur.strip()); self.cur = None
        if tag == "tr" and self.cells: self.rows[self.table].append(self.cells)
    def handle_data(self, data):
        if self.cur is not None: self.cur += data
        self.text.append(data)

p = P(); p.feed(open(sys.argv[1]).read())
text = " ".join(p.text)
nodes = {r[0]: r for r in p.rows["nodes"]}
assert set(nodes) == {"pve-01", "pve-02", "pve-03"}, nodes
assert all(r[1] == "online" for r in nodes.values()), nodes
assert "quorate" in text
backups = {r[0]: r for r in p.rows["backups"]}
assert backups["100"][5] == "FAILED" and backups["100"][3].startswith("3d"), backups["100"]
assert backups["101"][5] == "ok" and backups["101"][4] == "1024.0 MiB", backups["101"]
drills = p.rows["drills"]
assert drills[0][0] == "100" and drills[0][2] == "FAILED" and drills[0][3] == "400 s", drills
assert any(r[0] == "catalog" and r[1] == "up" for r in p.rows["sources"]), p.rows["sources"]

# Screenshot: a valid PNG of the requested size whose pixels are not all the same.
data = open(sys.argv[2], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
assert (w, h) == (1200, 1400), (w, h)
pos, idat = 8, b""
while pos < len(data):
    ln, typ = struct.unpack(">I4s", data[pos:pos + 8])
    if typ == b"IDAT": idat += data[pos + 8:pos + 8 + ln]
    pos += 12 + ln
raw = zlib.decompress(idat)
assert len(set(raw)) > 16, "screenshot looks blank"
print("status page ok:", len(nodes), "nodes,", len(backups), "backups,", len(drills), "drills")
PY
