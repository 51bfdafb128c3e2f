"""pvesim's archives judged by an independent reader (vma_judge.py, written from the VMA spec) and
by GNU tar: every disk rebuilt from a VMA must equal, byte for byte, the raw image `pvesim
make-archive disks` writes for that guest and day; a container tar must list and extract with
GNU tar into the tree `make-archive ct --tree` wrote. Also: what changes from one day to the
next, fresh uuids and MD5s per archive, and that the judge itself rejects broken archives.

Run by archive_test.sh (needs PVESIM_BIN). Prints the measured change rates.
"""

import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import traceback
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vma_judge  # noqa: E402

PVESIM = os.environ["PVESIM_BIN"]
WORK = tempfile.mkdtemp(prefix="pvesim-archive-test.")
COMPRESS = ["0", "gzip", "lzo", "zstd"]
SUFFIX = {"0": "", "gzip": ".gz", "lzo": ".lzo", "zstd": ".zst"}
DISKS = "scsi0:32G,virtio1:64G,efidisk0,tpmstate0"
CHECKS = []


def check(name):
    def wrap(fn):
        CHECKS.append((name, fn))
        return fn
    return wrap


def make(*args):
    out = subprocess.run([PVESIM, "make-archive", *args, "--json"], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return json.loads(out.stdout)


def sha(data):
    return hashlib.sha256(data).hexdigest()


def sha_file(path):
    with open(path, "rb") as f:
        return sha(f.read())


def disks_of(day, vmid=100, size="24M", disks=DISKS, typ="qemu"):
    d = os.path.join(WORK, "disks-%s-%d-%s-%s" % (typ, vmid, day, size))
    if not os.path.isdir(d):
        make("disks", "--type", typ, "--vmid", str(vmid), "--day", day, "--size", size,
             "--disks", disks, "--out-dir", d)
    return d


def raw_images(d):
    return {f[:-4]: os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".raw")}


def vma_args(d):
    order = ["drive-scsi0", "drive-virtio1", "drive-efidisk0", "drive-tpmstate0-backup"]
    imgs = raw_images(d)
    args = ["--config", os.path.join(d, "qemu-server.conf")]
    for name in order:
        if name in imgs:
            args += ["--disk", "%s=%s" % (name, imgs[name])]
    return args


def assert_disks_equal(archive, d):
    imgs = raw_images(d)
    assert sorted(archive.disks) == sorted(imgs), (sorted(archive.disks), sorted(imgs))
    for name, path in imgs.items():
        assert sha(archive.disks[name]) == sha_file(path), "%s differs from %s" % (name, path)


@check("VMA of several disks, each compression, sequential and out of order")
def vma_each_compression():
    d = disks_of("2026-03-01")
    sizes = {n: os.path.getsize(p) for n, p in raw_images(d).items()}
    assert sizes["drive-efidisk0"] == 540672 and sizes["drive-efidisk0"] % 65536, sizes
    for comp in COMPRESS:
        for pct in ("0", "4"):
            out = os.path.join(WORK, "v-%s-%s.vma%s" % (comp, pct, SUFFIX[comp]))
            r = make("vma", *vma_args(d), "--out", out, "--compress", comp,
                     "--out-of-order", pct, "--seed", "11", "--ctime", "1772326800")
            a = vma_judge.read_vma_file(out)
            assert_disks_equal(a, d)
            assert [x[1] for x in a.devices] == ["drive-scsi0", "drive-virtio1", "drive-efidisk0",
                                                 "drive-tpmstate0-backup"], a.devices
            assert a.ctime == 1772326800 and a.uuid.hex() == r["uuid"].replace("-", "")
            assert a.configs["qemu-server.conf"] == open(os.path.join(d, "qemu-server.conf"), "rb").read()
            total = sum((s + 65535) // 65536 for s in sizes.values())
            assert a.clusters == total, (a.clusters, total)
            if pct == "0":
                assert a.early == 0, "a sequential archive has %d clusters out of order" % a.early
                assert a.order == sorted(a.order)
            else:
                # Each guest write shows as a cluster out of order, unless the sequential pass
                # would have reached it next anyway.
                assert total * 0.03 <= a.early <= r["early_clusters"], (a.early, r, total)
            with open(out, "rb") as f:
                magic = f.read(4)
            assert magic.startswith({"0": b"VMA\0", "gzip": b"\x1f\x8b", "lzo": b"\x89LZO",
                                     "zstd": b"\x28\xb5\x2f\xfd"}[comp]), (comp, magic)


@check("a running guest's VMA (pvesim's vzdump model) holds the generated disks, out of order")
def model_vma_running():
    d = disks_of("2026-03-01")
    for running in (True, False):
        out = os.path.join(WORK, "q-%s.vma.zst" % running)
        args = ["qemu", "--vmid", "100", "--day", "2026-03-01", "--size", "24M", "--disks", DISKS,
                "--compress", "zstd", "--out", out] + (["--running"] if running else [])
        r = make(*args)
        a = vma_judge.read_vma_file(out)
        assert_disks_equal(a, d)
        if running:
            assert 0 < a.early <= r["early_clusters"], (a.early, r)
            # Copy-before-write reaches disks whose turn has not come yet.
            first_dev = a.order[0][0]
            assert any(dev != first_dev for dev, _ in a.order[:len(a.order) // 3]), "no early cluster of a later disk"
        else:
            assert a.early == 0 and a.order == sorted(a.order)
        conf = a.configs["qemu-server.conf"].decode()
        assert "#qmdump#map:scsi0:drive-scsi0:local-lvm:raw:" in conf, conf
        assert "#qmdump#map:tpmstate0:drive-tpmstate0-backup:local-lvm:raw:" in conf, conf


@check("disk sizes that are not multiples of 64 KiB or 4 KiB")
def odd_sizes():
    import random
    rnd = random.Random(5)
    d = os.path.join(WORK, "odd")
    os.makedirs(d)
    sizes = {"drive-scsi0": 1000000, "drive-sata1": 3 * 65536 + 4096 * 5 + 100, "drive-ide0": 512}
    for name, size in sizes.items():
        data = bytearray(size)
        for off in range(0, size, 4096):
            if rnd.random() < 0.6:
                n = min(4096, size - off)
                data[off:off + n] = bytes(rnd.getrandbits(8) for _ in range(n))
        with open(os.path.join(d, name + ".raw"), "wb") as f:
            f.write(data)
    args = []
    for name in sizes:
        args += ["--disk", "%s=%s" % (name, os.path.join(d, name + ".raw"))]
    out = os.path.join(WORK, "odd.vma.lzo")
    make("vma", *args, "--out", out, "--compress", "lzo", "--out-of-order", "20", "--seed", "3")
    a = vma_judge.read_vma_file(out)
    for name, size in sizes.items():
        assert len(a.disks[name]) == size
    assert_disks_equal(a, d)


@check("two archives of the same disks differ in uuid and every MD5, not in content")
def fresh_uuid_and_md5():
    d = disks_of("2026-03-01")
    got = []
    for k in range(2):
        out = os.path.join(WORK, "same-%d.vma" % k)
        make("vma", *vma_args(d), "--out", out, "--ctime", "1772326800")
        got.append(vma_judge.read_vma_file(out))
    a, b = got
    assert a.uuid != b.uuid and a.header_md5 != b.header_md5
    assert len(a.extent_md5s) == len(b.extent_md5s)
    assert all(x != y for x, y in zip(a.extent_md5s, b.extent_md5s)), "an extent MD5 repeats"
    assert a.disks == b.disks and a.order == b.order
    out = os.path.join(WORK, "uuid.vma")
    make("vma", *vma_args(d), "--out", out, "--uuid", "0b5e7a3c-1111-4222-8333-444455556666")
    assert vma_judge.read_vma_file(out, keep_disks=False).uuid.hex() == "0b5e7a3c111142228333444455556666"


@check("the judge rejects broken archives")
def judge_rejects():
    d = disks_of("2026-03-01")
    out = os.path.join(WORK, "good.vma")
    make("vma", *vma_args(d), "--out", out)
    good = open(out, "rb").read()
    header = vma_judge.parse_header(open(out, "rb"))
    hsize = struct.unpack(">I", good[56:60])[0]

    def rejects(data, why):
        bad = os.path.join(WORK, "bad.vma")
        with open(bad, "wb") as f:
            f.write(data)
        try:
            vma_judge.read_vma_file(bad)
        except vma_judge.VmaInvalid:
            return
        raise AssertionError("judge accepted an archive with " + why)

    assert header.devices
    rejects(good[:100] + bytes([good[100] ^ 1]) + good[101:], "a flipped header byte")
    rejects(good[:hsize + 30] + bytes([good[hsize + 30] ^ 1]) + good[hsize + 31:], "a flipped extent md5")
    rejects(good[:-4096], "a missing block")
    # a whole extent dropped: clusters missing
    blocks, = struct.unpack(">H", good[hsize + 6:hsize + 8])
    rejects(good[:hsize] + good[hsize + 512 + blocks * 4096:], "a dropped extent")


def changed_blocks(a, b):
    n = changed = nonzero = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(4096), fb.read(4096)
            if not x:
                break
            n += 1
            if x != y:
                changed += 1
                # Freed blocks keep their stale content: a block zero on the later day was
                # zero before.
                assert y != bytes(len(y)), "%s: block %d was written and is zero again" % (b, n - 1)
            if x != bytes(len(x)):
                nonzero += 1
    return changed, nonzero, n


@check("day N+1 differs from day N in 1-3% of the used 4 KiB blocks, like a server's disks")
def day_to_day():
    rates = {"drive-scsi0": [], "drive-virtio1": [], "rootfs": []}
    days = ["2026-05-%02d" % k for k in range(10, 16)]
    for typ, disks in (("qemu", "scsi0:32G,virtio1:64G,efidisk0"), ("lxc", "")):
        for vmid in (100, 205):
            prev = None
            for day in days:
                d = disks_of(day, vmid=vmid, size="128M", disks=disks or DISKS, typ=typ)
                imgs = raw_images(d)
                if prev:
                    for name in imgs:
                        if name not in rates:
                            continue
                        changed, nonzero, n = changed_blocks(prev[name], imgs[name])
                        rates[name].append(changed / nonzero)
                prev = imgs
    for name, r in rates.items():
        avg = sum(r) / len(r)
        print("     %-14s day-to-day changed 4 KiB blocks / non-zero blocks: mean %.2f%% min %.2f%% max %.2f%% (%d day pairs)"
              % (name, 100 * avg, 100 * min(r), 100 * max(r), len(r)))
        assert 0.008 <= avg <= 0.03, (name, avg)
        assert min(r) > 0.002 and max(r) < 0.06, (name, min(r), max(r))
    # The same guest and day is the same disk; another guest's is not.
    a = raw_images(disks_of(days[0], vmid=100, size="128M", disks="scsi0:32G,virtio1:64G,efidisk0"))
    b = raw_images(disks_of(days[0], vmid=205, size="128M", disks="scsi0:32G,virtio1:64G,efidisk0"))
    assert sha_file(a["drive-virtio1"]) != sha_file(b["drive-virtio1"])
    again = os.path.join(WORK, "again")
    make("disks", "--vmid", "100", "--day", days[0], "--size", "128M", "--disks",
         "scsi0:32G,virtio1:64G,efidisk0", "--out-dir", again)
    for name, path in raw_images(again).items():
        assert sha_file(path) == sha_file(a[name]), name


def tree_entries(root, skip=()):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = "./" + os.path.relpath(p, root)
            if any(rel == s or rel.startswith(s + "/") for s in skip):
                continue
            st = os.lstat(p)
            e = {"mode": stat.S_IMODE(st.st_mode), "type": stat.S_IFMT(st.st_mode)}
            if stat.S_ISLNK(st.st_mode):
                e["target"] = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                e["sha"] = sha_file(p)
                e["size"] = st.st_size
                e["mtime"] = int(st.st_mtime)
                e["allocated"] = st.st_blocks * 512
            out[rel] = e
    return out


@check("container tar: GNU tar lists and extracts it, the files match the generated tree")
def container_tar():
    for comp in COMPRESS:
        work = os.path.join(WORK, "ct-" + comp)
        os.makedirs(work)
        out = os.path.join(work, "vzdump-lxc-102-2026_03_01-01_00_00.tar" + SUFFIX[comp])
        tree = os.path.join(work, "tree")
        r = make("ct", "--vmid", "102", "--day", "2026-03-01", "--size", "16M", "--compress", comp,
                 "--out", out, "--tree", tree)
        flag = {"0": [], "gzip": ["-z"], "lzo": ["--lzop"], "zstd": ["--zstd"]}[comp]
        names = subprocess.run(["tar", "-t", "-f", out] + flag, check=True, stdout=subprocess.PIPE,
                               text=True).stdout.split("\n")
        names = [n for n in names if n]
        assert names[:3] == ["./etc/vzdump/pct.conf", "./etc/vzdump/pct.fw", "./"], names[:3]
        assert "./tmp/" in names and not any(n.startswith("./tmp/") and n != "./tmp/" for n in names)
        assert "./lost+found/" not in names, "unprivileged: lost+found is excluded"
        ex = os.path.join(work, "x")
        os.makedirs(ex)
        subprocess.run(["tar", "-x", "-f", out, "-C", ex, "--numeric-owner", "-p", "--sparse"] + flag,
                       check=True)
        conf = open(os.path.join(ex, "etc/vzdump/pct.conf")).read()
        assert "hostname: ct-102" in conf and "rootfs: local-lvm:vm-102-disk-0" in conf, conf
        want = tree_entries(tree, skip=("./tmp/", "./lost+found"))
        want = {k: v for k, v in want.items() if not (k.startswith("./tmp/") or k == "./lost+found")}
        got = tree_entries(ex, skip=("./etc/vzdump",))
        assert sorted(want) == sorted(got), (sorted(set(want) ^ set(got)))[:10]
        sparse = 0
        for k, w in want.items():
            g = got[k]
            assert w["type"] == g["type"] and w["mode"] == g["mode"], (k, w, g)
            if "sha" in w:
                assert (w["sha"], w["size"], w["mtime"]) == (g["sha"], g["size"], g["mtime"]), (k, w, g)
                if w["allocated"] < w["size"] // 2:
                    sparse += 1
                    assert g["allocated"] < g["size"] // 2, "sparse file restored dense: " + k
            if "target" in w:
                assert w["target"] == g["target"], k
        assert sparse >= 1, "no sparse file in the tree"
        kinds = {k for k, v in want.items() if v["type"] == stat.S_IFLNK}
        assert "./bin" in kinds and "./etc/localtime" in kinds, kinds
        empty = [k for k, v in want.items() if v["type"] == stat.S_IFDIR and not os.listdir(os.path.join(tree, k))]
        assert "./mnt" in empty and "./srv/empty" in empty, empty
        assert any("/var/log/syslog" in k for k in want) and any("/base/16384/" in k for k in want)
        assert r["tree_entries"] > 100


def main():
    only = sys.argv[1:]
    failures = []
    for name, fn in CHECKS:
        if only and not any(o in fn.__name__ for o in only):
            continue
        try:
            fn()
            print("ok   " + name, flush=True)
        except Exception as e:  # report every failing check, not only the first
            traceback.print_exc()
            failures.append(name)
            print("FAIL " + name + ": " + str(e), flush=True)
    if failures:
        print("FAILED: " + ", ".join(failures) + "\nwork dir kept: " + WORK)
        sys.exit(1)
    shutil.rmtree(WORK, ignore_errors=True)
    print("PASS")


main()
