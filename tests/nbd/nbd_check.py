#!/usr/bin/env python3
"""Checks an NBD export against the raw image it serves, with libnbd (python3-libnbd).

  nbd_check.py URI IMAGE [--fail OFFSET:LENGTH]...

- flags: read-only, multi-conn, flush, base:allocation;
- reads at 64 KiB / 256 KiB boundaries, data/hole edges, the last partial chunk, one 32 MiB read,
  with and without structured replies, from 4 connections in parallel, all equal to the image
  (except reads touching a --fail range, which must fail with EIO and nothing else);
- block status over the whole disk equals the image's SEEK_DATA/SEEK_HOLE map (with
  --coarse-map: every region reported as a hole is zeros);
- a write is refused.
Exits 1 with a message on the first mismatch.
"""
import argparse
import errno
import os
import random
import sys
import threading

import nbd

EIO = errno.EIO


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def image_map(path, size):
    """[(offset, length, is_hole)] from SEEK_DATA/SEEK_HOLE, covering the file."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    pos = 0
    try:
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                out.append((pos, size - pos, True))
                break
            if data > pos:
                out.append((pos, data - pos, True))
            hole = min(os.lseek(fd, data, os.SEEK_HOLE), size)
            out.append((data, hole - data, False))
            pos = hole
    finally:
        os.close(fd)
    return out


def connect(uri, structured=True):
    h = nbd.NBD()
    h.set_request_structured_replies(structured)
    h.set_uri_allow_local_file(True)  # tls-certificates=DIR in the URI
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_uri(uri)
    return h


def main():
    p = argparse.ArgumentParser()
    p.add_argument("uri")
    p.add_argument("image")
    p.add_argument("--fail", action="append", default=[])
    # A source whose zero regions are whole chunks (a snapshot's disk): its map may report data
    # where the image has a hole inside a stored chunk; holes it reports must still be zeros.
    p.add_argument("--coarse-map", action="store_true")
    a = p.parse_args()
    fails = [tuple(int(x) for x in f.split(":")[:2]) for f in a.fail]
    with open(a.image, "rb") as f:
        img = f.read()
    size = len(img)

    def touches_fault(off, n):
        return any(off < fo + fl and fo < off + n for fo, fl in fails)

    h = connect(a.uri)
    if h.get_size() != size:
        fail(f"export size {h.get_size()} != image size {size}")
    if not h.is_read_only():
        fail("export is not read-only")
    if not h.can_multi_conn():
        fail("export does not allow multi-conn")
    if not h.can_flush():
        fail("export does not accept flush")
    if not h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION):
        fail("export has no base:allocation")
    if not h.get_structured_replies_negotiated():
        fail("structured replies were not negotiated")
    h.flush()

    reads = []
    for k in (1, 2, 3, 17, 63):
        reads.append((k * 65536 - 100, 200))
        reads.append((k * 262144 - 1000, 2000))
    for off, length, _ in image_map(a.image, size):
        for edge in (off, off + length):
            if 512 <= edge <= size - 512:
                reads.append((edge - 512, 1024))
    reads += [(size - 4608, 4608), (size - 1, 1), (0, 1), (4 << 20, 32 << 20), (0, 32 << 20)]
    rng = random.Random(42)
    for _ in range(300):
        n = rng.randint(1, 2 << 20)
        reads.append((rng.randrange(0, size - n), n))

    def check_reads(handle, items, label):
        for off, n in items:
            try:
                got = handle.pread(n, off)
            except nbd.Error as e:
                if touches_fault(off, n) and e.errnum == EIO:
                    continue
                fail(f"{label}: read of {n} bytes at {off} failed: {e}")
            if touches_fault(off, n):
                fail(f"{label}: read of {n} bytes at {off} touches a failing range but succeeded")
            if got != img[off:off + n]:
                fail(f"{label}: read of {n} bytes at {off} differs from the image")

    check_reads(h, reads, "structured")
    simple = connect(a.uri, structured=False)
    if simple.get_structured_replies_negotiated():
        fail("structured replies negotiated although not requested")
    check_reads(simple, reads[:60], "simple replies")
    simple.shutdown()

    # Four connections at once (multi-conn), each with its share of the reads.
    errors = []

    def worker(i):
        try:
            hh = connect(a.uri)
            check_reads(hh, reads[i::4], f"connection {i}")
            hh.shutdown()
        except SystemExit:
            errors.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        fail(f"parallel connections {errors} failed")

    # Block status over the whole disk equals the image's map (coalesced).
    got = []
    pos = 0
    while pos < size:
        n = min(size - pos, 1 << 30)
        entries = []

        def cb(ctx, off, e, err):
            if ctx == nbd.CONTEXT_BASE_ALLOCATION:
                entries.extend(e)
            return 0

        h.block_status(n, pos, cb)
        if not entries:
            fail(f"no block status at {pos}")
        for i in range(0, len(entries), 2):
            length, flags = entries[i], entries[i + 1]
            hole = flags == (nbd.STATE_HOLE | nbd.STATE_ZERO)
            if flags not in (0, nbd.STATE_HOLE | nbd.STATE_ZERO):
                fail(f"unexpected block status flags {flags}")
            if got and got[-1][2] == hole:
                got[-1] = (got[-1][0], got[-1][1] + length, hole)
            else:
                got.append((pos, length, hole))
            pos += length
    want = image_map(a.image, size)
    if got != want and not a.coarse_map:
        fail(f"block status {got} != image map {want}")
    for off, length, hole in got:
        if hole and img[off:off + length].count(0) != length:
            fail(f"region {off}+{length} reported as zeros but is not")

    try:
        h.pwrite(b"x" * 512, 0)
        fail("a write succeeded")
    except nbd.Error:
        pass
    h.shutdown()
    zero = sum(l for _, l, hole in got if hole)
    print(f"ok: {len(reads)} reads, {len(got)} extents, {zero} bytes reported as zeros")


if __name__ == "__main__":
    main()
