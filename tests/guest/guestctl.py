#!/usr/bin/env python3
"""Drives the test guest built by build_guest.sh from the host, for tests and benchmarks.

  guestctl.py boot   --guest DIR --disk PATH [--format raw] --run-dir DIR [--memory MiB]
                     start QEMU (TCG, daemonized) from a local disk; print JSON with the seconds
                     from launch to the guest answering ping
  guestctl.py health SERIAL_SOCK [--timeout S]     ping until "PVESAFE pong"
  guestctl.py cmd    SERIAL_SOCK COMMAND... [--timeout S]
                     send one command line, print the guest's "PVESAFE ..." answer
                     (exit 1 when it starts with "PVESAFE fail" or "PVESAFE unknown")
  guestctl.py qmp    QMP_SOCK COMMAND [JSON_ARGS]  one QMP command, print the return value
  guestctl.py stop   --run-dir DIR                 quit QEMU through QMP and wait for it

The serial console is a QEMU socket chardev: one client at a time, so each call connects,
talks and disconnects.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time


def connect(path, timeout):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise SystemExit(f"guestctl: cannot connect to {path}")
            time.sleep(0.1)


class Serial:
    def __init__(self, path, timeout):
        self.sock = connect(path, timeout)
        self.buf = b""

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def lines(self, deadline, resend=None, every=1.0):
        """Yields guest lines until the deadline; resends `resend` every `every` seconds."""
        next_send = 0.0
        while True:
            now = time.monotonic()
            if now > deadline:
                return
            if resend is not None and now >= next_send:
                self.send(resend)
                next_send = now + every
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                yield line.decode(errors="replace").strip("\r ")
            self.sock.settimeout(max(0.05, min(deadline, next_send if resend else deadline) - now))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            self.buf += data

    def close(self):
        self.sock.close()


def health(path, timeout):
    start = time.monotonic()
    ser = Serial(path, timeout)
    try:
        for line in ser.lines(start + timeout, resend="ping"):
            if line.startswith("PVESAFE pong"):
                return time.monotonic() - start
    finally:
        ser.close()
    raise SystemExit(f"guestctl: no answer to ping on {path} within {timeout} s")


def command(path, cmd, timeout):
    ser = Serial(path, 10)
    try:
        word = cmd.split()[0]
        ser.send(cmd)
        for line in ser.lines(time.monotonic() + timeout):
            if not line.startswith("PVESAFE ") or line.startswith("PVESAFE pong"):
                continue
            if line.startswith(("PVESAFE fail", "PVESAFE unknown")):
                print(line)
                return 1
            expected = {"write": "PVESAFE ok write", "cat": "PVESAFE data", "md5": "PVESAFE md5",
                        "sync": "PVESAFE ok sync", "poweroff": "PVESAFE bye"}.get(word, "PVESAFE ")
            if line.startswith(expected):
                print(line)
                return 0
    finally:
        ser.close()
    raise SystemExit(f"guestctl: no answer to '{cmd}' within {timeout} s")


def qmp(path, cmd, args=None, timeout=30):
    s = connect(path, timeout)
    # QEMU's QMP socket serves one client at a time: while another holds it (pvesafe
    # instant-restore does, for the life of its job), connect() succeeds into the backlog and the
    # greeting never comes. Bounded, so a caller can fall back on a signal.
    s.settimeout(timeout)
    f = s.makefile("rwb")
    if not f.readline():  # greeting
        raise SystemExit(f"guestctl: {path} closed before its greeting")

    def call(name, arguments=None):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        f.write(json.dumps(msg).encode() + b"\n")
        f.flush()
        while True:
            line = f.readline()
            if not line:
                return None  # QEMU went away (quit)
            reply = json.loads(line)
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise SystemExit(f"guestctl: QMP {name}: {reply['error'].get('desc')}")

    call("qmp_capabilities")
    try:
        return call(cmd, args)
    finally:
        s.close()


def qemu_binary():
    return os.environ.get("PVESAFE_QEMU", "qemu-system-x86_64")


def boot(a):
    os.makedirs(a.run_dir, exist_ok=True)
    serial = os.path.join(a.run_dir, "serial.sock")
    qmp_sock = os.path.join(a.run_dir, "qmp.sock")
    pidfile = os.path.join(a.run_dir, "qemu.pid")
    with open(os.path.join(a.guest, "cmdline")) as f:
        cmdline = f.read().strip()
    argv = [qemu_binary(), "-accel", a.accel, "-nodefaults", "-display", "none",
            "-m", str(a.memory), "-kernel", os.path.join(a.guest, "vmlinuz"),
            "-initrd", os.path.join(a.guest, "initrd.img"), "-append", cmdline,
            "-blockdev", f"driver=file,filename={a.disk},node-name=file0,cache.direct=off",
            "-blockdev", f"driver={a.format},file=file0,node-name=disk0",
            "-device", "virtio-blk-pci,drive=disk0",
            "-chardev", f"socket,id=ser0,path={serial},server=on,wait=off",
            "-serial", "chardev:ser0",
            "-qmp", f"unix:{qmp_sock},server=on,wait=off",
            "-daemonize", "-pidfile", pidfile]
    start = time.monotonic()
    subprocess.run(argv, check=True)
    health(serial, a.timeout)
    print(json.dumps({"seconds_to_healthy": time.monotonic() - start, "serial": serial,
                      "qmp": qmp_sock, "pidfile": pidfile}))


def stop(a):
    pidfile = os.path.join(a.run_dir, "qemu.pid")
    try:
        pid = int(open(pidfile).read().strip())
    except (OSError, ValueError):
        return
    def gone(tenths):
        for _ in range(tenths):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        return False

    try:
        qmp(os.path.join(a.run_dir, "qmp.sock"), "quit", timeout=5)
    except (SystemExit, OSError):
        # QMP busy (another client holds it) or gone: QEMU quits cleanly on SIGTERM too.
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            return
    if not gone(100):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    b = sub.add_parser("boot")
    b.add_argument("--guest", required=True)
    b.add_argument("--disk", required=True)
    b.add_argument("--format", default="raw")
    b.add_argument("--run-dir", required=True)
    b.add_argument("--memory", type=int, default=256)
    b.add_argument("--accel", default="tcg")
    b.add_argument("--timeout", type=float, default=300)
    h = sub.add_parser("health")
    h.add_argument("serial")
    h.add_argument("--timeout", type=float, default=300)
    c = sub.add_parser("cmd")
    c.add_argument("serial")
    c.add_argument("command", nargs="+")
    c.add_argument("--timeout", type=float, default=60)
    q = sub.add_parser("qmp")
    q.add_argument("sock")
    q.add_argument("command")
    q.add_argument("args", nargs="?")
    s = sub.add_parser("stop")
    s.add_argument("--run-dir", required=True)
    a = p.parse_args()
    if a.what == "boot":
        boot(a)
    elif a.what == "health":
        print(json.dumps({"seconds": health(a.serial, a.timeout)}))
    elif a.what == "cmd":
        sys.exit(command(a.serial, " ".join(a.command), a.timeout))
    elif a.what == "qmp":
        print(json.dumps(qmp(a.sock, a.command, json.loads(a.args) if a.args else None)))
    elif a.what == "stop":
        stop(a)


if __name__ == "__main__":
    main()
