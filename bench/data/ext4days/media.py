"""Compressed and media files made by the real compressors or in the real container formats:
gzip as `gzip -n` writes it, xz, tar archives and Debian packages (ar + control.tar.xz +
data.tar.xz), JPEG structure around entropy-coded data, PNG (a zlib stream of filtered
scanlines), GNU gettext catalogs, and plain entropy (compressed kernels, key material).
"""
import hashlib
import io
import lzma
import struct
import tarfile
import zlib

from .text import words


def gzip_n(data, level=9):
    """gzip -n: no name, no timestamp, OS byte 3 (Unix), as Debian compresses docs and logs."""
    c = zlib.compressobj(level, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


def xz(data, preset=6):
    return lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=preset)


def tar(members, mtime):
    """A ustar archive of (name, bytes) members owned by root, as dpkg-deb builds them."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo("./" + name.lstrip("/"))
            ti.size = len(data)
            ti.mtime = mtime
            ti.mode = 0o755 if "/bin/" in name or "/sbin/" in name else 0o644
            ti.uname = ti.gname = "root"
            tf.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def _ar_member(name, data, mtime):
    hdr = f"{name:<16}{mtime:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}`\n".encode()
    return hdr + data + (b"\n" if len(data) % 2 else b"")


def deb(r, pkg, version, members, mtime, preset=0):
    """A Debian binary package: ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    control = (
        f"Package: {pkg}\nVersion: {version}\nArchitecture: amd64\nMaintainer: Debian <pkg@example.org>\n"
        f"Installed-Size: {sum(len(d) for _, d in members) // 1024}\nSection: misc\nPriority: optional\n"
        f"Description: {' '.join(words(r, 6))}\n {' '.join(words(r, 20))}\n"
    ).encode()
    md5 = "".join(f"{_md5(d)}  {n.lstrip('/')}\n" for n, d in members).encode()
    ctl = xz(tar([("control", control), ("md5sums", md5)], mtime), preset)
    dat = xz(tar(members, mtime), preset)
    return (
        b"!<arch>\n"
        + _ar_member("debian-binary", b"2.0\n", mtime)
        + _ar_member("control.tar.xz", ctl, mtime)
        + _ar_member("data.tar.xz", dat, mtime)
    )


def _md5(data):
    return hashlib.md5(data).hexdigest()


def jpeg(r, n):
    """A baseline JPEG's structure around n bytes of entropy-coded data (0xFF stuffed)."""
    soi = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x01\x00\x48\x00\x48\x00\x00"
    dqt = b"\xff\xdb\x00\x43\x00" + bytes((2 + (i * 7) % 40) for i in range(64))
    w, h = 4000 + r.randrange(2) * 32, 3000
    sof = b"\xff\xc0\x00\x11\x08" + struct.pack(">HH", h, w) + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    dht = b"\xff\xc4\x00\x1f\x00" + bytes(range(1, 17)) + bytes(range(12))
    sos = b"\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    head = soi + dqt + sof + dht + sos
    body = r.randbytes(max(0, n - len(head) - 2)).replace(b"\xff", b"\xff\x00")
    return (head + body)[: n - 2] + b"\xff\xd9"


_LOW3 = bytes(b & 7 for b in range(256))


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(r, w, h):
    """An RGBA PNG of smooth shapes with noise: a real zlib stream of filtered scanlines."""
    rows = []
    base = r.randbytes(w * 4)
    for y in range(h):
        noise = int.from_bytes(r.randbytes(w * 4).translate(_LOW3), "little")
        row = (int.from_bytes(base, "little") ^ noise).to_bytes(w * 4, "little")
        rows.append(b"\x01" + row if y % 3 else b"\x00" + base)
    idat = zlib.compress(b"".join(rows), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def mo_catalog(r, n):
    """A GNU gettext .mo file: header, two offset tables, original and translated strings."""
    count = max(1, n // 62)
    ws = words(r, 11 * count)
    lens = r.randbytes(2 * count)
    msgs = []
    pos = 0
    for i in range(count):
        a = 2 + lens[2 * i] % 5
        b = 2 + lens[2 * i + 1] % 5
        msgs.append((" ".join(ws[pos : pos + a]).encode(), " ".join(ws[pos + a : pos + a + b]).encode()))
        pos += a + b
    msgs = sorted(set(msgs))
    count = len(msgs)
    o_tab = 28
    t_tab = o_tab + 8 * count
    pos = t_tab + 8 * count
    otab, ttab, blob = bytearray(), bytearray(), bytearray()
    for a, _ in msgs:
        otab += struct.pack("<II", len(a), pos + len(blob))
        blob += a + b"\0"
    for _, b in msgs:
        ttab += struct.pack("<II", len(b), pos + len(blob))
        blob += b + b"\0"
    return struct.pack("<IIIIIII", 0x950412DE, 0, count, o_tab, t_tab, 0, 0) + otab + ttab + blob


def random_bytes(r, n):
    """Entropy-coded or encrypted data (media, compressed kernels, key material)."""
    return r.randbytes(n)
