"""A generated 100-node, 10,000-guest cluster answers complete lists (functional, not timed)."""
import sys

from pvesim_client import Client, check, control, run_checks


@check
def big_cluster_lists_are_complete():
    c = Client(token_id="root@pam!pvesafe")
    res = c.get("/cluster/resources")
    by_type = {}
    for e in res:
        by_type.setdefault(e["type"], []).append(e)
    assert len(by_type["qemu"]) + len(by_type["lxc"]) == 10000
    assert len(by_type["node"]) == 100 and len(by_type["storage"]) == 300 and len(by_type["sdn"]) == 100
    assert {e["node"] for e in by_type["node"]} == {"pve-%02d" % i for i in range(1, 101)}
    assert sum(1 for e in by_type["qemu"] + by_type["lxc"] if "hastate" in e) == 2500
    assert len(c.get("/cluster/ha/resources")) == 2500
    assert len(c.get("/nodes/pve-50/qemu")) + len(c.get("/nodes/pve-50/lxc")) == 100
    control("POST", "node/pve-50/offline")
    vms = [e for e in c.get("/cluster/resources", type="vm") if e["node"] == "pve-50"]
    assert len(vms) == 100 and all(e["status"] == "unknown" for e in vms)
    assert c.get("/cluster/nextid") == "10100"


if __name__ == "__main__":
    sys.exit(run_checks(sys.argv))
