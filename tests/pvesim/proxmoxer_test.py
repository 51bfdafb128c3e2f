"""Debian's python3-proxmoxer drives pvesim with password and with token auth."""
import os
import sys
import time

from proxmoxer import ProxmoxAPI

from pvesim_client import CERT, tokens

PORT = os.environ["PVESIM_PORT"]


def wait(api, node, upid, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = api.nodes(node).tasks(upid).status.get()
        if st["status"] == "stopped":
            assert st["exitstatus"] == "OK", st
            return st
        time.sleep(0.05)
    raise AssertionError("task %s did not finish" % upid)


def exercise(api, vmid, label):
    nodes = sorted(n["node"] for n in api.nodes.get())
    assert nodes == ["pve-01", "pve-02", "pve-03"], nodes
    guests = api.cluster.resources.get(type="vm")
    assert {g["vmid"] for g in guests} >= {100, 101, 102, 103}, guests
    assert {g["vmid"] for g in api.nodes("pve-01").qemu.get()} == {100, 103}
    assert api.nodes("pve-03").lxc.get()[0]["name"] == "dns-01"
    upid = api.nodes("pve-02").qemu.create(vmid=vmid, name="px-%s" % label, memory=1024, cores=1,
                                           scsi0="local-lvm:4", net0="virtio,bridge=vmbr0")
    wait(api, "pve-02", upid)
    assert api.nodes("pve-02").qemu(vmid).config.get()["name"] == "px-%s" % label
    wait(api, "pve-02", api.nodes("pve-02").qemu(vmid).status.start.post())
    assert api.nodes("pve-02").qemu(vmid).status.current.get()["status"] == "running"
    wait(api, "pve-02", api.nodes("pve-02").qemu(vmid).status.shutdown.post())
    assert api.nodes("pve-02").qemu(vmid).status.current.get()["status"] == "stopped"
    log = api.nodes("pve-02").tasks(upid).log.get()
    assert log[-1]["t"] == "TASK OK", log
    wait(api, "pve-02", api.nodes("pve-02").qemu(vmid).delete())
    assert vmid not in {g["vmid"] for g in api.cluster.resources.get(type="vm")}
    print("ok   proxmoxer %s auth" % label, flush=True)


def main():
    # proxmoxer 1.2 always speaks HTTPS; verify against the certificate pvesim wrote.
    pw = ProxmoxAPI("127.0.0.1", port=PORT, user="root@pam", password="pvesim", verify_ssl=CERT)
    exercise(pw, 410, "password")
    secret = tokens()["root@pam!pvesafe"][0]
    tok = ProxmoxAPI("127.0.0.1", port=PORT, user="root@pam", token_name="pvesafe", token_value=secret,
                     verify_ssl=CERT)
    exercise(tok, 411, "token")
    # a wrong token is refused
    bad = ProxmoxAPI("127.0.0.1", port=PORT, user="root@pam", token_name="pvesafe", token_value="x" * 36,
                     verify_ssl=CERT)
    try:
        bad.version.get()
        raise AssertionError("bad token accepted")
    except Exception as e:  # noqa: BLE001 - proxmoxer raises ResourceException
        assert "401" in str(e), e
    print("ok   proxmoxer bad token refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
