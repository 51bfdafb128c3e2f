#!/usr/bin/env python3
"""Writes the provisioned Grafana dashboards (dashboards/*.json) for pvesafe's metrics.
Each dashboard has a `datasource` variable (type datasource, Prometheus) that every panel uses,
and `cluster` (and `node`) query variables. Usage: gen_dashboards.py OUT_DIR"""
import json
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}


def variables(with_node):
    v = [{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
          "current": {}, "hide": 0, "refresh": 1},
         {"name": "cluster", "label": "Cluster", "type": "query", "datasource": DS,
          "query": {"query": "label_values(pvesafe_source_up, cluster)", "refId": "cluster"},
          "definition": "label_values(pvesafe_source_up, cluster)",
          "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "current": {}}]
    if with_node:
        v.append({"name": "node", "label": "Node", "type": "query", "datasource": DS,
                  "query": {"query": 'label_values(pvesafe_node_up{cluster=~"$cluster"}, node)', "refId": "node"},
                  "definition": 'label_values(pvesafe_node_up{cluster=~"$cluster"}, node)',
                  "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "current": {}})
    return v


class Board:
    def __init__(self, uid, title, with_node=False):
        self.d = {"uid": uid, "title": title, "tags": ["pvesafe", "proxmox"], "timezone": "utc",
                  "schemaVersion": 39, "version": 1, "editable": True, "refresh": "10s",
                  "time": {"from": "now-1h", "to": "now"},
                  "templating": {"list": variables(with_node)}, "panels": [],
                  "annotations": {"list": []}}
        self.x = self.y = 0
        self.rowh = 0

    def panel(self, kind, title, targets, w=6, h=5, unit=None, desc="", **extra):
        if self.x + w > 24:
            self.x, self.y, self.rowh = 0, self.y + self.rowh, 0
        p = {"id": len(self.d["panels"]) + 1, "type": kind, "title": title, "description": desc,
             "datasource": DS, "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
             "targets": [dict(refId=chr(65 + i), datasource=DS, expr=e, legendFormat=l,
                              **({"instant": True, "format": "table"} if kind == "table" else {}))
                         for i, (e, l) in enumerate(targets)],
             "fieldConfig": {"defaults": {"unit": unit} if unit else {}, "overrides": []},
             "options": {}}
        p.update(extra)
        self.d["panels"].append(p)
        self.x += w
        self.rowh = max(self.rowh, h)

    def write(self, path):
        with open(path, "w") as f:
            json.dump(self.d, f, indent=2)
            f.write("\n")


C = 'cluster=~"$cluster"'
out = sys.argv[1]

b = Board("pvesafe-cluster", "pvesafe / Cluster overview")
b.panel("stat", "Quorum", [(f"min(pvesafe_corosync_quorate{{{C}}}) or min(pvesafe_cluster_quorate{{{C}}})", "")],
        desc="1 = every node's corosync partition is quorate")
b.panel("stat", "Nodes online", [(f"sum(pvesafe_node_up{{{C}}})", "API"),
                                 (f"count(pvesafe_node_up{{{C}}})", "configured")])
b.panel("stat", "Corosync links down", [(f"sum(1 - pvesafe_corosync_link_connected{{{C}}}) or vector(0)", "")])
b.panel("stat", "Firing alerts", [(f'count(ALERTS{{alertstate="firing",{C}}}) or vector(0)', "")])
b.panel("stat", "HA resources in error/fence", [(f"sum(pvesafe_ha_resource_problem{{{C}}}) or vector(0)", "")])
b.panel("stat", "Ceph", [(f'max(pvesafe_ceph_health_status{{status="HEALTH_OK",{C}}}) or max(pvesafe_ceph_configured{{{C}}})', "")],
        desc="1 = HEALTH_OK (or Ceph not configured: 0 with no status)")
b.panel("stat", "Guests running", [(f"sum(pvesafe_guest_running{{{C}}})", "")])
b.panel("stat", "Exporter sources down", [(f"count(pvesafe_source_up{{{C}}} == 0) or vector(0)", "")])
b.panel("timeseries", "Node CPU", [(f"pvesafe_node_cpu_ratio{{{C}}}", "{{node}}")], w=12, h=8, unit="percentunit")
b.panel("timeseries", "Node memory used", [(f"pvesafe_node_memory_used_bytes{{{C}}} / pvesafe_node_memory_total_bytes{{{C}}}", "{{node}}")],
        w=12, h=8, unit="percentunit")
b.panel("state-timeline", "Corosync knet links (observer -> node, link)",
        [(f"pvesafe_corosync_link_connected{{{C}}}", "{{observer}} -> {{node}} link{{link}}")], w=12, h=8)
b.panel("timeseries", "Storage used", [(f"pvesafe_storage_used_bytes{{{C}}} / pvesafe_storage_total_bytes{{{C}}}", "{{node}}/{{storage}}")],
        w=12, h=8, unit="percentunit")
b.panel("table", "Package versions", [(f"pvesafe_node_package_info{{{C}}}", "")], w=12, h=8)
b.panel("table", "Exporter sources", [(f"pvesafe_source_up{{{C}}}", "")], w=12, h=8)
b.write(f"{out}/pvesafe-cluster.json")

N = 'cluster=~"$cluster", node=~"$node"'
b = Board("pvesafe-node", "pvesafe / Node detail", with_node=True)
b.panel("stat", "Online", [(f"pvesafe_node_up{{{N}}}", "{{node}}")])
b.panel("stat", "Uptime", [(f"pvesafe_node_uptime_seconds{{{N}}}", "{{node}}")], unit="s")
b.panel("stat", "Guests running", [(f"sum by (node) (pvesafe_guest_running{{{N}}})", "{{node}}")])
b.panel("stat", "Root disk used", [(f"pvesafe_node_rootfs_used_bytes{{{N}}} / pvesafe_node_rootfs_total_bytes{{{N}}}", "{{node}}")],
        unit="percentunit")
b.panel("timeseries", "CPU", [(f"pvesafe_node_cpu_ratio{{{N}}}", "{{node}}")], w=12, h=8, unit="percentunit")
b.panel("timeseries", "Memory", [(f"pvesafe_node_memory_used_bytes{{{N}}}", "used {{node}}"),
                                 (f"pvesafe_node_memory_total_bytes{{{N}}}", "total {{node}}")], w=12, h=8, unit="bytes")
b.panel("timeseries", "Guest CPU", [(f"pvesafe_guest_cpu_ratio{{{N}}}", "{{guest}}")], w=12, h=8, unit="percentunit")
b.panel("timeseries", "Guest network", [(f"rate(pvesafe_guest_network_receive_bytes_total{{{N}}}[$__rate_interval])", "in {{guest}}"),
                                        (f"rate(pvesafe_guest_network_transmit_bytes_total{{{N}}}[$__rate_interval])", "out {{guest}}")],
        w=12, h=8, unit="Bps")
b.panel("timeseries", "Storage used", [(f"pvesafe_storage_used_bytes{{{N}}}", "{{storage}}")], w=12, h=8, unit="bytes")
b.panel("table", "Guests", [(f"pvesafe_guest_info{{{N}}}", "")], w=12, h=8)
b.panel("state-timeline", "Corosync links seen by this node",
        [('pvesafe_corosync_link_connected{cluster=~"$cluster", observer=~"$node"}', "-> {{node}} link{{link}}")], w=12, h=8)
b.panel("timeseries", "Knet link latency", [('pvesafe_corosync_link_latency_seconds{cluster=~"$cluster", observer=~"$node"}', "-> {{node}} link{{link}}")],
        w=12, h=8, unit="s")
b.write(f"{out}/pvesafe-node.json")

b = Board("pvesafe-backups", "pvesafe / Backups and DR drills")
b.panel("stat", "Guests with a backup", [(f"count(pvesafe_backup_last_success_timestamp_seconds{{{C}}})", "")])
b.panel("stat", "Last backup failed", [(f"count(pvesafe_backup_last_attempt_success{{{C}}} == 0) or vector(0)", "")])
b.panel("stat", "Oldest last backup", [(f"max(time() - pvesafe_backup_last_success_timestamp_seconds{{{C}}})", "")], unit="s")
b.panel("stat", "Drills failed", [(f"count by (mode) (pvesafe_drill_last_success{{{C}}} == 0) or count by (mode) (pvesafe_drill_last_success{{{C}}}) * 0", "{{mode}}")],
        desc="Guests whose newest drill failed, per drill mode (restore: full restore then boot; instant: boot from the repository)")
b.panel("table", "Backup age per guest", [(f"time() - pvesafe_backup_last_success_timestamp_seconds{{{C}}}", "")], w=12, h=8, unit="s")
b.panel("table", "Last backup size per guest", [(f"pvesafe_backup_last_size_bytes{{{C}}}", "")], w=12, h=8, unit="bytes")
b.panel("timeseries", "Backup duration", [(f"pvesafe_backup_last_duration_seconds{{{C}}}", "{{guest}}")], w=12, h=8, unit="s")
b.panel("timeseries", "Dedup ratio", [(f"pvesafe_backup_last_dedup_ratio{{{C}}}", "{{guest}}")], w=12, h=8)
b.panel("timeseries", "Store requests per GiB backed up (what S3 bills)",
        [(f"pvesafe_backup_last_requests_per_gib{{{C}}}", "{{guest}}")], w=12, h=8)
b.panel("bargauge", "Last drill RTO vs SLA", [(f"pvesafe_drill_last_rto_seconds{{{C}}}", "RTO {{guest}} {{mode}}"),
                                              (f"pvesafe_drill_rto_sla_seconds{{{C}}}", "SLA {{guest}} {{mode}}")], w=12, h=8, unit="s")
b.panel("bargauge", "Last drill stage times", [(f"pvesafe_drill_last_stage_duration_seconds{{{C}}}", "{{guest}} {{mode}} {{stage}}")],
        w=12, h=8, unit="s")
b.panel("timeseries", "Drill RTO by mode (worst guest)", [(f"max by (mode) (pvesafe_drill_last_rto_seconds{{{C}}})", "{{mode}}")],
        w=12, h=8, unit="s",
        desc="The longest recovery time of the newest drills, per mode: instant (guest healthy while its disk is "
             "still in the repository) against restore (full restore, then boot)")
b.panel("bargauge", "Instant drills: background copy", [(f"pvesafe_drill_last_background_copy_seconds{{{C}}}", "{{guest}}")],
        w=12, h=8, unit="s",
        desc="Instant-recovery drills: time until the guest's disks were copied behind it and it no longer needed "
             "the repository (beside its RTO)")
b.panel("table", "Last drill result", [(f"pvesafe_drill_last_success{{{C}}}", "")], w=24, h=6)
b.write(f"{out}/pvesafe-backups.json")
