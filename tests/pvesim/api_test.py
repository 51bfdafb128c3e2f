"""pvesim behaviour checks against the example cluster (tools/pvesim/pvesim.example.toml)."""
import calendar
import glob
import hashlib
import os
import re
import subprocess
import sys
import time

import requests

from pvesim_client import API, CERT, DATA, Client, check, control, expect_status, run_checks, tokens
import vma_judge

ROOT_TOKEN = "root@pam!pvesafe"
UPID_RE = re.compile(r"^UPID:([a-zA-Z0-9-]+):([0-9A-F]{8}):([0-9A-F]{8,9}):([0-9A-F]{8}):([a-z]+):([^:]*):([^:]+):$")


def admin():
    return Client(token_id=ROOT_TOKEN)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def dump_dir(node, storage="local"):
    return control("GET", "storage-path", node=node, storage=storage) + "/dump"


def at(y, mo, d, h=1, mi=0, s=0):
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


# ---------------------------------------------------------------- auth


@check
def no_credentials_is_401_no_ticket():
    r = requests.get(API + "/version", verify=CERT)
    body = expect_status(r, 401)
    assert body.get("message") == "No ticket", body


@check
def wrong_password_is_401():
    r = requests.post(API + "/access/ticket", data={"username": "root@pam", "password": "nope"}, verify=CERT)
    expect_status(r, 401)


@check
def ticket_needs_csrf_on_writes():
    c = Client(user="root@pam", password="pvesim")
    assert c.get("/version")["version"].startswith("9."), "GET works without CSRF header"
    # no CSRF header
    r = c.s.post(API + "/nodes/pve-01/qemu/103/status/start", verify=CERT)
    expect_status(r, 401)
    # wrong CSRF header
    r = c.s.post(API + "/nodes/pve-01/qemu/103/status/start", headers={"CSRFPreventionToken": c.csrf[:-2] + "xx"},
                 verify=CERT)
    expect_status(r, 401)
    # right one
    upid = c.post("/nodes/pve-01/qemu/103/status/start")
    assert c.wait(upid)["exitstatus"] == "OK"


@check
def tampered_ticket_is_401():
    c = Client(user="root@pam", password="pvesim")
    t = c.s.cookies.get("PVEAuthCookie")
    c.s.cookies.set("PVEAuthCookie", t.replace("root@pam", "auditor@pve"))
    expect_status(c.req("GET", "/version"), 401)


@check
def ticket_renewal_with_ticket_as_password():
    c = Client(user="root@pam", password="pvesim")
    t = c.s.cookies.get("PVEAuthCookie")
    r = requests.post(API + "/access/ticket", data={"username": "root@pam", "password": t}, verify=CERT)
    d = expect_status(r, 200)["data"]
    assert d["ticket"].startswith("PVE:root@pam:") and d["CSRFPreventionToken"], d
    assert d["clustername"] == "pvesafe-demo"


@check
def token_auth_forms():
    secret = tokens()[ROOT_TOKEN][0]
    for header in ("PVEAPIToken=%s=%s" % (ROOT_TOKEN, secret), "PVEAPIToken %s=%s" % (ROOT_TOKEN, secret)):
        r = requests.get(API + "/version", headers={"Authorization": header}, verify=CERT)
        expect_status(r, 200)
    for header in ("PVEAPIToken=%s=%s" % (ROOT_TOKEN, "0" * 36),
                   "PVEAPIToken=root@pam!nosuch=%s" % secret,
                   "PVEAPIToken=%s" % secret):
        r = requests.get(API + "/version", headers={"Authorization": header}, verify=CERT)
        expect_status(r, 401)
    # token auth needs no CSRF token on writes
    r = requests.post(API + "/nodes/pve-01/qemu/103/status/start",
                      headers={"Authorization": "PVEAPIToken=%s=%s" % (ROOT_TOKEN, secret)}, verify=CERT)
    assert UPID_RE.match(expect_status(r, 200)["data"])


@check
def auditor_reads_but_cannot_backup():
    a = Client(token_id="auditor@pve!monitor")
    assert len(a.get("/cluster/resources")) > 0
    a.get("/nodes/pve-01/status")
    r = a.req("POST", "/nodes/pve-01/vzdump", data={"vmid": "100", "storage": "local"})
    body = expect_status(r, 403)
    assert body["message"] == "Permission check failed (/vms/100, VM.Backup)", body
    expect_status(a.req("POST", "/nodes/pve-01/qemu/103/status/start"), 403)
    # password login of the auditor user gives the same role
    u = Client(user="auditor@pve", password="pvesim")
    expect_status(u.req("POST", "/nodes/pve-01/vzdump", data={"vmid": "100"}), 403)


@check
def no_access_token_sees_nothing():
    n = Client(token_id="noaccess@pve!none")
    expect_status(n.req("GET", "/cluster/status"), 403)
    assert n.get("/cluster/resources") == []
    assert n.get("/version")["version"]


# ---------------------------------------------------------------- envelopes and errors


@check
def parameter_error_is_400_with_errors():
    c = admin()
    body = expect_status(c.req("GET", "/cluster/resources", params={"type": "bogus"}), 400)
    assert "type" in body["errors"], body
    body = expect_status(c.req("POST", "/nodes/pve-01/qemu", data={"vmid": "12"}), 400)
    assert "minimum" in body["errors"]["vmid"], body


@check
def unknown_path_is_501_and_missing_guest_500():
    c = admin()
    body = expect_status(c.req("GET", "/nodes/pve-01/nosuch"), 501)
    assert "not implemented" in body["message"]
    body = expect_status(c.req("GET", "/nodes/pve-01/qemu/999/status/current"), 500)
    assert "does not exist" in body["message"], body
    expect_status(c.req("GET", "/nodes/pve-99/status"), 500)


@check
def recorded_shapes():
    c = admin()
    st = c.get("/cluster/status")
    assert st[0]["type"] == "cluster" and st[0]["quorate"] == 1 and st[0]["nodes"] == 3
    assert {e["name"] for e in st[1:]} == {"pve-01", "pve-02", "pve-03"}
    assert all(set(e) >= {"id", "ip", "level", "local", "name", "nodeid", "online", "type"} for e in st[1:])
    res = c.get("/cluster/resources")
    types = {e["type"] for e in res}
    assert types == {"qemu", "lxc", "node", "storage", "sdn"}, types
    vm = next(e for e in res if e["id"] == "qemu/100")
    for k in ("netout", "name", "maxcpu", "mem", "netin", "maxmem", "disk", "node", "cpu", "maxdisk", "vmid",
              "diskwrite", "diskread", "status", "template", "uptime", "tags", "hastate"):
        assert k in vm, k
    assert vm["status"] == "running" and vm["hastate"] == "started" and vm["tags"] == "prod;web"
    for t in ("vm", "node", "storage", "sdn"):
        sub = c.get("/cluster/resources", type=t)
        assert sub and all(e["type"] in (("qemu", "lxc") if t == "vm" else (t,)) for e in sub), t
    ns = c.get("/nodes/pve-01/status")
    for k in ("cpu", "cpuinfo", "current-kernel", "boot-info", "loadavg", "memory", "pveversion", "rootfs",
              "uptime", "kversion", "swap"):
        assert k in ns, k
    assert ns["pveversion"].startswith("pve-manager/9.0.3/")
    assert c.get("/cluster/nextid") == "104"
    ha = c.get("/cluster/ha/status/current")
    assert [e["type"] for e in ha[:3]] == ["quorum", "master", "fencing"]
    assert {e["sid"] for e in ha if e["type"] == "service"} == {"vm:100", "vm:101"}
    ms = c.get("/cluster/ha/status/manager_status")
    assert set(ms) == {"lrm_status", "manager_status", "quorum"} and ms["quorum"]["quorate"] == "1"
    rules = c.get("/cluster/ha/rules")
    assert {r["rule"] for r in rules} == {"web-prefers-01", "keep-apart"}
    assert c.get("/cluster/ha/groups") == []
    assert {r["sid"] for r in c.get("/cluster/ha/resources")} == {"vm:100", "vm:101"}
    apt = c.get("/nodes/pve-01/apt/versions")
    assert apt[0]["Package"] == "proxmox-ve" and "RunningKernel" in apt[0]
    assert apt[1]["Package"] == "pve-manager" and apt[1]["ManagerVersion"] == "9.0.3"
    svc = {s["service"]: s for s in c.get("/nodes/pve-03/services")}
    assert svc["pve-ha-lrm"]["state"] == "dead" and svc["pveproxy"]["state"] == "running"
    certs = c.get("/nodes/pve-01/certificates/info")
    leaf = next(x for x in certs if x["filename"] == "pve-ssl.pem")
    assert 364 * 86400 < leaf["notafter"] - time.time() < 366 * 86400
    stor = {s["storage"]: s for s in c.get("/storage")}
    assert stor["local"]["path"] == "/var/lib/vz" and stor["backup-nfs"]["shared"] == 1
    assert c.get("/cluster/config/nodes")[0]["ring0_addr"] == "10.10.0.11"
    assert c.get("/cluster/config/totem")["cluster_name"] == "pvesafe-demo"
    expect_status(c.req("GET", "/cluster/ceph/status"), 500)
    control("POST", "ceph", enabled="1", health="HEALTH_WARN")
    ceph = c.get("/cluster/ceph/status")
    assert ceph["health"]["status"] == "HEALTH_WARN" and ceph["quorum_names"] == ["pve-01", "pve-02", "pve-03"]


# ---------------------------------------------------------------- tasks


@check
def task_lifecycle():
    c = admin()
    control("POST", "hold-tasks", on="1")
    upid = c.post("/nodes/pve-01/qemu/103/status/start")
    m = UPID_RE.match(upid)
    assert m, upid
    assert m.group(1) == "pve-01" and m.group(5) == "qmstart" and m.group(6) == "103" and m.group(7) == ROOT_TOKEN
    st = c.get("/nodes/pve-01/tasks/%s/status" % upid)
    assert st["status"] == "running" and "exitstatus" not in st, st
    assert st["pid"] == int(m.group(2), 16) and st["starttime"] == int(m.group(4), 16)
    active = c.get("/nodes/pve-01/tasks", source="active")
    assert [t["upid"] for t in active] == [upid]
    assert c.get("/nodes/pve-01/qemu/103/status/current")["status"] == "stopped"
    control("POST", "hold-tasks", on="0")
    st = c.wait(upid)
    assert st["exitstatus"] == "OK", st
    assert c.get("/nodes/pve-01/qemu/103/status/current")["status"] == "running"
    log = c.get("/nodes/pve-01/tasks/%s/log" % upid)
    assert log[-1] == {"n": len(log), "t": "TASK OK"}, log
    lst = c.get("/nodes/pve-01/tasks", typefilter="qmstart")
    assert lst[0]["upid"] == upid and lst[0]["status"] == "OK" and "endtime" in lst[0]
    # starting a running VM fails inside the task, like qm start does
    st = c.wait(c.post("/nodes/pve-01/qemu/103/status/start"))
    assert st["exitstatus"] == "VM 103 already running", st
    errs = c.get("/nodes/pve-01/tasks", errors=1)
    assert errs[0]["status"] == "VM 103 already running"
    st = c.wait(c.post("/nodes/pve-01/qemu/103/status/stop"))
    assert st["exitstatus"] == "OK"
    assert c.get("/nodes/pve-01/qemu/103/status/current")["status"] == "stopped"
    # HA-managed guest: the HA stack handles the request
    upid = c.post("/nodes/pve-01/qemu/100/status/stop")
    assert ":hastop:100:" in upid
    c.wait(upid)
    assert c.get("/cluster/ha/resources/vm:100")["state"] == "stopped"


@check
def fail_next_task_switch():
    c = admin()
    control("POST", "fail-next-task", node="pve-01", type="vzdump")
    st = c.wait(c.post("/nodes/pve-01/vzdump", vmid="103", storage="local"))
    assert st["status"] == "stopped" and "simulated failure" in st["exitstatus"], st
    log = c.get("/nodes/pve-01/tasks/%s/log" % st["upid"])
    assert log[-1]["t"].startswith("TASK ERROR: "), log
    # only the next one
    assert c.wait(c.post("/nodes/pve-01/vzdump", vmid="103", storage="local"))["exitstatus"] == "OK"
    control("POST", "fail-next-task", type="qmstart", mode="warnings")
    st = c.wait(c.post("/nodes/pve-01/qemu/103/status/start"))
    assert st["exitstatus"] == "WARNINGS: 1", st


# ---------------------------------------------------------------- vzdump and restore


def expected_disks(vmid, ctime, config_text, size, name):
    """The disks pvesim's vzdump puts in a guest's archive, from make-archive (see archive_test)."""
    d = os.path.join(os.environ["PVESIM_DIR"], name)
    conf = os.path.join(os.environ["PVESIM_DIR"], name + ".conf")
    with open(conf, "w") as f:
        f.write(config_text)
    subprocess.run([os.environ["PVESIM_BIN"], "make-archive", "disks", "--vmid", str(vmid),
                    "--ctime", str(ctime), "--size", str(size), "--config", conf, "--out-dir", d],
                   check=True, stdout=subprocess.DEVNULL)
    return {f[:-4]: open(os.path.join(d, f), "rb").read() for f in os.listdir(d) if f.endswith(".raw")}


def one_file(d, pattern):
    """The one archive matching pattern: the simulated clock may have moved a second or two past
    the time the test set before the task read it."""
    files = sorted(glob.glob(os.path.join(d, pattern)))
    assert len(files) == 1, (pattern, sorted(os.listdir(d)))
    return files[0]


def guest_config_text(vmid):
    cfg = control("GET", "guest/%d" % vmid)["config"]
    return "".join("%s: %s\n" % (k, cfg[k]) for k in sorted(cfg))


@check
def vzdump_names_and_determinism():
    c = admin()
    d = dump_dir("pve-01")
    control("POST", "guest/100", backup_size="16M")
    control("POST", "time", epoch=str(at(2026, 11, 24)))
    st = c.wait(c.post("/nodes/pve-01/vzdump", vmid="100", storage="local", mode="snapshot", compress="zstd"))
    assert st["exitstatus"] == "OK" and st["type"] == "vzdump" and st["id"] == "100", st
    first = one_file(d, "vzdump-qemu-100-2026_11_24-01_00_*.vma.zst")
    assert os.path.exists(first[:-len(".vma.zst")] + ".log")
    subprocess.run(["zstd", "-q", "-t", first], check=True)
    log = [x["t"] for x in c.get("/nodes/pve-01/tasks/%s/log" % st["upid"], limit=500)]
    assert any(re.match(r"INFO: started backup task '[0-9a-f-]{36}'", x) for x in log), log
    assert "INFO: include disk 'scsi0' 'local-lvm:vm-100-disk-0' 16M" in log, log
    # A real VMA (checked by the independent reader): the disks are the guest's disks of that day;
    # the guest runs, so copy-before-write put some clusters out of order.
    a = vma_judge.read_vma_file(first)
    assert [x[1] for x in a.devices] == ["drive-scsi0"] and 0 <= a.ctime - at(2026, 11, 24) < 60, a.devices
    assert a.early > 0, "running guest, but no cluster out of order"
    want = expected_disks(100, a.ctime, guest_config_text(100), "16M", "d100-24")
    assert {n: hashlib.sha256(b).hexdigest() for n, b in a.disks.items()} == \
        {n: hashlib.sha256(b).hexdigest() for n, b in want.items()}
    conf = a.configs["qemu-server.conf"].decode()
    assert conf.startswith("agent: 1\n") and "#qmdump#map:scsi0:drive-scsi0:local-lvm:raw:" in conf, conf
    # same guest, same day: the same disks in an archive of its own (fresh uuid)
    control("POST", "time", epoch=str(at(2026, 11, 24, 5, 30, 7)))
    c.wait(c.post("/nodes/pve-01/vzdump", vmid="100", storage="local", compress="zstd"))
    second = one_file(d, "vzdump-qemu-100-2026_11_24-05_30_*.vma.zst")
    b = vma_judge.read_vma_file(second)
    assert b.disks == a.disks and b.uuid != a.uuid and sha256(first) != sha256(second)
    # three days later: a few percent of the 4 KiB blocks changed
    control("POST", "time", epoch=str(at(2026, 11, 27)))
    c.wait(c.post("/nodes/pve-01/vzdump", vmid="100", storage="local", compress="zstd"))
    later = vma_judge.read_vma_file(one_file(d, "vzdump-qemu-100-2026_11_27-01_00_*.vma.zst"))
    x, y = a.disks["drive-scsi0"], later.disks["drive-scsi0"]
    blocks = len(x) // 4096
    assert blocks == 4096, blocks
    changed = sum(1 for i in range(blocks) if x[i * 4096:(i + 1) * 4096] != y[i * 4096:(i + 1) * 4096])
    assert blocks * 0.005 <= changed <= blocks * 0.15, (changed, blocks)
    # storage content lists them like PVE
    content = c.get("/nodes/pve-01/storage/local/content", content="backup")
    e = next(x for x in content if x["volid"] == "local:backup/" + os.path.basename(first))
    assert e["size"] == os.path.getsize(first) and e["ctime"] == a.ctime and e["format"] == "vma.zst"
    assert e["subtype"] == "qemu" and e["vmid"] == 100 and e["content"] == "backup"
    # lxc: GNU tar of the container's root, compressed by zstd
    control("POST", "time", epoch=str(at(2026, 11, 24, 2)))
    st = c.wait(c.post("/nodes/pve-03/vzdump", vmid="102", storage="local", compress="zstd"))
    assert st["exitstatus"] == "OK", st
    tar = one_file(dump_dir("pve-03"), "vzdump-lxc-102-2026_11_24-02_00_*.tar.zst")
    names = subprocess.run(["tar", "-t", "--zstd", "-f", tar], check=True, capture_output=True,
                           text=True).stdout.split()
    assert names[:3] == ["./etc/vzdump/pct.conf", "./etc/vzdump/pct.fw", "./"], names[:5]
    assert "./var/log/syslog" in names and "./etc/hostname" in names, names[:40]
    # the guest was locked during the backup and is unlocked after
    assert "lock" not in c.get("/nodes/pve-01/qemu/100/config")


@check
def vzdump_compress_options():
    c = admin()
    d = dump_dir("pve-01")
    # 103 is stopped: a strictly sequential archive
    cases = (("0", "", b"VMA\0"), ("gzip", ".gz", b"\x1f\x8b"), ("lzo", ".lzo", b"\x89LZO"),
             ("1", ".lzo", b"\x89LZO"), ("zstd", ".zst", b"\x28\xb5\x2f\xfd"), (None, "", b"VMA\0"))
    for minute, (comp, suffix, magic) in enumerate(cases):
        control("POST", "time", epoch=str(at(2026, 12, 1, 1, minute)))
        args = {"vmid": "103", "storage": "local"}
        if comp is not None:
            args["compress"] = comp
        st = c.wait(c.post("/nodes/pve-01/vzdump", **args))
        assert st["exitstatus"] == "OK", (comp, st)
        path = one_file(d, "vzdump-qemu-103-2026_12_01-01_%02d_*.vma%s" % (minute, suffix))
        name = os.path.basename(path)
        with open(path, "rb") as f:
            assert f.read(4).startswith(magic), (comp, name)
        a = vma_judge.read_vma_file(path)
        assert a.early == 0 and a.order == sorted(a.order), "a stopped guest's archive is sequential"
        e = next(x for x in c.get("/nodes/pve-01/storage/local/content") if x["volid"] == "local:backup/" + name)
        assert e["format"] == "vma" + suffix, e
    # the schema's default is no compression (also what vzdump/defaults says)
    assert c.get("/nodes/pve-01/vzdump/defaults")["compress"] == "0"
    r = c.req("POST", "/nodes/pve-01/vzdump", data={"vmid": "103", "compress": "bzip2"})
    assert "compress" in expect_status(r, 400)["errors"]
    # several disks (example guest 101: scsi0, virtio1, efidisk0, tpmstate0)
    st = c.wait(c.post("/nodes/pve-02/vzdump", vmid="101", storage="local", compress="lzo"))
    assert st["exitstatus"] == "OK", st
    f = sorted(glob.glob(os.path.join(dump_dir("pve-02"), "vzdump-qemu-101-*.vma.lzo")))[-1]
    a = vma_judge.read_vma_file(f)
    assert [x[1] for x in a.devices] == ["drive-scsi0", "drive-virtio1", "drive-efidisk0",
                                         "drive-tpmstate0-backup"], a.devices
    assert sum(x[2] for x in a.devices) <= 16 << 20 and a.devices[2][2] == 540672


@check
def vzdump_to_shared_storage_and_errors():
    c = admin()
    st = c.wait(c.post("/nodes/pve-02/vzdump", vmid="101", storage="backup-nfs"))
    assert st["exitstatus"] == "OK"
    files = glob.glob(os.path.join(dump_dir("pve-02", "backup-nfs"), "vzdump-qemu-101-*.vma"))
    assert len(files) == 1 and dump_dir("pve-01", "backup-nfs") == dump_dir("pve-02", "backup-nfs")
    assert any(x["vmid"] == 101 for x in c.get("/nodes/pve-03/storage/backup-nfs/content"))
    expect_status(c.req("POST", "/nodes/pve-01/vzdump", data={"vmid": "100", "storage": "local-lvm"}), 500)
    expect_status(c.req("POST", "/nodes/pve-01/vzdump", data={"vmid": "101"}), 500)  # guest on pve-02


@check
def restore_from_archive_records_sha256():
    c = admin()
    c.wait(c.post("/nodes/pve-01/vzdump", vmid="100", storage="local"))
    vol = [x for x in c.get("/nodes/pve-01/storage/local/content") if x.get("vmid") == 100][-1]["volid"]
    path = os.path.join(dump_dir("pve-01"), vol.split("/", 1)[1])
    upid = c.post("/nodes/pve-01/qemu", vmid="900", archive=vol)
    assert ":qmrestore:900:" in upid
    st = c.wait(upid)
    assert st["exitstatus"] == "OK", st
    g = control("GET", "guest/900")
    assert g["sha256"] == sha256(path) and g["restored_from"] == vol and g["restored_bytes"] == os.path.getsize(path)
    # qmrestore rebuilt every disk; they are the ones in the archive
    a = vma_judge.read_vma_file(path)
    assert {x["name"]: x["sha256"] for x in g["disks"]} == \
        {n: hashlib.sha256(b).hexdigest() for n, b in a.disks.items()}, g["disks"]
    log = [x["t"] for x in c.get("/nodes/pve-01/tasks/%s/log" % upid, limit=500)]
    assert any(x.startswith("restore vma archive: vma extract -v -r ") or
               x.startswith("restore vma archive: zstd -q -d -c ") for x in log), log
    assert "DEV: dev_id=1 size: %d devname: drive-scsi0" % a.devices[0][2] in log, log
    cfg = c.get("/nodes/pve-01/qemu/900/config")
    assert cfg["name"] == "web-01" and cfg["scsi0"].startswith("local-lvm:vm-900-disk-0"), cfg
    assert c.get("/nodes/pve-01/vzdump/extractconfig", volume=vol).startswith("agent: 1")
    # from a path, on another node, with a new name
    st = c.wait(c.post("/nodes/pve-02/qemu", vmid="901", archive=path, name="drill-901", start="1"))
    assert st["exitstatus"] == "OK"
    assert control("GET", "guest/901")["sha256"] == sha256(path)
    cur = c.get("/nodes/pve-02/qemu/901/status/current")
    assert cur["status"] == "running" and cur["name"] == "drill-901"
    # the volume is not on pve-02's local storage
    expect_status(c.req("POST", "/nodes/pve-02/qemu", data={"vmid": "902", "archive": vol}), 500)
    # existing guest: only with force
    expect_status(c.req("POST", "/nodes/pve-01/qemu", data={"vmid": "900", "archive": vol}), 500)
    assert c.wait(c.post("/nodes/pve-01/qemu", vmid="900", archive=vol, force="1"))["exitstatus"] == "OK"
    # lxc restore goes through ostemplate + restore=1
    c.wait(c.post("/nodes/pve-03/vzdump", vmid="102", storage="backup-nfs"))
    ct = [x for x in c.get("/nodes/pve-03/storage/backup-nfs/content") if x.get("vmid") == 102][-1]["volid"]
    st = c.wait(c.post("/nodes/pve-01/lxc", vmid="950", ostemplate=ct, restore="1", storage="local-lvm"))
    assert st["exitstatus"] == "OK" and st["type"] == "vzrestore", st
    assert c.get("/nodes/pve-01/lxc/950/config")["hostname"] == "dns-01"
    assert control("GET", "guest/950")["entries"] > 50


@check
def restore_rejects_broken_archives():
    """qmrestore / pct restore read the whole archive: a broken one fails the restore task with
    their message, and the guest is not created."""
    c = admin()
    control("POST", "time", epoch=str(at(2026, 12, 2)))
    st = c.wait(c.post("/nodes/pve-01/vzdump", vmid="103", storage="local", compress="0"))
    good = one_file(dump_dir("pve-01"), "vzdump-qemu-103-2026_12_02-01_00_*.vma")
    data = open(good, "rb").read()
    hsize = int.from_bytes(data[56:60], "big")
    blocks = int.from_bytes(data[hsize + 6:hsize + 8], "big")
    second = hsize + 512 + blocks * 4096  # the second extent
    cases = [
        ("extent-md5", data[:hsize + 30] + bytes([data[hsize + 30] ^ 1]) + data[hsize + 31:],
         "wrong vma extent header chechsum"),
        ("header", data[:70] + b"x" + data[71:], "wrong vma header chechsum"),
        ("missing", data[:second] + data[second + 512 + int.from_bytes(data[second + 6:second + 8], "big") * 4096:],
         "detected missing cluster"),
        ("duplicate", data + data[hsize:second], "found duplicated cluster"),
        ("uuid", data[:second + 8] + bytes(16) + data[second + 24:], "wrong vma extent"),
        ("truncated", data[:-1000], "short vma extent"),
    ]
    for k, (name, bad, msg) in enumerate(cases):
        path = os.path.join(dump_dir("pve-01"), "vzdump-qemu-103-2026_12_03-01_00_%02d.vma" % k)
        with open(path, "wb") as f:
            f.write(bad)
        vol = "local:backup/" + os.path.basename(path)
        upid = c.post("/nodes/pve-01/qemu", vmid="920", archive=vol)
        st = c.wait(upid)
        assert st["exitstatus"].startswith("command 'vma extract -v -r ") and \
            st["exitstatus"].endswith("failed: exit code 133"), (name, st)
        log = [x["t"] for x in c.get("/nodes/pve-01/tasks/%s/log" % upid, limit=500)]
        assert any("restore failed - " + msg in x for x in log), (name, log[-8:])
        assert all(g.get("vmid") != 920 for g in c.get("/cluster/resources", type="vm")), name
    # compressed: the decompressor's own check fails first
    trunc = os.path.join(dump_dir("pve-01"), "vzdump-qemu-103-2026_12_04-01_00_00.vma.zst")
    z = subprocess.run(["zstd", "-q", "-c", good], check=True, capture_output=True).stdout
    with open(trunc, "wb") as f:
        f.write(z[:len(z) // 2])
    st = c.wait(c.post("/nodes/pve-01/qemu", vmid="921", archive=trunc))
    assert st["exitstatus"].startswith("command 'set -o pipefail && zstd -q -d -c ") and \
        "| vma extract" in st["exitstatus"] and "exit code" in st["exitstatus"], st
    # a tar cut short, and a VMA handed to pct restore
    c.wait(c.post("/nodes/pve-03/vzdump", vmid="102", storage="local", compress="gzip"))
    tgz = sorted(glob.glob(os.path.join(dump_dir("pve-03"), "vzdump-lxc-102-*.tar.gz")))[-1]
    cut = os.path.join(dump_dir("pve-03"), "vzdump-lxc-102-2026_12_05-01_00_00.tar.gz")
    blob = open(tgz, "rb").read()
    with open(cut, "wb") as f:
        f.write(blob[:len(blob) * 2 // 3])
    for path in (cut, good):
        st = c.wait(c.post("/nodes/pve-03/lxc", vmid="951", ostemplate=path, restore="1",
                           storage="local-lvm"))
        assert st["exitstatus"].startswith("unable to restore CT 951 - command 'lxc-usernsexec ") and \
            "tar xpf -" in st["exitstatus"], st
        assert all(g.get("vmid") != 951 for g in c.get("/cluster/resources", type="vm"))


# ---------------------------------------------------------------- guests


@check
def create_config_migrate_snapshot_destroy():
    c = admin()
    upid = c.post("/nodes/pve-02/qemu", vmid="300", name="t300", memory="2048", cores="2", scsi0="local-lvm:10",
                  net0="virtio,bridge=vmbr0", agent="1")
    assert c.wait(upid)["exitstatus"] == "OK"
    cfg = c.get("/nodes/pve-02/qemu/300/config")
    assert cfg["scsi0"] == "local-lvm:vm-300-disk-0,size=10G" and cfg["cores"] == 2 and cfg["memory"] == "2048"
    expect_status(c.req("POST", "/nodes/pve-02/qemu", data={"vmid": "300"}), 500)
    c.ok("PUT", "/nodes/pve-02/qemu/300/config", data={"memory": "4096", "delete": "agent"})
    cfg = c.get("/nodes/pve-02/qemu/300/config")
    assert cfg["memory"] == "4096" and "agent" not in cfg
    expect_status(c.req("PUT", "/nodes/pve-02/qemu/300/config", data={"cores": "4", "digest": "0" * 40}), 500)
    c.ok("PUT", "/nodes/pve-02/qemu/300/config", data={"agent": "1"})
    c.wait(c.post("/nodes/pve-02/qemu/300/status/start"))
    assert c.post("/nodes/pve-02/qemu/300/agent/ping") == {"result": {}}
    # snapshots
    c.wait(c.post("/nodes/pve-02/qemu/300/snapshot", snapname="before_upgrade", description="x"))
    snaps = c.get("/nodes/pve-02/qemu/300/snapshot")
    assert [s["name"] for s in snaps] == ["before_upgrade", "current"] and snaps[1]["parent"] == "before_upgrade"
    c.wait(c.req("DELETE", "/nodes/pve-02/qemu/300/snapshot/before_upgrade").json()["data"])
    assert [s["name"] for s in c.get("/nodes/pve-02/qemu/300/snapshot")] == ["current"]
    # migrate: a running VM needs online=1
    expect_status(c.req("POST", "/nodes/pve-02/qemu/300/migrate", data={"target": "pve-03"}), 500)
    pre = c.get("/nodes/pve-02/qemu/300/migrate")
    assert pre["running"] == 1 and sorted(pre["allowed_nodes"]) == ["pve-01", "pve-03"]
    st = c.wait(c.post("/nodes/pve-02/qemu/300/migrate", target="pve-03", online="1"))
    assert st["type"] == "qmigrate" and st["exitstatus"] == "OK"
    assert next(e for e in c.get("/cluster/resources", type="vm") if e["vmid"] == 300)["node"] == "pve-03"
    expect_status(c.req("GET", "/nodes/pve-02/qemu/300/status/current"), 500)
    # destroy: not while running
    expect_status(c.req("DELETE", "/nodes/pve-03/qemu/300"), 500)
    c.wait(c.post("/nodes/pve-03/qemu/300/status/stop"))
    expect_status(c.req("POST", "/nodes/pve-03/qemu/300/agent/ping"), 500)
    st = c.wait(c.req("DELETE", "/nodes/pve-03/qemu/300", params={"purge": 1}).json()["data"])
    assert st["type"] == "qmdestroy" and st["exitstatus"] == "OK"
    assert all(e.get("vmid") != 300 for e in c.get("/cluster/resources"))


@check
def destroying_ha_guest_needs_purge():
    c = admin()
    c.wait(c.post("/nodes/pve-01/qemu/100/status/stop"))
    assert c.get("/nodes/pve-01/qemu/100/status/current")["ha"]["managed"] == 1
    body = expect_status(c.req("DELETE", "/nodes/pve-01/qemu/100"), 500)
    assert "purge" in body["message"], body
    st = c.wait(c.req("DELETE", "/nodes/pve-01/qemu/100", params={"purge": "1"}).json()["data"])
    assert st["exitstatus"] == "OK"
    assert "vm:100" not in {r["sid"] for r in c.get("/cluster/ha/resources")}
    expect_status(c.req("GET", "/nodes/pve-01/qemu/100/config"), 500)


# ---------------------------------------------------------------- fault switches


@check
def node_offline_gives_595():
    c = admin()
    control("POST", "node/pve-02/offline")
    body = expect_status(c.req("GET", "/nodes/pve-02/status"), 595)
    assert body["message"], body
    expect_status(c.req("POST", "/nodes/pve-02/vzdump", data={"vmid": "101"}), 595)
    st = {e["name"]: e for e in c.get("/cluster/status")[1:]}
    assert st["pve-02"]["online"] == 0 and st["pve-01"]["online"] == 1
    res = c.get("/cluster/resources")
    assert next(e for e in res if e["id"] == "node/pve-02")["status"] == "offline"
    vm = next(e for e in res if e["id"] == "qemu/101")
    # The HA manager fences only after its fence delay (60 s): until then the CRM keeps "started".
    assert vm["status"] == "unknown" and vm["hastate"] == "started", vm
    assert next(e for e in res if e["id"] == "storage/pve-02/local")["status"] == "unknown"
    assert next(n for n in c.get("/nodes") if n["node"] == "pve-02")["status"] == "offline"
    assert c.get("/cluster/status")[0]["quorate"] == 1
    control("POST", "node/pve-03/offline")
    assert c.get("/cluster/status")[0]["quorate"] == 0
    control("POST", "node/pve-02/online")
    assert c.get("/nodes/pve-02/status")["uptime"] >= 0
    control("POST", "node/pve-03/online")
    # HA recovery: vm:100 prefers pve-01 (2) over pve-02 (1); with pve-01 gone it goes to pve-02
    moved = control("POST", "node/pve-01/offline", recover="1")["recovered"]
    assert moved == [{"sid": "vm:100", "node": "pve-02"}], moved
    cur = c.get("/nodes/pve-02/qemu/100/status/current")
    assert cur["status"] == "running" and cur["ha"]["managed"] == 1


@check
def slow_switch_delays_matching_paths():
    c = admin()
    control("POST", "slow", ms="400", path="/version")
    t0 = time.monotonic()
    c.get("/version")
    assert time.monotonic() - t0 >= 0.4
    control("POST", "slow", ms="0")


@check
def malformed_switch_breaks_json_for_prefix():
    c = admin()
    control("POST", "malformed", path="/cluster/resources")
    r = c.req("GET", "/cluster/resources")
    assert r.status_code == 200
    try:
        r.json()
        raise AssertionError("body parsed as JSON")
    except ValueError:
        pass
    assert c.get("/version")["version"]
    control("POST", "malformed", path="")
    assert c.get("/cluster/resources")


@check
def service_and_package_switches():
    c = admin()
    control("POST", "service", node="pve-01", name="corosync", state="stopped")
    s1 = {s["service"]: s for s in c.get("/nodes/pve-01/services")}
    s2 = {s["service"]: s for s in c.get("/nodes/pve-02/services")}
    assert s1["corosync"]["state"] == "dead" and s1["corosync"]["active-state"] == "inactive"
    assert s2["corosync"]["state"] == "running"
    control("POST", "package", node="pve-02", name="pve-manager", version="9.0.5")
    v = {p["Package"]: p for p in c.get("/nodes/pve-02/apt/versions")}
    assert v["pve-manager"]["Version"] == "9.0.5"
    assert c.get("/nodes/pve-02/status")["pveversion"].startswith("pve-manager/9.0.5/")
    assert {p["Package"]: p for p in c.get("/nodes/pve-01/apt/versions")}["pve-manager"]["Version"] == "9.0.3"
    control("POST", "cert", node="pve-03", days="5")
    leaf = next(x for x in c.get("/nodes/pve-03/certificates/info") if x["filename"] == "pve-ssl.pem")
    assert leaf["notafter"] - time.time() < 6 * 86400


@check
def reset_restores_initial_state():
    c = admin()
    control("POST", "node/pve-01/offline")
    c.wait(c.post("/nodes/pve-02/qemu", vmid="777", name="gone"))
    control("POST", "package", name="pve-manager", version="1.0")
    control("POST", "reset")
    assert c.get("/nodes/pve-01/status")
    assert all(e.get("vmid") != 777 for e in c.get("/cluster/resources"))
    assert {p["Package"]: p for p in c.get("/nodes/pve-01/apt/versions")}["pve-manager"]["Version"] == "9.0.3"


if __name__ == "__main__":
    sys.exit(run_checks(sys.argv))
