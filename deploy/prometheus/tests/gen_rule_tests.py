#!/usr/bin/env python3
"""Writes the promtool unit tests for rules/pvesafe.rules.yml.

Each alert gets three kinds of cases: it fires on a real fault, it stays silent on healthy data,
and (for the alerts with a short hold) it stays silent on a blip shorter than its `for`.
The expected annotations are rendered from the rule's own templates (only {{ $labels.X }} is
used there), so wording changes do not need test edits, while labels and timing are checked.

Usage: gen_rule_tests.py RULES_FILE OUT_DIR   (writes pvesafe_fast.test.yml, pvesafe_slow.test.yml)
"""
import os
import re
import sys

import yaml

rules_file = sys.argv[1]
with open(rules_file) as f:
    groups = yaml.safe_load(f)["groups"]
rules = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def render(text, labels):
    return re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), text).strip()


def alert(name, **labels):
    rule = rules[name]
    full = dict(labels)
    full.update(rule.get("labels", {}))
    ann = {k: render(" ".join(v.split()) if k == "description" else v, full)
           for k, v in rule.get("annotations", {}).items()}
    # Prometheus folds the description's `>-` block into one line with single spaces.
    return {"exp_labels": full, "exp_annotations": ann}


def series(name, labels, values):
    lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{lab}}}", "values": values}


tests = []
covered = set()


def case(interval, input_series, checks):
    tests.append({"interval": interval, "input_series": input_series,
                  "alert_rule_test": [{"eval_time": t, "alertname": a, "exp_alerts": e}
                                      for t, a, e in checks]})
    for _, a, _ in checks:
        covered.add(a)


C = {"cluster": "lab"}
node_job = {"job": "pvesafe-node"}


def obs(o):
    return {**C, "instance": f"10.0.0.{o[-1]}:9221", **node_job, "pve_node": o, "observer": o}


# --- PveNodeDown: both peers lose n3 at t=5s; a 3 s blip; healthy; API says offline.
down = "1x4 0x60"
blip = "1x4 0 0 0 1x60"
healthy = "1x64"
for values, expect in ((down, True), (blip, False), (healthy, False)):
    s = [series("pvesafe_corosync_peer_reachable", {**obs(o), "node": "n3", "nodeid": "3"}, values)
         for o in ("n1", "n2")]
    s += [series("pvesafe_corosync_peer_reachable", {**obs("n1"), "node": "n2", "nodeid": "2"}, healthy)]
    exp = [alert("PveNodeDown", cluster="lab", node="n3")] if expect else []
    case("1s", s, [("8s", "PveNodeDown", []), ("20s", "PveNodeDown", exp), ("40s", "PveNodeDown", exp)])
# only one of two observers loses the node: its own link problem, not a dead node
case("1s", [series("pvesafe_corosync_peer_reachable", {**obs("n1"), "node": "n3", "nodeid": "3"}, down),
            series("pvesafe_corosync_peer_reachable", {**obs("n2"), "node": "n3", "nodeid": "3"}, healthy)],
     [("30s", "PveNodeDown", [])])
case("1s", [series("pvesafe_node_online", {**C, "instance": "central", "job": "pvesafe-central", "node": "pve2"}, down)],
     [("20s", "PveNodeDown", [alert("PveNodeDown", cluster="lab", node="pve2")])])

# --- PveQuorumLost
for values, expect in ((down, True), (blip, False), (healthy, False)):
    lab = obs("n3")
    exp = [alert("PveQuorumLost", **lab, node="n3")] if expect else []
    case("1s", [series("pvesafe_corosync_quorate", lab, values)],
         [("8s", "PveQuorumLost", []), ("20s", "PveQuorumLost", exp)])
case("1s", [series("pvesafe_cluster_quorate", {**C, "instance": "central", "job": "pvesafe-central"}, down)],
     [("20s", "PveQuorumLost", [alert("PveQuorumLost", cluster="lab", instance="central",
                                      job="pvesafe-central", node="*")])])

# --- PveCorosyncLinkDown: link0 to n3 down for both peers, link1 up; n3 sees its peers' link0 down.
for values, expect in ((down, True), (blip, False), (healthy, False)):
    s = []
    for o in ("n1", "n2"):
        s.append(series("pvesafe_corosync_link_connected", {**obs(o), "node": "n3", "nodeid": "3", "link": "0"}, values))
        s.append(series("pvesafe_corosync_link_connected", {**obs(o), "node": "n3", "nodeid": "3", "link": "1"}, healthy))
    for peer, other in (("n1", "n2"), ("n2", "n1")):
        s.append(series("pvesafe_corosync_link_connected", {**obs("n3"), "node": peer, "nodeid": peer[-1], "link": "0"}, values))
        s.append(series("pvesafe_corosync_link_connected", {**obs(other), "node": peer, "nodeid": peer[-1], "link": "0"}, healthy))
    exp = [alert("PveCorosyncLinkDown", cluster="lab", node="n3", link="0")] if expect else []
    case("1s", s, [("8s", "PveCorosyncLinkDown", []), ("20s", "PveCorosyncLinkDown", exp)])

# --- PveCorosyncDown
for values, expect in ((down, True), (blip, False), (healthy, False)):
    lab = {**C, "instance": "10.0.0.3:9221", **node_job, "pve_node": "n3", "source": "corosync"}
    exp = [alert("PveCorosyncDown", **lab, node="n3")] if expect else []
    case("1s", [series("pvesafe_source_up", lab, values)],
         [("8s", "PveCorosyncDown", []), ("20s", "PveCorosyncDown", exp)])

# --- PveExporterDown (30 s hold)
for values, expect in (("1x4 0x80", True), ("1x4 0x10 1x80", False), ("1x90", False)):
    lab = {**C, "instance": "10.0.0.3:9221", **node_job, "pve_node": "n3"}
    exp = [alert("PveExporterDown", **lab, node="n3")] if expect else []
    case("1s", [series("up", lab, values)],
         [("20s", "PveExporterDown", []), ("50s", "PveExporterDown", exp)])
lab = {**C, "instance": "central:9221", "job": "pvesafe-central"}
case("1s", [series("up", lab, "1x4 0x80")],
     [("50s", "PveExporterDown", [alert("PveExporterDown", **lab, node="*")])])

# --- HA resource in error / fence (15 s group, 15 s hold)
ha = {**C, "instance": "central", "job": "pvesafe-central", "sid": "vm:100", "guest": "100", "node": "pve2"}
case("5s", [series("pvesafe_ha_resource_problem", ha, "0x2 1x40")],
     [("10s", "PveHaResourceProblem", []), ("60s", "PveHaResourceProblem", [alert("PveHaResourceProblem", **ha)])])
case("5s", [series("pvesafe_ha_resource_problem", ha, "0x2 1 0x40")],
     [("60s", "PveHaResourceProblem", [])])
case("5s", [series("pvesafe_ha_resource_problem", ha, "0x40")], [("60s", "PveHaResourceProblem", [])])

# --- HA LRM dead
lrm = {**C, "instance": "central", "job": "pvesafe-central", "node": "pve3"}
case("15s", [series("pvesafe_ha_lrm_info", {**lrm, "state": "dead"}, "1x20")],
     [("2m", "PveHaLrmDead", [alert("PveHaLrmDead", **lrm, state="dead")])])
case("15s", [series("pvesafe_ha_lrm_info", {**lrm, "state": "active"}, "1x20")], [("2m", "PveHaLrmDead", [])])

# --- Ceph
ceph = {**C, "instance": "central", "job": "pvesafe-central"}
case("1m", [series("pvesafe_ceph_health_status", {**ceph, "status": "HEALTH_WARN"}, "0 1x20"),
            series("pvesafe_ceph_health_status", {**ceph, "status": "HEALTH_OK"}, "1 0x20")],
     [("10m", "PveCephNotHealthy", [alert("PveCephNotHealthy", **ceph, status="HEALTH_WARN", node="*")]),
      ("10m", "PveCephError", [])])
case("1m", [series("pvesafe_ceph_health_status", {**ceph, "status": "HEALTH_WARN"}, "0 1 1 0x20"),
            series("pvesafe_ceph_health_status", {**ceph, "status": "HEALTH_OK"}, "1 0 0 1x20")],
     [("10m", "PveCephNotHealthy", [])])
case("1m", [series("pvesafe_ceph_health_status", {**ceph, "status": "HEALTH_ERR"}, "0 1x20")],
     [("5m", "PveCephError", [alert("PveCephError", **ceph, status="HEALTH_ERR", node="*")])])
case("1m", [series("pvesafe_ceph_health_status", {**ceph, "status": "HEALTH_ERR"}, "0x20")],
     [("5m", "PveCephError", [])])

# --- Storage
st = {**C, "instance": "central", "job": "pvesafe-central", "node": "pve1", "storage": "local"}
case("1m", [series("pvesafe_storage_used_bytes", st, "90x20"), series("pvesafe_storage_total_bytes", st, "100x20")],
     [("10m", "PveStorageAlmostFull", [alert("PveStorageAlmostFull", **st)])])
case("1m", [series("pvesafe_storage_used_bytes", st, "50x20"), series("pvesafe_storage_total_bytes", st, "100x20")],
     [("10m", "PveStorageAlmostFull", [])])
case("1m", [series("pvesafe_storage_used_bytes", st, "90 90 50x20"), series("pvesafe_storage_total_bytes", st, "100x20")],
     [("10m", "PveStorageAlmostFull", [])])
# grows 3 GB per hour from 60 of 100 GB: full in < 24 h (input every 5 min: inside the lookback)
case("5m", [series("pvesafe_storage_used_bytes", st, "60000000000+250000000x120"),
             series("pvesafe_storage_total_bytes", st, "100000000000x120")],
     [("8h", "PveStoragePredictedFull", [alert("PveStoragePredictedFull", **st)])])
case("5m", [series("pvesafe_storage_used_bytes", st, "60000000000+1000000x120"),
             series("pvesafe_storage_total_bytes", st, "100000000000x120")],
     [("8h", "PveStoragePredictedFull", [])])

# --- Version skew
pk = {**C, "instance": "central", "job": "pvesafe-central", "package": "pve-manager"}
case("5m", [series("pvesafe_node_package_info", {**pk, "node": "pve1", "version": "8.2.4"}, "1x100"),
             series("pvesafe_node_package_info", {**pk, "node": "pve2", "version": "8.2.7"}, "1x100")],
     [("7h", "PveVersionSkew", [alert("PveVersionSkew", cluster="lab", package="pve-manager", node="*")])])
case("5m", [series("pvesafe_node_package_info", {**pk, "node": "pve1", "version": "8.2.7"}, "1x100"),
             series("pvesafe_node_package_info", {**pk, "node": "pve2", "version": "8.2.7"}, "1x100")],
     [("7h", "PveVersionSkew", [])])
# a rolling upgrade that completes within the hold does not alert
case("5m", [series("pvesafe_node_package_info", {**pk, "node": "pve1", "version": "8.2.7"}, "1x100"),
             series("pvesafe_node_package_info", {**pk, "node": "pve2", "version": "8.2.4"}, "1 1 _x100"),
             series("pvesafe_node_package_info", {**pk, "node": "pve2", "version": "8.2.7"}, "_ _ 1x100")],
     [("7h", "PveVersionSkew", [])])

# --- Audit: a critical finding that stays; a warning; a critical one fixed within the hold
au = {**C, "instance": "central", "job": "pvesafe-central"}
case("5m", [series("pvesafe_audit_worst_severity", au, "3x30")],
     [("10m", "PveAuditCritical", []),
      ("30m", "PveAuditCritical", [alert("PveAuditCritical", cluster="lab", node="*")])])
case("5m", [series("pvesafe_audit_worst_severity", au, "2x30")], [("2h", "PveAuditCritical", [])])
case("5m", [series("pvesafe_audit_worst_severity", au, "3 3 0x30")], [("2h", "PveAuditCritical", [])])

# --- Source down (2 min hold)
src = {**C, "instance": "central:9221", "job": "pvesafe-central", "source": "cluster_resources"}
case("15s", [series("pvesafe_source_up", src, "0x20")],
     [("4m", "PveExporterSourceDown", [alert("PveExporterSourceDown", **src, node="*")])])
case("15s", [series("pvesafe_source_up", src, "0 0 1x20")], [("4m", "PveExporterSourceDown", [])])
srcn = {**C, "instance": "10.0.0.1:9221", **node_job, "pve_node": "n1", "source": "node_status"}
case("15s", [series("pvesafe_source_up", srcn, "0x20")],
     [("4m", "PveExporterSourceDown", [alert("PveExporterSourceDown", **srcn, node="n1")])])

# --- Backups. promtool's clock starts at 0, so timestamps are seconds from there.
bk = {**C, "instance": "central:9221", "job": "pvesafe-catalog", "guest": "100", "node": "pve1", "type": "qemu"}
case("5m", [series("pvesafe_backup_last_success_timestamp_seconds", bk, "0x400")],
     [("20h", "PveBackupTooOld", []),
      ("27h", "PveBackupTooOld", [alert("PveBackupTooOld", **bk)])])
# a daily backup (timestamp steps every 24 h) never alerts
case("5m", [series("pvesafe_backup_last_success_timestamp_seconds", bk,
                   " ".join(str(86400 * (i * 300 // 86400)) for i in range(720)))],
     [("27h", "PveBackupTooOld", []), ("50h", "PveBackupTooOld", [])])
# attempted but never succeeded
case("1m", [series("pvesafe_backup_last_attempt_timestamp_seconds", bk, "0x20")],
     [("10m", "PveBackupTooOld", [alert("PveBackupTooOld", **bk)])])
case("1m", [series("pvesafe_backup_last_attempt_success", bk, "1 0x20")],
     [("5m", "PveBackupFailed", [alert("PveBackupFailed", **bk)])])
case("1m", [series("pvesafe_backup_last_attempt_success", bk, "1x20")], [("5m", "PveBackupFailed", [])])

# --- Backups from the repository: one series per guest whatever node took the snapshot; the
# node label comes from where the guest runs now (pvesafe_guest_info).
gb = {**C, "instance": "central:9221", "job": "pvesafe-central", "guest": "100", "type": "qemu"}
gi = {**C, "instance": "central:9221", "job": "pvesafe-central", "guest": "100", "type": "qemu",
      "node": "pve2", "name": "web", "template": "0", "hastate": ""}
case("5m", [series("pvesafe_guest_backup_last_timestamp_seconds", gb, "0x400"),
            series("pvesafe_guest_info", gi, "1x400")],
     [("20h", "PveGuestBackupTooOld", []),
      ("27h", "PveGuestBackupTooOld", [alert("PveGuestBackupTooOld", **gb, node="pve2")])])
# a daily backup never alerts, wherever the guest runs
case("5m", [series("pvesafe_guest_backup_last_timestamp_seconds", gb,
                   " ".join(str(86400 * (i * 300 // 86400)) for i in range(720))),
            series("pvesafe_guest_info", gi, "1x720")],
     [("27h", "PveGuestBackupTooOld", []), ("50h", "PveGuestBackupTooOld", [])])
case("5m", [series("pvesafe_guest_backup_snapshots", gb, "0x400"),
            series("pvesafe_guest_info", gi, "1x400")],
     [("20h", "PveGuestNeverBackedUp", []),
      ("27h", "PveGuestNeverBackedUp", [alert("PveGuestNeverBackedUp", **gb, node="pve2")])])
case("5m", [series("pvesafe_guest_backup_snapshots", gb, "0x200 1x200"),
            series("pvesafe_guest_info", gi, "1x400")],
     [("27h", "PveGuestNeverBackedUp", [])])
# with the repository view of the guest, the catalog's alert stays silent (no duplicate)
bk2 = {**bk, "cluster": "lab"}
case("5m", [series("pvesafe_backup_last_success_timestamp_seconds", bk2, "0x400"),
            series("pvesafe_guest_backup_snapshots", gb, "1x400")],
     [("27h", "PveBackupTooOld", [])])

# --- Drills
dr = {**C, "instance": "central:9221", "job": "pvesafe-catalog", "guest": "100", "node": "pve1", "type": "qemu"}
case("1m", [series("pvesafe_drill_last_success", dr, "1 0x20")],
     [("5m", "PveDrillFailed", [alert("PveDrillFailed", **dr)])])
case("1m", [series("pvesafe_drill_last_success", dr, "1x20")], [("5m", "PveDrillFailed", [])])
case("1m", [series("pvesafe_drill_last_rto_seconds", dr, "400x20"), series("pvesafe_drill_rto_sla_seconds", dr, "300x20")],
     [("5m", "PveDrillRtoOverSla", [alert("PveDrillRtoOverSla", **dr)])])
case("1m", [series("pvesafe_drill_last_rto_seconds", dr, "200x20"), series("pvesafe_drill_rto_sla_seconds", dr, "300x20")],
     [("5m", "PveDrillRtoOverSla", [])])
sd = {"cluster": "site-b", "instance": "central:9221", "job": "pvesafe-catalog"}
for alertname, metric in (("PveSiteRtoOverSla", "pvesafe_site_drill_last_rto_seconds"),
                          ("PveSitePredictedRtoOverSla", "pvesafe_site_drill_predicted_rto_seconds")):
    case("1m", [series(metric, sd, "1000x20"), series("pvesafe_site_drill_rto_sla_seconds", sd, "900x20")],
         [("5m", alertname, [alert(alertname, **sd)])])
    case("1m", [series(metric, sd, "800x20"), series("pvesafe_site_drill_rto_sla_seconds", sd, "900x20")],
         [("5m", alertname, [])])

missing = set(rules) - covered
if missing:
    sys.exit(f"alerts without tests: {sorted(missing)}")

# Fast alerts are evaluated every second, the slow ones (hours of input) every minute.
fast = [t for t in tests if t["interval"].endswith("s")]
slow = [t for t in tests if not t["interval"].endswith("s")]
outdir = sys.argv[2]
for name, chunk, ev in (("fast", fast, "1s"), ("slow", slow, "1m")):
    with open(f"{outdir}/pvesafe_{name}.test.yml", "w") as f:
        f.write("# Generated by gen_rule_tests.py from ../rules/pvesafe.rules.yml; do not edit by hand.\n")
        rules_rel = os.path.relpath(os.path.abspath(rules_file), os.path.abspath(outdir))
        f.write(yaml.safe_dump({"rule_files": [rules_rel], "evaluation_interval": ev, "tests": chunk},
                               sort_keys=False, width=1000))
