#!/usr/bin/python3
"""Writes the lab's Prometheus and Alertmanager configs from the shipped ones, overriding only
what the lab needs: targets, file paths and ports. Scrape intervals, timeouts, rule groups,
routing, grouping and inhibition stay exactly as shipped.

Usage: render_config.py SRC_DIR OUT_DIR AM_PORT WEBHOOK_PORT CENTRAL_ADDR NODE=ADDR...
"""
import sys

import yaml

src, out, am_port, wh_port, central = sys.argv[1:6]
nodes = [a.split("=", 1) for a in sys.argv[6:]]

with open(f"{src}/deploy/prometheus/prometheus.yml") as f:
    prom = yaml.safe_load(f)
prom["rule_files"] = [f"{src}/deploy/prometheus/rules/pvesafe.rules.yml"]
prom["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{am_port}"]}]
for job in prom["scrape_configs"]:
    if job["job_name"] == "pvesafe-node":
        job["static_configs"] = [{"targets": [addr], "labels": {"cluster": "lab", "pve_node": name}}
                                 for name, addr in nodes]
    elif job["job_name"] == "pvesafe-central":
        job["static_configs"] = [{"targets": ["lab"]}]
        for r in job["relabel_configs"]:
            if r.get("target_label") == "__address__":
                r["replacement"] = central
    elif job["job_name"] == "pvesafe-catalog":
        job["static_configs"] = [{"targets": [central], "labels": {"cluster": "lab"}}]
with open(f"{out}/prometheus.yml", "w") as f:
    yaml.safe_dump(prom, f, sort_keys=False)

with open(f"{src}/deploy/alertmanager/alertmanager.yml") as f:
    am = yaml.safe_load(f)
am["global"]["smtp_smarthost"] = "127.0.0.1:9"  # nothing listens: mail fails fast, locally
for r in am["receivers"]:
    for w in r.get("webhook_configs", []):
        path = w["url"].rsplit("/", 1)[1]
        w["url"] = f"http://127.0.0.1:{wh_port}/{path}"
with open(f"{out}/alertmanager.yml", "w") as f:
    yaml.safe_dump(am, f, sort_keys=False)
