"""Generators of file contents by name, so that a file can be described as plain data (a task:
path, generator name, size, seed key, parameters) and made in a worker process:
generate(seed, gen, size, key, params) -> bytes, the same for the same arguments.
"""
from . import binary, logfiles, media, text
from .clock import DAY, T0
from .rng import lognormal, name as rname, rng


def _man_gz(r, size, **_):
    page = b".TH " + text.words(r, 1)[0].upper().encode() + b" 1\n.SH NAME\n" + text.prose(r, size * 3)
    return media.gzip_n(page, 9)


def _changelog_gz(r, size, pkg="", versions=(), **_):
    return media.gzip_n(text.changelog(r, pkg, versions, T0 - 30 * DAY), 9)


def _copyright(r, size, pkg="", license="MIT", **_):
    return text.copyright_file(r, pkg, license)


def _log(r, size, style="syslog", t0=0, t1=0, **_):
    return logfiles.log_lines(r, size, t0, t1, style)


def _log_gz(r, size, style="syslog", t0=0, t1=0, **_):
    return media.gzip_n(logfiles.log_lines(r, size, t0, t1, style), 6)


def _tar_gz(r, size, **_):
    members = []
    total = 0
    i = 0
    while total < size:
        n = lognormal(r, 30000, 1.0, 200, 400000)
        kind = r.random()
        data = (
            text.csv_table(r, n) if kind < 0.3 else text.source_code(r, n) if kind < 0.6 else text.prose(r, n)
        )
        members.append((f"shop/{'/'.join(text.words(r, 2))}-{i}.txt", data))
        total += n
        i += 1
    return media.gzip_n(media.tar(members, T0 - 2 * DAY), 6)


def _pdf(r, size, **_):
    out = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
    n = len(out[0])
    obj = 1
    while n < size:
        stream = media.gzip_n(text.prose(r, lognormal(r, 40000, 0.8, 2000, 300000)), 6)[10:-8]
        part = (
            f"{obj} 0 obj\n<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode()
            + stream
            + b"\nendstream\nendobj\n"
        )
        out.append(part)
        n += len(part)
        obj += 1
    out.append(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
    return b"".join(out)


def _json(r, size, **_):
    ws = text.words(r, size // 8 + 8)
    items = [
        f'"{a}": {{"{b}": "{c}", "id": {len(a) * 7919 % 1000}}}'
        for a, b, c in zip(ws[::3], ws[1::3], ws[2::3])
    ]
    return ("{\n  " + ",\n  ".join(items) + "\n}\n").encode()[: max(size, 2)]


def _pkg_stanzas(r, size, **_):
    out = []
    n = 0
    while n < size:
        nm = rname(r)
        ws = text.words(r, 14)
        st = (
            f"Package: {nm}\nVersion: {r.randrange(10)}.{r.randrange(30)}-{r.randrange(6)}\n"
            f"Installed-Size: {r.randrange(20, 90000)}\n"
            f"Maintainer: {ws[0].title()} {ws[1].title()} <{ws[0]}@debian.org>\n"
            f"Architecture: amd64\nDepends: libc6 (>= 2.{r.randrange(20, 37)}), lib{ws[2]}{r.randrange(4)}\n"
            f"Description: {' '.join(ws[3:9])}\nDescription-md5: {r.getrandbits(128):032x}\n"
            f"Section: {ws[9]}\nPriority: optional\nFilename: pool/main/{nm[0]}/{nm}/{nm}_1.0_amd64.deb\n"
            f"Size: {r.randrange(2000, 9000000)}\nSHA256: {r.getrandbits(256):064x}\n\n"
        )
        out.append(st)
        n += len(st)
    return "".join(out).encode()[:size]


def _apt_cache_bin(r, size, **_):
    # apt's pkgcache.bin: a header, hash tables and fixed-size records, then a string pool.
    head = b"\xda\x98\x7b\x98" + b"\x10\x00\x00\x00" + r.randbytes(56)
    recs = binary.symbol_table(r, size * 6 // 10, 0x40)
    pool = text.prose(r, size - len(head) - len(recs), width=3).replace(b"\n", b"\0")
    return head + recs + pool


def _zoneinfo(r, size, **_):
    return b"TZif2" + b"\0" * 15 + binary.rela_table(r, size - 40, 0)[: size - 40] + b"\nUTC0\n"


def _swap_header(r, size, pages=0, **_):
    hdr = bytearray(4096)
    hdr[1024 : 1024 + 12] = (
        (1).to_bytes(4, "little") + (pages - 1).to_bytes(4, "little") + (0).to_bytes(4, "little")
    )
    hdr[1036:1052] = r.randbytes(16)  # uuid
    hdr[4086:4096] = b"SWAPSPACE2"
    return bytes(hdr)


GENERATORS = {
    "elf_exec": lambda r, n, **_: binary.elf(r, n, "exec"),
    "elf_lib": lambda r, n, **_: binary.elf(r, n, "lib"),
    "elf_module": lambda r, n, **_: binary.elf(r, n, "module"),
    "prose": lambda r, n, **_: text.prose(r, n),
    "config": lambda r, n, **_: text.config(r, n),
    "shell": lambda r, n, **_: text.shell_script(r, n),
    "py": lambda r, n, **_: text.source_code(r, n, "py"),
    "js": lambda r, n, **_: text.source_code(r, n, "js"),
    "minjs": lambda r, n, **_: text.minified_js(r, n),
    "csv": lambda r, n, **_: text.csv_table(r, n),
    "html": lambda r, n, **_: text.html(r, n),
    "json": _json,
    "mo": lambda r, n, **_: media.mo_catalog(r, n),
    "png": lambda r, n, **_: media.png(r, max(8, int((n / 3) ** 0.5)), max(8, int((n / 3) ** 0.5))),
    "jpeg": lambda r, n, **_: media.jpeg(r, n),
    "random": lambda r, n, **_: media.random_bytes(r, n),
    "pem": lambda r, n, **_: text.pem_certificate(r, text.words(r, 1)[0]),
    "license": lambda r, n, license="MIT", **_: text.license_text(license),
    "man_gz": _man_gz,
    "changelog_gz": _changelog_gz,
    "copyright": _copyright,
    "log": _log,
    "log_gz": _log_gz,
    "tar_gz": _tar_gz,
    "pdf": _pdf,
    "pkg_stanzas": _pkg_stanzas,
    "apt_cache_bin": _apt_cache_bin,
    "zoneinfo": _zoneinfo,
    "swap_header": _swap_header,
    "gz_text": lambda r, n, **_: media.gzip_n(text.prose(r, n * 3), 6),
    "symbol_map": lambda r, n, **_: text.symbol_map(r, n),
    "xz_elf": lambda r, n, **_: media.xz(binary.elf(r, n * 2, "exec"), 0),
}


def generate(seed, gen, size, key, params):
    return GENERATORS[gen](rng(seed, key), size, **params)
