#!/usr/bin/env python3
"""Instant restore against copy-then-boot, side by side, on the same guest and the same export.

For each disk size (the same test guest: kernel, busybox root file system and a payload of
deterministic data the boot never reads, on a disk of that size, mostly sparse) and each run:

  instant         pvesafe instant-restore --nbd EXPORT: time from the command to the guest
                  answering its health check, bytes the export fetched from its source by then
                  (SIGUSR1 to the export when the healthy line appears: an upper bound, the
                  copy starts at that moment), bytes the guest itself had read (QEMU's count),
                  and the time until the copy is complete (the guest independent of the source)
  copy-then-boot  qemu-img convert EXPORT -> target, then boot the target: time to healthy and
                  the bytes fetched (the whole used disk, all before the guest runs)

The export is started by --export-cmd, a template with {image} and {socket} (default:
`pvesafe nbd --image {image} --socket {socket} --json`). It must serve the default export "" on
the Unix socket and, on SIGUSR1, print a JSON line holding "source_fetched_bytes".

--source repo | s3 measures the product as it runs: the guest's disk is written into a VMA
(pvesim make-archive) and backed up into a repository (a directory, or a bucket of a Ceph RGW
started for the run by tests/servers/rgw.sh), then

  instant          pvesafe instant-restore SNAPSHOT --disk drive-scsi0: the export is the
                   repository's disk reader, in-process; bytes fetched come from its summary
                   (source_bytes_at_healthy: counted when the guest answered)
  full restore     pvesafe restore SNAPSHOT --disk drive-scsi0 --to target, then boot the
                   target: the classic RTO (the whole used disk before the guest runs)

Prints the median of --runs runs and ratios.
"""
import argparse
import json
import os
import queue
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
GUEST = os.path.join(SRC, "tests", "guest")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Export:
    """The export command in the background; its JSON stdout lines are collected."""

    def __init__(self, template, image, sock, env):
        cmd = template.format(image=shlex.quote(image), socket=shlex.quote(sock))
        self.proc = subprocess.Popen("exec " + cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env, start_new_session=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.sock = sock
        deadline = time.monotonic() + 30
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(sock)
                s.close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"bench: the export did not start: {cmd}")
                time.sleep(0.05)
        self.uri = f"nbd+unix:///?socket={sock}"

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                pass

    def fetched(self, timeout=10):
        """Asks for the counters (SIGUSR1) and returns source_fetched_bytes."""
        while not self.lines.empty():
            self.lines.get_nowait()
        os.kill(self.proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                j = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if "source_fetched_bytes" in j:
                return j["source_fetched_bytes"]
        raise SystemExit("bench: the export printed no counters on SIGUSR1")

    def stop(self):
        total = self.fetched()
        self.kill()
        return total

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


def stop_guest(run_dir):
    """Stops a guest left running in run_dir (no-op when there is none)."""
    subprocess.run([sys.executable, os.path.join(GUEST, "guestctl.py"), "stop", "--run-dir", run_dir],
                   capture_output=True)


def guestctl(*args):
    return subprocess.run([sys.executable, os.path.join(GUEST, "guestctl.py"), *args], check=True,
                          capture_output=True, text=True).stdout


def boot_args(guest, a):
    with open(os.path.join(guest, "cmdline")) as f:
        cmdline = f.read().strip()
    return ["--kernel", os.path.join(guest, "vmlinuz"), "--initrd", os.path.join(guest, "initrd.img"),
            "--append", cmdline, "--memory", str(a.memory), "--accel", a.accel,
            "--health-send", "ping", "--health-expect", "PVESAFE pong", "--health-timeout", "10m"]


def run_instant(a, guest, work, env):
    exp = Export(a.export_cmd, os.path.join(guest, "disk.raw"), os.path.join(work, "src.sock"), env)
    target = os.path.join(work, "target.raw")
    run_dir = os.path.join(work, "run")
    cmd = [a.pvesafe, "instant-restore", "--json", "--nbd", exp.uri, "--to", target, "--run-dir", run_dir,
           *boot_args(guest, a)]
    try:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        healthy_s = fetched_at_healthy = None
        summary = None
        for line in p.stdout:
            j = json.loads(line)
            if j.get("phase") == "healthy" and healthy_s is None:
                healthy_s = time.monotonic() - t0
                fetched_at_healthy = exp.fetched()
            if j.get("message_type") == "summary":
                summary = j
        p.wait()
        copied_s = time.monotonic() - t0
        if p.returncode != 0 or not summary or not summary["copied"]:
            raise SystemExit(f"bench: instant restore failed ({p.returncode}): {p.stderr.read()}")
        total = exp.stop()
    finally:
        stop_guest(run_dir)
        exp.kill()
    os.unlink(target)
    return {"healthy_s": healthy_s, "fetched_at_healthy": fetched_at_healthy,
            "guest_read_at_healthy": summary["guest_read_bytes_at_healthy"], "independent_s": copied_s,
            "fetched_total": total}


def run_copy_then_boot(a, guest, work, env):
    exp = Export(a.export_cmd, os.path.join(guest, "disk.raw"), os.path.join(work, "src.sock"), env)
    target = os.path.join(work, "target.raw")
    run_dir = os.path.join(work, "run")
    try:
        t0 = time.monotonic()
        subprocess.run([a.qemu_img, "convert", "-f", "raw", "-O", "raw", exp.uri, target], check=True)
        copy_s = time.monotonic() - t0
        fetched = exp.fetched()
        guestctl("boot", "--guest", guest, "--disk", target, "--run-dir", run_dir, "--accel", a.accel,
                 "--memory", str(a.memory), "--timeout", "600")
        healthy_s = time.monotonic() - t0
        total = exp.stop()
    finally:
        stop_guest(run_dir)
        exp.kill()
    os.unlink(target)
    return {"healthy_s": healthy_s, "fetched_at_healthy": fetched, "guest_read_at_healthy": None,
            "independent_s": copy_s, "fetched_total": total, "copy_s": copy_s}


class Repo:
    """A repository holding the guests' disks as VMA snapshots: a directory, or S3 on a Ceph RGW."""

    def __init__(self, a, work, env):
        self.a, self.env = a, env
        self.opts = []
        self.rgw_dir = None
        self.pass_file = os.path.join(work, "passphrase")
        with open(os.open(self.pass_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("bench passphrase\n")
        if a.source == "s3":
            self.rgw_dir = os.path.join(work, "rgw")
            rgw = os.path.join(SRC, "tests", "servers", "rgw.sh")
            subprocess.run(["bash", rgw, "start", self.rgw_dir], check=True, stdout=subprocess.DEVNULL)
            out = subprocess.run(["bash", rgw, "env", self.rgw_dir], check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                if line.startswith("export "):
                    k, v = line[len("export "):].split("=", 1)
                    env[k] = v.strip().strip("'\"")
            self.opts = ["-o", "s3.endpoint=" + env["PVESAFE_TEST_S3_ENDPOINT"], "-o", "s3.create-bucket=true"]
            self.url = "s3://bench-instant/repo"
        else:
            self.url = os.path.join(work, "repo")
        self.run(["init"])

    def run(self, args, **kw):
        cmd = [self.a.pvesafe, *self.opts, args[0], "--repo", self.url, "--passphrase-file", self.pass_file, *args[1:]]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, env=self.env, **kw)

    def backup(self, image, work):
        conf = os.path.join(work, "qemu-server.conf")
        with open(conf, "w") as f:
            f.write("boot: order=scsi0\nmemory: 256\nscsi0: local-lvm:vm-100-disk-0,size=1G\n")
        vma = os.path.join(work, "vzdump-qemu-100-2026_12_04-01_00_00.vma")
        subprocess.run([self.a.pvesim, "make-archive", "vma", "--disk", "drive-scsi0=" + image, "--config", conf,
                        "--out", vma], check=True, stdout=subprocess.DEVNULL)
        out = self.run(["backup", "--json", vma]).stdout
        os.unlink(vma)
        return json.loads(out)["snapshot_id"]

    def stop(self):
        if self.rgw_dir:
            subprocess.run(["bash", os.path.join(SRC, "tests", "servers", "rgw.sh"), "stop", self.rgw_dir],
                           capture_output=True)


def run_instant_repo(a, guest, work, env, repo, snap):
    target = os.path.join(work, "target.raw")
    run_dir = os.path.join(work, "run")
    cmd = [a.pvesafe, *repo.opts, "instant-restore", "--json", "--repo", repo.url, "--passphrase-file", repo.pass_file,
           snap, "--disk", "drive-scsi0", "--to", target, "--run-dir", run_dir, *boot_args(guest, a)]
    try:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        healthy_s = None
        summary = None
        for line in p.stdout:
            j = json.loads(line)
            if j.get("phase") == "healthy" and healthy_s is None:
                healthy_s = time.monotonic() - t0
            if j.get("message_type") == "summary":
                summary = j
        p.wait()
        copied_s = time.monotonic() - t0
        if p.returncode != 0 or not summary or not summary["copied"]:
            raise SystemExit(f"bench: instant restore failed ({p.returncode}): {p.stderr.read()}")
    finally:
        stop_guest(run_dir)
    os.unlink(target)
    return {"healthy_s": healthy_s, "fetched_at_healthy": summary["source_bytes_at_healthy"],
            "guest_read_at_healthy": summary["guest_read_bytes_at_healthy"], "independent_s": copied_s,
            "fetched_total": summary["source_bytes_total"]}


def run_full_restore(a, guest, work, env, repo, snap):
    target = os.path.join(work, "target.raw")
    run_dir = os.path.join(work, "run")
    try:
        t0 = time.monotonic()
        out = repo.run(["restore", "--json", snap, "--disk", "drive-scsi0", "--to", target]).stdout
        copy_s = time.monotonic() - t0
        fetched = json.loads(out)["fetched_bytes"]
        guestctl("boot", "--guest", guest, "--disk", target, "--run-dir", run_dir, "--accel", a.accel,
                 "--memory", str(a.memory), "--timeout", "600")
        healthy_s = time.monotonic() - t0
    finally:
        stop_guest(run_dir)
    os.unlink(target)
    return {"healthy_s": healthy_s, "fetched_at_healthy": fetched, "guest_read_at_healthy": None,
            "independent_s": copy_s, "fetched_total": fetched, "copy_s": copy_s}


def human(n):
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024


def median(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build", help="build directory (bin/pvesafe)")
    p.add_argument("--sizes", default="1G,32G")
    p.add_argument("--payload-mib", type=int, default=256)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--export-cmd", default=None,
                   help="export command template with {image} and {socket} (default: pvesafe nbd)")
    p.add_argument("--label", default=None)
    p.add_argument("--source", choices=("image", "repo", "s3"), default="image",
                   help="image: --export-cmd over the raw image; repo/s3: a VMA snapshot in a directory "
                        "or RGW repository, instant-restore vs full restore")
    p.add_argument("--accel", default="tcg")
    p.add_argument("--memory", type=int, default=256)
    p.add_argument("--work", default=None, help="scratch directory (default: a temp dir, removed)")
    a = p.parse_args()
    a.pvesafe = os.path.join(os.path.abspath(a.build), "bin", "pvesafe")
    a.pvesim = os.path.join(os.path.abspath(a.build), "bin", "pvesim")
    if a.label is None:
        a.label = {"image": "local file through pvesafe nbd", "repo": "VMA snapshot in a directory repository",
                   "s3": "VMA snapshot in an S3 repository (Ceph RGW on loopback)"}[a.source]
    a.qemu_img = shutil.which("qemu-img") or "qemu-img"
    if a.export_cmd is None:
        a.export_cmd = shlex.quote(a.pvesafe) + " nbd --image {image} --socket {socket} --json"
    env = dict(os.environ, PVESAFE_BUILD_DIR=os.path.abspath(a.build))
    work = a.work or tempfile.mkdtemp(prefix="pvesafe-bench-instant.")
    results = {}
    repo = None
    methods = (("instant", run_instant), ("copy-then-boot", run_copy_then_boot))
    try:
        if a.source != "image":
            repo = Repo(a, work, env)
        for size in a.sizes.split(","):
            guest = os.path.join(work, f"guest-{size}")
            log(f"building the guest on a {size} disk ({a.payload_mib} MiB payload)")
            subprocess.run([os.path.join(GUEST, "build_guest.sh"), guest, "--disk-size", size,
                            "--payload-mib", str(a.payload_mib)], check=True, stdout=subprocess.DEVNULL)
            used = int(subprocess.run(["du", "-B1", os.path.join(guest, "disk.raw")], capture_output=True,
                                      text=True).stdout.split()[0])
            if repo:
                snap = repo.backup(os.path.join(guest, "disk.raw"), work)
                methods = (("instant", lambda a_, g_, w_, e_: run_instant_repo(a_, g_, w_, e_, repo, snap)),
                           ("full restore", lambda a_, g_, w_, e_: run_full_restore(a_, g_, w_, e_, repo, snap)))
            for method, fn in methods:
                rows = []
                for i in range(a.runs):
                    rundir = os.path.join(work, f"{size}-{method}-{i}")
                    os.makedirs(rundir)
                    r = fn(a, guest, rundir, env)
                    log(f"  {size} {method} run {i + 1}: healthy {r['healthy_s']:.1f} s, "
                        f"{human(r['fetched_at_healthy'])} fetched by then, independent {r['independent_s']:.1f} s")
                    rows.append(r)
                    shutil.rmtree(rundir, ignore_errors=True)
                results[(size, method)] = rows
            results[(size, "used")] = used
            shutil.rmtree(guest, ignore_errors=True)
    finally:
        if repo:
            repo.stop()
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)

    other = methods[1][0]
    print(f"\nInstant restore vs {other} ({a.label}; accel {a.accel}; median of {a.runs} runs; "
          f"guest payload {a.payload_mib} MiB)")
    hdr = f"{'disk':>5} {'(used)':>10}  {'method':<15} {'to healthy':>11} {'fetched by then':>16} " \
          f"{'guest read':>11} {'independent':>12} {'fetched in all':>15}"
    print(hdr)
    print("-" * len(hdr))
    for size in a.sizes.split(","):
        used = results[(size, "used")]
        for method in ("instant", other):
            rows = results[(size, method)]
            print(f"{size:>5} {human(used):>10}  {method:<15} {median(rows, 'healthy_s'):>9.1f} s "
                  f"{human(median(rows, 'fetched_at_healthy')):>16} {human(median(rows, 'guest_read_at_healthy')):>11} "
                  f"{median(rows, 'independent_s'):>10.1f} s {human(median(rows, 'fetched_total')):>15}")
        i, c = results[(size, "instant")], results[(size, other)]
        print(f"{'':>17}ratio {other} / instant: time to healthy "
              f"{median(c, 'healthy_s') / median(i, 'healthy_s'):.2f}x, bytes fetched before healthy "
              f"{median(c, 'fetched_at_healthy') / max(1, median(i, 'fetched_at_healthy')):.1f}x")
    sizes = a.sizes.split(",")
    if len(sizes) >= 2:
        first, last = sizes[0], sizes[-1]
        for method in ("instant", other):
            t0, t1 = median(results[(first, method)], "healthy_s"), median(results[(last, method)], "healthy_s")
            f0, f1 = median(results[(first, method)], "fetched_at_healthy"), median(results[(last, method)], "fetched_at_healthy")
            print(f"{method}: time to healthy {last} / {first}: {t1 / t0:.2f}x; bytes fetched before healthy "
                  f"{last} / {first}: {f1 / max(1, f0):.2f}x")
        print("(the target for instant recovery: time to healthy grows by at most 1.20x from the smallest to the "
              "largest disk)")
    print("\n'fetched by then' for instant is the source's count when the guest answered (repository "
          "sources) or when the healthy line appeared (an upper bound).\n'independent': until the guest "
          "no longer needs the source (instant: copy complete and pivoted; otherwise: copy done).")


if __name__ == "__main__":
    main()
