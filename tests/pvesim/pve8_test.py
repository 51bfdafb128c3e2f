"""A generated PVE 8 cluster (--nodes 4 --guests 20 --pve-version 8.4.1)."""
import sys

from pvesim_client import Client, check, expect_status, run_checks


@check
def pve8_version_and_ha_groups():
    c = Client(token_id="root@pam!pvesafe")
    v = c.get("/version")
    assert v["version"] == "8.4.1" and v["release"] == "8.4", v
    assert sorted(n["node"] for n in c.get("/nodes")) == ["pve-01", "pve-02", "pve-03", "pve-04"]
    vms = c.get("/cluster/resources", type="vm")
    assert len(vms) == 20 and {g["type"] for g in vms} == {"qemu", "lxc"}
    groups = c.get("/cluster/ha/groups")
    assert groups and groups[0]["group"] == "prefer-first" and groups[0]["nodes"] == "pve-01:2,pve-02:1", groups
    expect_status(c.req("GET", "/cluster/ha/rules"), 501)
    res = c.get("/cluster/ha/resources")
    assert res[0]["group"] == "prefer-first" and "failback" not in res[0], res
    ha = c.get("/cluster/ha/status/current")
    assert "fencing" not in [e["type"] for e in ha]
    apt = {p["Package"]: p["Version"] for p in c.get("/nodes/pve-01/apt/versions")}
    assert apt["pve-manager"] == "8.4.1" and "proxmox-kernel-6.8" in apt
    assert c.get("/nodes/pve-01/status")["pveversion"].startswith("pve-manager/8.4.1/")


if __name__ == "__main__":
    sys.exit(run_checks(sys.argv))
