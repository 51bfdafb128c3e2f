"""An independent VMA reader, written from pve-qemu's vma_spec.txt and what PVE's writer is known
to do, to judge the archives pvesim writes. Python standard library only; it shares nothing with
pvesim's C++ code.

    archive = read_vma(stream)          # parses and checks everything, raises VmaInvalid
    archive.disks["drive-scsi0"]        # the rebuilt disk (bytes)
    archive.uuid, archive.ctime, archive.configs, archive.extents, archive.early

Checks: header magic, version, MD5 (over header_size bytes with the MD5 field zeroed), sizes
(blob table starting at offset 1, exactly blob_buffer_size long, grown in 512-byte steps as PVE's
writer grows it), config and device pointers (device names after the configs), dev_ids from 1;
each extent: magic, reserved bytes, MD5 (over its 512-byte header with the field zeroed), the
header's uuid, 58 clusters (the writer flushes at 58, the format allows 59) except in the last
one, which may be empty, a block count that matches the masks, no block past a device's end, the
bytes of a block past the end zero; every cluster of every device exactly once.
"""

import gzip
import hashlib
import io
import struct
import subprocess

CLUSTER = 65536
BLOCK = 4096
EXTENT_HEADER = 512
FIXED_HEADER = 12288


class VmaInvalid(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise VmaInvalid(msg)


def decompressed(path):
    """A readable stream of the archive's VMA or tar bytes, whatever vzdump compressed it with."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic == b"\x28\xb5\x2f\xfd":
        cmd = ["zstd", "-q", "-d", "-c", path]
    elif magic == b"\x89LZO":
        cmd = ["lzop", "-d", "-c", path]
    else:
        return open(path, "rb")
    data = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    return io.BytesIO(data)


def read_exact(f, n, what):
    data = f.read(n)
    check(len(data) == n, "%s: short read (%d of %d bytes)" % (what, len(data), n))
    return data


def zero_md5(buf, at):
    b = bytearray(buf)
    stored = bytes(b[at:at + 16])
    b[at:at + 16] = bytes(16)
    return stored, hashlib.md5(bytes(b)).digest()


class Archive:
    def __init__(self):
        self.uuid = None
        self.ctime = None
        self.header_md5 = None
        self.configs = {}
        self.devices = []  # (dev_id, name, size) in dev_id order
        self.disks = {}
        self.extents = 0
        self.extent_md5s = []
        self.clusters = 0
        self.early = 0  # clusters that came before a lower (device, cluster) still missing
        self.order = []  # (dev_id, cluster) as they appear


def parse_header(f):
    a = Archive()
    head = read_exact(f, FIXED_HEADER, "vma header")
    check(head[0:4] == b"VMA\0", "wrong magic %r" % head[0:4])
    version, = struct.unpack(">I", head[4:8])
    check(version == 1, "version %d" % version)
    a.uuid = head[8:24]
    a.ctime, = struct.unpack(">q", head[24:32])
    blob_off, blob_size, header_size = struct.unpack(">III", head[48:60])
    check(header_size % 512 == 0 and header_size > FIXED_HEADER, "header size %d" % header_size)
    check(blob_off == FIXED_HEADER, "blob buffer offset %d" % blob_off)
    check(blob_size <= header_size - FIXED_HEADER, "blob buffer size %d" % blob_size)
    check(head[60:2044] == bytes(1984) and head[4092:4096] == bytes(4), "reserved bytes not zero")
    head += read_exact(f, header_size - FIXED_HEADER, "vma header blobs")
    stored, computed = zero_md5(head, 32)
    check(stored == computed, "header md5 mismatch")
    a.header_md5 = stored
    table = head[FIXED_HEADER:]
    # Blobs: from offset 1, a 2-byte little-endian length and the data; the used length is
    # blob_buffer_size; the rest of the table is zero.
    check(table[0] == 0, "blob table offset 0 is used")
    blobs = {}
    pos = 1
    while pos < blob_size:
        check(pos + 2 <= blob_size, "blob header past the used length")
        n = table[pos] | table[pos + 1] << 8
        check(pos + 2 + n <= blob_size, "blob data past the used length")
        blobs[pos] = table[pos + 2:pos + 2 + n]
        pos += 2 + n
    check(pos == blob_size, "blob_buffer_size %d is not the used length %d" % (blob_size, pos))
    check(table[blob_size:] == bytes(len(table) - blob_size), "bytes after the blobs")
    # PVE's writer grows the table by each blob's size (with its 2-byte length) rounded up to
    # 512 whenever the blob does not fit; the header is 12288 bytes plus that table.
    size, at = 0, 1
    for start in sorted(blobs):
        need = len(blobs[start]) + 2
        if size < at + need:
            size += (need + 511) // 512 * 512
        at += need
    check(header_size == FIXED_HEADER + size,
          "header size %d, PVE's writer makes %d" % (header_size, FIXED_HEADER + size))

    def string(ptr):
        check(ptr in blobs, "pointer %d is not a blob" % ptr)
        b = blobs[ptr]
        check(len(b) > 0 and b[-1] == 0 and 0 not in b[:-1], "blob %d is not a string" % ptr)
        return b[:-1].decode()

    for i in range(256):
        np, = struct.unpack(">I", head[2044 + 4 * i:2048 + 4 * i])
        dp, = struct.unpack(">I", head[3068 + 4 * i:3072 + 4 * i])
        if not np and not dp:
            continue
        check(np and dp and dp in blobs, "config %d pointers" % i)
        a.configs[string(np)] = bytes(blobs[dp])
    check(head[4096:4096 + 32] == bytes(32), "dev_id 0 is used")
    for i in range(1, 256):
        d = head[4096 + 32 * i:4096 + 32 * (i + 1)]
        ptr, res0, size = struct.unpack(">IIQ", d[:16])
        if size == 0:
            check(d == bytes(32), "device %d without size" % i)
            continue
        check(res0 == 0 and d[16:] == bytes(16), "device %d reserved bytes" % i)
        a.devices.append((i, string(ptr), size))
    check([d[0] for d in a.devices] == list(range(1, len(a.devices) + 1)),
          "dev_ids do not run from 1: %r" % [d[0] for d in a.devices])
    # Configs are added before the header is written, device names when it is: names come after.
    dev_ptrs = [struct.unpack(">I", head[4096 + 32 * i:4100 + 32 * i])[0] for i, _, _ in a.devices]
    cfg_ptrs = [p for i in range(256) for p in struct.unpack(">II", head[2044 + 4 * i:2048 + 4 * i] +
                                                             head[3068 + 4 * i:3072 + 4 * i]) if p]
    check(not dev_ptrs or not cfg_ptrs or min(dev_ptrs) > max(cfg_ptrs), "device names before configs")
    return a


def read_vma(f, keep_disks=True):
    """Reads a whole VMA from a binary stream; returns an Archive or raises VmaInvalid."""
    a = parse_header(f)
    dev = {i: (name, size) for i, name, size in a.devices}
    seen = {i: bytearray((size + CLUSTER - 1) // CLUSTER) for i, _, size in a.devices}
    disks = {i: bytearray(size) for i, _, size in a.devices} if keep_disks else {}
    # The sequential cursor: the lowest (dev_id, cluster) not read yet.
    cursor = [1, 0]

    def advance():
        while cursor[0] in seen:
            s = seen[cursor[0]]
            while cursor[1] < len(s) and s[cursor[1]]:
                cursor[1] += 1
            if cursor[1] < len(s):
                return
            cursor[0] += 1
            cursor[1] = 0

    empty_extent_seen = False
    short_extent_seen = False
    while True:
        head = f.read(EXTENT_HEADER)
        if not head:
            break
        check(len(head) == EXTENT_HEADER, "truncated extent header (%d bytes)" % len(head))
        check(not empty_extent_seen, "an extent follows an empty extent")
        check(head[0:4] == b"VMAE", "extent %d: wrong magic" % a.extents)
        check(head[4:6] == b"\0\0", "extent %d: reserved bytes" % a.extents)
        block_count, = struct.unpack(">H", head[6:8])
        check(head[8:24] == a.uuid, "extent %d: uuid differs from the header's" % a.extents)
        stored, computed = zero_md5(head, 24)
        check(stored == computed, "extent %d: md5 mismatch" % a.extents)
        a.extent_md5s.append(stored)
        data = read_exact(f, block_count * BLOCK, "extent %d data" % a.extents)
        infos = struct.unpack(">59Q", head[40:512])
        used = [x for x in infos if x]
        check(len(used) <= 58, "extent %d holds %d clusters (the writer flushes at 58)" % (a.extents, len(used)))
        check(all(x for x in infos[:len(used)]) and not any(infos[len(used):]),
              "extent %d: blockinfo slots not packed" % a.extents)
        # The writer flushes an extent when it holds 58 clusters, and once more at the end.
        check(not short_extent_seen, "an extent follows one with fewer than 58 clusters")
        if len(used) < 58:
            short_extent_seen = True
        if not used:
            empty_extent_seen = True
        pos = 0
        for info in used:
            mask = info >> 48
            check((info >> 40) & 0xff == 0, "blockinfo reserved byte")
            dev_id = (info >> 32) & 0xff
            cluster = info & 0xffffffff
            check(dev_id in dev, "extent %d: unknown dev_id %d" % (a.extents, dev_id))
            name, size = dev[dev_id]
            check(cluster < len(seen[dev_id]), "%s: cluster %d beyond the disk" % (name, cluster))
            check(not seen[dev_id][cluster], "%s: cluster %d appears twice" % (name, cluster))
            seen[dev_id][cluster] = 1
            a.clusters += 1
            a.order.append((dev_id, cluster))
            if [dev_id, cluster] != cursor:
                a.early += 1
            advance()
            for b in range(16):
                off = cluster * CLUSTER + b * BLOCK
                if not mask >> b & 1:
                    continue
                check(off < size, "%s: block %d of cluster %d is past the end" % (name, b, cluster))
                check(pos + BLOCK <= len(data), "extent %d: more blocks in masks than data" % a.extents)
                blk = data[pos:pos + BLOCK]
                pos += BLOCK
                check(blk != bytes(BLOCK), "%s: an all-zero block is stored (mask)" % name)
                n = min(BLOCK, size - off)
                check(blk[n:] == bytes(BLOCK - n), "%s: bytes past the end are not zero" % name)
                if keep_disks:
                    disks[dev_id][off:off + n] = blk[:n]
        check(pos == len(data), "extent %d: block_count %d does not match the masks" % (a.extents, block_count))
        a.extents += 1
    for i, name, size in a.devices:
        missing = [c for c, s in enumerate(seen[i]) if not s]
        check(not missing, "%s: %d clusters missing (first %s)" % (name, len(missing), missing[:3]))
    check(a.extents > 0, "no extent")
    if keep_disks:
        a.disks = {name: bytes(disks[i]) for i, name, _ in a.devices}
    return a


def read_vma_file(path, keep_disks=True):
    with decompressed(path) as f:
        return read_vma(f, keep_disks)
