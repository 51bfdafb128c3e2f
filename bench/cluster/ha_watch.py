#!/usr/bin/python3
"""One node-loss trial, watched from outside as an operator would: the webhook Alertmanager
notifies and the PVE API (/cluster/ha/status/current, /cluster/resources, the guest agent).

Usage: ha_watch.py T0 NODE API_URL CA TOKEN_ID TOKEN_SECRET WEBHOOK_JSONL BRIDGE_OUT TIMEOUT
T0 is when the node was killed (epoch seconds). Prints one JSON object with the seconds from T0 to:
  detected   the first webhook notification of PveNodeDown for NODE (Alertmanager)
  offline    the membership bridge saw corosync drop NODE (pvesim told)
  fence      the first of NODE's HA services in state "fence"
  fenced     every one of them out of "fence" (the CRM got the node's lock: fencing acknowledged)
  recovered  every one of them placed on another node by the CRM (starting, started or stopped)
  healthy    every recovered guest requested started is running there, and answers its guest
             agent when it has one
and the services with their new nodes. Stages not reached by TIMEOUT are null.
"""
import json
import sys
import time

import requests
import urllib3

urllib3.disable_warnings()
t0, node, url, ca, tid, secret, hook, bridge, timeout = sys.argv[1:10]
t0, timeout = float(t0), float(timeout)
s = requests.Session()
s.verify = ca
s.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace the pinned CA
s.headers["Authorization"] = "PVEAPIToken=%s=%s" % (tid, secret)


def get(path, **params):
    r = s.get(url + "/api2/json" + path, params=params, timeout=5)
    r.raise_for_status()
    return r.json()["data"]


def first_line_time(path, pred):
    try:
        with open(path) as f:
            for line in f:
                t = pred(line)
                if t is not None and t >= t0:
                    return t
    except OSError:
        pass
    return None


def detected():
    def pred(line):
        m = json.loads(line)
        for a in m.get("alerts", []):
            if a["status"] == "firing" and a["labels"].get("alertname") == "PveNodeDown" and a["labels"].get("node") == node:
                return m["receive_time"]
        return None
    return first_line_time(hook, pred)


def offline():
    def pred(line):
        p = line.split()
        return float(p[0]) if len(p) == 3 and p[1] == node and p[2] == "offline" else None
    return first_line_time(bridge, pred)


# The HA services that ran on the node when it was lost.
victims = {e["sid"] for e in get("/cluster/ha/status/current") if e.get("type") == "service" and e["node"] == node}
requested = {r["sid"]: r["state"] for r in get("/cluster/ha/resources")}
out = {k: None for k in ("detected", "offline", "fence", "fenced", "recovered", "healthy")}
placed = {}
end = t0 + timeout
while time.time() < end and any(v is None for v in out.values()):
    now = time.time()
    try:
        st = {e["sid"]: e for e in get("/cluster/ha/status/current") if e.get("type") == "service"}
        states = {sid: (st[sid]["state"], st[sid]["node"]) for sid in victims if sid in st}
        if out["fence"] is None and any(s_ == "fence" for s_, _ in states.values()):
            out["fence"] = now - t0
        if out["fence"] is not None and out["fenced"] is None and all(s_ != "fence" for s_, _ in states.values()):
            out["fenced"] = now - t0
        # Recovered: the CRM has placed each service on another node (it shows "starting" there
        # until the new node's LRM has started it).
        if out["recovered"] is None and states and all(
                n != node and s_ not in ("fence", "recovery", "error") for s_, n in states.values()):
            out["recovered"] = now - t0
            placed = {sid: n for sid, (_, n) in states.items()}
        if out["recovered"] is not None and out["healthy"] is None:
            res = {"%s:%d" % ("vm" if g["type"] == "qemu" else "ct", g["vmid"]): g for g in get("/cluster/resources", type="vm")}
            ok = True
            for sid in victims:
                if requested.get(sid) != "started":
                    continue
                g = res.get(sid)
                if not g or g["status"] != "running" or g["node"] == node:
                    ok = False
                    break
                if g["type"] == "qemu":
                    try:
                        get("/nodes/%s/qemu/%d/agent/ping" % (g["node"], g["vmid"]))
                    except requests.HTTPError as e:
                        if "No QEMU guest agent configured" not in e.response.text:
                            ok = False
                            break
            if ok:
                out["healthy"] = now - t0
    except requests.RequestException:
        pass  # the API of a cluster in trouble may fail a call; the next poll retries
    for k, fn in (("detected", detected), ("offline", offline)):
        if out[k] is None:
            t = fn()
            if t is not None:
                out[k] = t - t0
    time.sleep(0.25)
out["node"] = node
out["services"] = placed
print(json.dumps(out))
