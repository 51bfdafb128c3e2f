"""pvesim's HA stack after a node is lost, as pve-ha-manager runs it: the states the API reports
and their order (started -> fence -> started on the new node; recovery while no node may take a
service), the CRM's log lines in their order, the choice of the recovery node (rule or group
priority, then the fewest HA services, strict rules), and no action without quorum.

Timings are pve-ha-manager's scaled by PVESIM_HA_SCALE (the test starts pvesim with
--ha-time-scale): only their lower bounds are checked (nothing can happen before its delay), never
how fast anything is.
"""
import os
import sys
import time

from pvesim_client import Client, check, control, run_checks

SCALE = float(os.environ.get("PVESIM_HA_SCALE", "1"))
ROUND, FENCE_DELAY, LOCK = 10 * SCALE, 60 * SCALE, 120 * SCALE
PVE8 = os.environ.get("PVESIM_PVE8") == "1"


def ha_services(c):
    return {e["sid"]: (e["state"], e["node"]) for e in c.get("/cluster/ha/status/current")
            if e.get("type") == "service"}


def node_state(c, node):
    return c.get("/cluster/ha/status/manager_status")["manager_status"]["node_status"][node]


def crm_log(c):
    master = c.get("/cluster/ha/status/manager_status")["manager_status"]["master_node"]
    return [l["t"].split(": ", 1)[1] for l in c.get("/nodes/%s/syslog" % master, service="pve-ha-crm", limit=1000)]


def watch(c, until, timeout):
    """Polls the HA status every 50 ms; returns per sid the list of (seconds, state, node) changes."""
    t0 = time.monotonic()
    seen = {}
    while time.monotonic() - t0 < timeout:
        now = time.monotonic() - t0
        for sid, sn in ha_services(c).items():
            hist = seen.setdefault(sid, [])
            if not hist or hist[-1][1:] != sn:
                hist.append((now,) + sn)
        if until(seen):
            return seen
        time.sleep(0.05)
    raise AssertionError("timed out; seen %r" % seen)


def changes(hist):
    return [(s, n) for _, s, n in hist]


def running_on(c, vmid, node):
    cur = c.get("/nodes/%s/qemu/%d/status/current" % (node, vmid))
    return cur["status"] == "running"


@check
def lost_node_is_fenced_then_its_services_recovered():
    c = Client(token_id="root@pam!pvesafe")
    for e in c.get("/cluster/ha/status/current"):
        assert e.get("type") != "service" or e["state"] in ("started", "stopped"), e
    t_off = time.monotonic()
    control("POST", "node/pve-02/offline")

    def done(seen):
        h = seen.get("vm:100", [])
        return (h and h[-1][1:] == ("started", "pve-03") and seen["vm:101"][-1][1] == "started"
                and seen["vm:101"][-1][2] != "pve-02" and seen["vm:103"][-1][1] == "recovery")

    seen = watch(c, done, timeout=LOCK * 4 + 30)
    # Order: a service stays "started" while its node is "unknown", then "fence" until the node's
    # lock is had, then "started" on the node its rule prefers among the online ones.
    assert changes(seen["vm:100"])[:2] == [("started", "pve-02"), ("fence", "pve-02")], seen["vm:100"]
    assert changes(seen["vm:100"])[-1] == ("started", "pve-03"), seen["vm:100"]
    assert all(n in ("pve-02", "pve-03") for _, _, n in seen["vm:100"]), seen["vm:100"]
    fence_at = next(t for t, s, _ in seen["vm:100"] if s == "fence")
    moved_at = next(t for t, s, n in seen["vm:100"] if n == "pve-03")
    # Nothing before its delay (the node was last seen online at most one round before it went).
    assert fence_at >= FENCE_DELAY - ROUND - 0.2, (fence_at, FENCE_DELAY)
    assert moved_at >= LOCK - ROUND - 0.2, (moved_at, LOCK)
    # vm:101 has no constraint: the node with the fewest HA services. The CRM recovers in sid
    # order, so pve-03 already holds ct:102 and vm:100 (two) when vm:101's turn comes; pve-01 runs
    # three (104, 105, 107).
    assert changes(seen["vm:101"])[0] == ("started", "pve-02")
    assert ("fence", "pve-02") in changes(seen["vm:101"])
    assert seen["vm:101"][-1][2] == "pve-03", seen["vm:101"]
    # The stopped container is recovered too and stays stopped.
    assert changes(seen["ct:102"])[-1][0] == "stopped" and seen["ct:102"][-1][2] != "pve-02", seen["ct:102"]
    # vm:103 may only run on pve-02: it waits in "recovery" (the API shows it while no node fits).
    assert changes(seen["vm:103"])[:3] == [("started", "pve-02"), ("fence", "pve-02"), ("recovery", "pve-02")], \
        seen["vm:103"]
    # pve-01's own services were never touched.
    assert changes(seen["vm:104"]) == [("started", "pve-01")], seen["vm:104"]
    assert node_state(c, "pve-02") == "unknown"  # fenced: the CRM holds its lock

    # The CRM's log, in its order (pve-ha-crm's wording).
    log = crm_log(c)
    want = ["node 'pve-02': state changed from 'online' => 'unknown'",
            "service 'vm:100': state changed from 'started' to 'fence'",
            "node 'pve-02': state changed from 'unknown' => 'fence'",
            "fencing: acknowledged - got agent lock for node 'pve-02'",
            "node 'pve-02': state changed from 'fence' => 'unknown'",
            "service 'vm:100': state changed from 'fence' to 'recovery'",
            "recover service 'vm:100' from fenced node 'pve-02' to node 'pve-03'",
            "service 'vm:100': state changed from 'recovery' to 'started'  (node = pve-03)"]
    pos = [log.index(w) for w in want]
    assert pos == sorted(pos), "\n".join(log)
    assert "recovering service 'vm:103' from fenced node 'pve-02' failed, no recovery node found" in log

    # The LRM of pve-03 starts vm:100 (a real start task) and the guest runs there.
    end = time.monotonic() + ROUND * 3 + 10
    while not running_on(c, 100, "pve-03"):
        assert time.monotonic() < end, "vm:100 not running on pve-03"
        time.sleep(0.1)
    lrm = [l["t"] for l in c.get("/nodes/pve-03/syslog", service="pve-ha-lrm")]
    assert any("starting service vm:100" in l for l in lrm) and any("service status vm:100 started" in l for l in lrm), lrm
    tasks = c.get("/nodes/pve-03/tasks", vmid="100")
    assert any(t["type"] == "qmstart" and t.get("status") == "OK" for t in tasks), tasks
    assert c.get("/nodes/pve-03/qemu/100/agent/ping") is not None
    res = {e["vmid"]: e for e in c.get("/cluster/resources", type="vm")}
    assert res[100]["node"] == "pve-03" and res[100]["hastate"] == "started", res[100]
    assert res[106]["node"] == "pve-02" and res[106]["status"] == "unknown", res[106]  # not HA

    # pve-02 comes back: vm:103 (strict) is recovered onto it.
    control("POST", "node/pve-02/online")
    seen = watch(c, lambda s: s.get("vm:103") and s["vm:103"][-1][1] in ("started",), timeout=ROUND * 4 + 10)
    assert seen["vm:103"][-1][2] == "pve-02", seen["vm:103"]
    assert "recover service 'vm:103' to previous failed and fenced node 'pve-02' again" in crm_log(c)
    assert node_state(c, "pve-02") == "online"
    assert t_off  # (kept for debugging with -v)


@check
def a_node_back_before_the_fence_delay_keeps_its_services():
    c = Client(token_id="root@pam!pvesafe")
    control("POST", "node/pve-02/offline")
    time.sleep(min(FENCE_DELAY / 3, 5))
    assert ha_services(c)["vm:100"] == ("started", "pve-02")
    control("POST", "node/pve-02/online")
    time.sleep(FENCE_DELAY + 2 * ROUND)
    assert ha_services(c)["vm:100"] == ("started", "pve-02")
    assert not any("'fence'" in l for l in crm_log(c))


@check
def without_quorum_nothing_is_fenced():
    c = Client(token_id="root@pam!pvesafe")
    control("POST", "node/pve-02/offline")
    control("POST", "node/pve-03/offline")
    time.sleep(LOCK + 3 * ROUND)
    st = ha_services(c)
    assert st["vm:100"] == ("started", "pve-02") and st["vm:104"] == ("started", "pve-01"), st
    assert not any("fenc" in l for l in crm_log(c))


@check
def time_scale_switch():
    t = control("POST", "ha", time_scale="1")
    assert (t["fence_delay"], t["lock_timeout"], t["crm_round"]) == (60, 120, 10), t
    t = control("POST", "ha", time_scale=str(SCALE))
    assert abs(t["fence_delay"] - FENCE_DELAY) < 1e-6, t
    r = __import__("requests").post(os.environ["PVESIM_URL"] + "/pvesim/ha", params={"time_scale": "0"},
                                    verify=os.environ["PVESIM_CERT"])
    assert r.status_code == 400, r.text


if __name__ == "__main__":
    if PVE8:  # the same cluster with HA groups: only the first check is about placement
        sys.argv = sys.argv[:1] + ["lost_node_is_fenced_then_its_services_recovered"]
    sys.exit(run_checks(sys.argv))
