#!/usr/bin/env bash
# Grafana is not in Debian, so the dashboards are checked without it: structure (datasource
# variable used by every panel, unique ids, grid positions, targets), and every panel query and
# variable query is run against a real Prometheus scraping real exporters (the lab's corosync
# cluster in namespaces, pvesim through the central exporter, a catalog with backups and a
# drill of each mode: full restore and instant): each must parse and return data, and the drill
# panels show both modes.
set -euo pipefail
src=${PVESAFE_SOURCE_DIR:?}
command -v sqlite3 >/dev/null || { echo "sqlite3 not installed" >&2; exit 77; }
source "$src/tests/lab/lab.sh"
rc=0; lab_check_tools || rc=$?
(( rc == 0 )) || exit "$rc"
[[ -x "${PVESIM_BIN:-}" ]] || { echo "pvesim not built" >&2; exit 77; }
cat_dir=$(mktemp -d)
trap 'lab_down; rm -rf "$cat_dir"' EXIT INT TERM
export LAB_CATALOG="$cat_dir/catalog.db"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# The catalog as pvesafe creates it (its own schema), then the rows the checks need.
"$PVESAFE_BIN" --catalog "$LAB_CATALOG" report > /dev/null
sqlite3 "$LAB_CATALOG" <<SQL
INSERT INTO events (time_utc,kind,node,guest_id,guest_type,size_bytes,stored_bytes,duration_seconds,dedup_ratio,result,details_json)
  VALUES ('$now','backup','pve-01','100','qemu',4294967296,429496729,61.5,3.2,'ok','{"requests":{"total":96,"per_gib":24}}'),
         ('$now','backup','pve-02','101','lxc',1073741824,107374182,12.0,5.1,'ok','{"requests":{"total":30,"per_gib":30}}'),
         ('$now','backup','pve-02','102','qemu',0,0,3.0,0,'error',NULL);
INSERT INTO events (time_utc,kind,node,guest_id,guest_type,duration_seconds,result,details_json)
  VALUES ('$now','drill','pve-01','100','qemu',140,'ok',
          '{"rto_seconds":140,"sla_seconds":900,"stages":{"fetch":40,"restore":80,"boot":15,"check":5}}'),
         ('$now','drill','pve-01','100','qemu',35,'ok',
          '{"mode":"instant","rto_seconds":35,"sla_seconds":900,"background_copy_seconds":310,"stages":{"boot":30,"check":5}}');
SQL
lab_up
lab_wait_healthy 120
# Wait (bounded) until every fast job has two samples, so rate() works, and the catalog job
# (scraped every 30 s, its first scrape anywhere in that window) has reported once. A fixed
# sleep raced the catalog job's scrape phase.
prom_has() {  # prom_has QUERY: true when QUERY returns at least one series
  curl -fsS --max-time 5 "http://127.0.0.1:$LAB_PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
    /usr/bin/python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
}
for ((i = 0; i < 120; i++)); do
  prom_has 'min(count_over_time(up{job!="pvesafe-catalog"}[10m])) >= 2' &&
    prom_has 'pvesafe_backup_last_success_timestamp_seconds' &&
    prom_has 'pvesafe_drill_last_rto_seconds{mode="instant"}' && break
  sleep 1
done
/usr/bin/python3 - "$src/deploy/grafana/dashboards" "$LAB_PROM_PORT" <<'PY'
import glob, json, re, sys, urllib.parse, urllib.request
d, port = sys.argv[1], sys.argv[2]

def query(expr):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        j = json.load(r)
    assert j["status"] == "success", (expr, j)
    return j["data"]["result"]

def subst(expr):
    return (expr.replace("$cluster", ".*").replace("$node", ".*")
                .replace("$__rate_interval", "30s").replace("$__interval", "2s").replace("$__range", "1h"))

failures = []
boards = sorted(glob.glob(f"{d}/*.json"))
assert len(boards) == 3, boards
for path in boards:
    b = json.load(open(path))
    names = [v["name"] for v in b["templating"]["list"]]
    assert "datasource" in names, path
    ds = [v for v in b["templating"]["list"] if v["name"] == "datasource"][0]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    ids = [p["id"] for p in b["panels"]]
    assert len(ids) == len(set(ids)), f"{path}: duplicate panel ids"
    assert b["uid"] and b["title"]
    for v in b["templating"]["list"]:
        if v["type"] != "query":
            continue
        m = re.match(r"label_values\((.*),\s*(\w+)\)$", v["definition"])
        assert m, v["definition"]
        r = query(f"count by ({m.group(2)}) ({subst(m.group(1))})")
        if not r:
            failures.append(f"{path}: variable {v['name']} has no values")
    for p in b["panels"]:
        assert p["datasource"]["uid"] == "${datasource}", (path, p["title"])
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, (path, p["title"])
        assert p["targets"], (path, p["title"])
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"
            try:
                r = query(subst(t["expr"]))
            except Exception as e:
                failures.append(f"{path}: {p['title']}: {t['expr']}: {e}")
                continue
            if not r:
                failures.append(f"{path}: {p['title']}: no data for {t['expr']}")
    if b["uid"] == "pvesafe-backups":
        # The drill panels tell the modes apart: every drill query returns both modes (or, for
        # the instant-only background copy, the instant drill).
        drill = [p for p in b["panels"] if "drill" in p["title"].lower()]
        assert len(drill) >= 5, [p["title"] for p in drill]
        for p in drill:
            for t in p["targets"]:
                modes = {r["metric"].get("mode") for r in query(subst(t["expr"]))}
                want = {"instant"} if "background_copy" in t["expr"] else {"instant", "restore"}
                if not want <= modes:
                    failures.append(f"{path}: {p['title']}: modes {modes} for {t['expr']}, want {want}")
    print(f"{path}: {len(b['panels'])} panels checked")
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
PY
