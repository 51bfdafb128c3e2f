#!/usr/bin/env bash
# The shipped Alertmanager config is valid and routes as documented.
set -euo pipefail
command -v amtool >/dev/null || { echo "amtool not installed" >&2; exit 77; }
cfg=${PVESAFE_SOURCE_DIR:?}/deploy/alertmanager/alertmanager.yml
amtool check-config "$cfg"
route() { amtool config routes test --config.file="$cfg" "$@" 2>/dev/null; }
[[ $(route severity=critical alertname=PveNodeDown cluster=c node=n1) == pager ]]
[[ $(route severity=warning alertname=PveBackupFailed cluster=c node=n1) == team ]]
[[ $(route alertname=Other) == team ]]
# Grouping by cluster and node on the critical route.
amtool config routes show --config.file="$cfg" 2>/dev/null | grep -q "group_by: \[cluster node\]\|cluster.*node" ||
  amtool config routes --config.file="$cfg" 2>/dev/null | grep -q pager
grep -q "group_by: \[cluster, node\]" "$cfg"
# Inhibition: a down node silences its link, HA and exporter alerts.
/usr/bin/python3 - "$cfg" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
rules = c["inhibit_rules"]
r = [x for x in rules if 'alertname="PveNodeDown"' in x["source_matchers"]][0]
assert set(r["equal"]) == {"cluster", "node"}, r
for a in ("PveCorosyncLinkDown", "PveHaResourceProblem", "PveExporterDown"):
    assert a in r["target_matchers"][0], a
assert any(w for rc in c["receivers"] for w in rc.get("webhook_configs", []))
assert any(e for rc in c["receivers"] for e in rc.get("email_configs", []))
PY
echo ok
