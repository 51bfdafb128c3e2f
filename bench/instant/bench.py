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
`pvesafe nbd --image {image} --socket {socket} --json`; the repository-backed and S3 variants
are other commands). It must serve the default export "" on the Unix socket and, on SIGUSR1,
print a JSON line holding "source_fetched_bytes". Prints the median of --runs runs and ratios.
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
    p.add_argument("--label", default="local file through pvesafe nbd")
    p.add_argument("--accel", default="tcg")
    p.add_argument("--memory", type=int, default=256)
    p.add_argument("--work", default=None, help="scratch directory (default: a temp dir, removed)")
    a = p.parse_args()
    a.pvesafe = os.path.join(os.path.abspath(a.build), "bin", "pvesafe")
    a.qemu_img = shutil.which("qemu-img") or "qemu-img"
    if a.export_cmd is None:
        a.export_cmd = shlex.quote(a.pvesafe) + " nbd --image {image} --socket {socket} --json"
    env = dict(os.environ, PVESAFE_BUILD_DIR=os.path.abspath(a.build))
    work = a.work or tempfile.mkdtemp(prefix="pvesafe-bench-instant.")
    results = {}
    try:
        for size in a.sizes.split(","):
            guest = os.path.join(work, f"guest-{size}")
            log(f"building the guest on a {size} disk ({a.payload_mib} MiB payload)")
            subprocess.run([os.path.join(GUEST, "build_guest.sh"), guest, "--disk-size", size,
                            "--payload-mib", str(a.payload_mib)], check=True, stdout=subprocess.DEVNULL)
            used = int(subprocess.run(["du", "-B1", os.path.join(guest, "disk.raw")], capture_output=True,
                                      text=True).stdout.split()[0])
            for method, fn in (("instant", run_instant), ("copy-then-boot", run_copy_then_boot)):
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
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nInstant restore vs copy-then-boot ({a.label}; accel {a.accel}; median of {a.runs} runs; "
          f"guest payload {a.payload_mib} MiB)")
    hdr = f"{'disk':>5} {'(used)':>10}  {'method':<15} {'to healthy':>11} {'fetched by then':>16} " \
          f"{'guest read':>11} {'independent':>12} {'fetched in all':>15}"
    print(hdr)
    print("-" * len(hdr))
    for size in a.sizes.split(","):
        used = results[(size, "used")]
        for method in ("instant", "copy-then-boot"):
            rows = results[(size, method)]
            print(f"{size:>5} {human(used):>10}  {method:<15} {median(rows, 'healthy_s'):>9.1f} s "
                  f"{human(median(rows, 'fetched_at_healthy')):>16} {human(median(rows, 'guest_read_at_healthy')):>11} "
                  f"{median(rows, 'independent_s'):>10.1f} s {human(median(rows, 'fetched_total')):>15}")
        i, c = results[(size, "instant")], results[(size, "copy-then-boot")]
        print(f"{'':>17}ratio copy-then-boot / instant: time to healthy "
              f"{median(c, 'healthy_s') / median(i, 'healthy_s'):.2f}x, bytes fetched before healthy "
              f"{median(c, 'fetched_at_healthy') / max(1, median(i, 'fetched_at_healthy')):.1f}x")
    print("\n'fetched by then' for instant is read when the healthy line appears, as the copy starts: an "
          "upper bound.\n'independent': until the guest no longer needs the export (instant: copy "
          "complete and pivoted; copy-then-boot: copy done).")


if __name__ == "__main__":
    main()
