#!/usr/bin/python3
"""The lab's link between real corosync and pvesim: what pmxcfs tells the HA manager on a real
cluster, the nodes in the quorate partition, taken from corosync itself and posted to pvesim.

Every POLL seconds it reads the node-mode exporters of the lab nodes (their corosync membership
through libvotequorum); a node counts as a member when most of the answering exporters of the
other nodes list it as one. On a change it posts /pvesim/node/NODE/offline or .../online and
prints one line, "EPOCH NODE offline|online", so benchmarks can time it.

Usage: membership_bridge.py PVESIM_URL CA_FILE NODE=HOST:PORT...   (SIGTERM stops it)
"""
import re
import sys
import time
import urllib.request

import requests
import urllib3

urllib3.disable_warnings()
POLL = 0.25
URL, CA = sys.argv[1], sys.argv[2]
NODES = dict(a.split("=", 1) for a in sys.argv[3:])
MEMBER = re.compile(r'^pvesafe_corosync_node_member\{[^}]*node="([^"]+)"[^}]*\} (\S+)', re.M)


def membership(addr):
    """{node: member?} as the exporter at addr sees it, or None when it does not answer."""
    try:
        with urllib.request.urlopen("http://%s/metrics" % addr, timeout=1) as r:
            text = r.read().decode()
    except OSError:
        return None
    seen = {n: float(v) == 1 for n, v in MEMBER.findall(text)}
    return seen or None


def main():
    state = {n: True for n in NODES}  # pvesim starts with every node online
    while True:
        views = {n: membership(a) for n, a in NODES.items()}
        for node in NODES:
            votes = [v.get(node, False) for o, v in views.items() if o != node and v is not None]
            if not votes:
                continue  # nobody to ask: keep the last known state
            member = sum(votes) * 2 > len(votes)
            if member != state[node]:
                what = "online" if member else "offline"
                try:
                    requests.post("%s/pvesim/node/%s/%s" % (URL, node, what), verify=CA, timeout=5).raise_for_status()
                except requests.RequestException as e:
                    print("bridge: %s %s failed: %s" % (node, what, e), file=sys.stderr, flush=True)
                    continue
                state[node] = member
                print("%.3f %s %s" % (time.time(), node, what), flush=True)
        time.sleep(POLL)


if __name__ == "__main__":
    main()
