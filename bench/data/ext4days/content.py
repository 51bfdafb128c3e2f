"""Real-shaped file contents, generated from a seed.

Every generator takes a random.Random seeded by the caller and returns bytes; the same seed
gives the same bytes with the same Python (>= 3.9: Random.randbytes) and the same zlib and
liblzma (the compressed kinds are made by the real compressors). Nothing is read from the host,
so the images do not depend on the installed packages.

Kinds and the property that makes them real-shaped:
  text:   prose, Debian changelogs, config files, source code, CSV, HTML, base64 PEM: words
          from a Zipf-weighted vocabulary (common English and system words first), so they
          compress about 3-4x like real text; logs in the formats of rsyslog, nginx, dpkg, apt
          with monotonic timestamps and repeated templates (about 8-12x).
  binary: ELF-like executables, libraries and kernel modules (a real ELF header, code with a
          skewed opcode distribution and repeated idioms, string and symbol tables, relocation
          tables): about 2-2.5x with gzip, like real x86-64 binaries.
  compressed: gzip (as `gzip -n`) and xz of the above, Debian packages (ar + tar.xz),
          JPEG-like photos (entropy-coded data with 0xFF stuffing), PNG icons (real zlib
          streams), gettext .mo catalogs.
"""
import io
import lzma
import struct
import tarfile
import zlib

# ---------------------------------------------------------------------------------------------
# Vocabulary

_COMMON = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there one all we their has been if more when will would "
    "who so no other its into only time can some two new also may these first then any use used "
    "system file files user data server service network package version update error value "
    "default option options configuration config support install installed build run running "
    "start started stop stopped process memory disk device driver kernel module interface client "
    "request response connection address port host path directory list table index key name type "
    "set get read write open close check test change fix fixed add added remove removed debian "
    "upstream release security patch bug crash warning info debug log message state status event "
    "time date size count number line text string buffer queue thread lock cache backup restore "
    "volume block storage cluster node guest session account password token access denied allowed "
    "source target local remote public private shared library function method object class return "
    "true false null none empty invalid missing required optional enabled disabled timeout retry "
    "order customer payment invoice shipment item price total amount account delivery address "
    "please thanks note see also example usage manual page section command argument environment"
).split()

_SYLLABLES = (
    "ka ko ki ta to ti na no ni ra ro ri la lo li ma mo mi sa so si pa po pe de da do ve va vo "
    "ex in un re pre pro con com dis per ser ter tor ver gen bin lib net sys dev mod cfg ant ent "
    "ing ion ble ment ness ful less ous ive al er or ly ize ate ism ist ity"
).split()


def _make_words(n):
    words = list(_COMMON)
    seen = set(words)
    # A fixed generator (not the caller's seed): the vocabulary is part of the format.
    x = 0x9E3779B9
    while len(words) < n:
        parts = []
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        k = 1 + (x >> 16) % 4
        for _ in range(k):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
            parts.append(_SYLLABLES[(x >> 16) % len(_SYLLABLES)])
        w = "".join(parts)
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


WORDS = _make_words(8192)


def _zipf_table(words, slots=65536):
    """A lookup table of `slots` entries in which word i appears about slots*c/(i+1) times."""
    weights = [1.0 / (i + 1) ** 1.05 for i in range(len(words))]
    total = sum(weights)
    table = []
    for w, wt in zip(words, weights):
        table.extend([w] * max(1, int(round(wt / total * slots))))
    table = table[:slots]
    while len(table) < slots:
        table.append(words[len(table) % len(words)])
    # Interleave deterministically so that neighbouring indices are not the same word.
    return [table[(i * 40503) % slots] for i in range(slots)]


_TABLE = _zipf_table(WORDS)


def words(r, count):
    """`count` words drawn from the Zipf-weighted vocabulary."""
    idx = memoryview(r.randbytes(2 * count)).cast("H")
    return list(map(_TABLE.__getitem__, idx))


def _fit(data, n):
    if len(data) >= n:
        return data[:n]
    return data + b"\n" * (n - len(data))


# ---------------------------------------------------------------------------------------------
# Text


def prose(r, n, width=11):
    """Paragraphs of wrapped lines, like README files, copyright texts and documents."""
    ws = words(r, n // 5 + 16)
    lines = []
    for j in range(0, len(ws), width):
        line = " ".join(ws[j : j + width])
        lines.append(line[:1].upper() + line[1:] + ("." if j % (width * 3) == 0 else ""))
        if j % (width * 8) == width * 7:
            lines.append("")
    return _fit("\n".join(lines).encode(), n)


LICENSES = ["GPL-2+", "GPL-3+", "LGPL-2.1+", "BSD-3-clause", "MIT", "Apache-2.0"]
_LICENSE_TEXT = {}


def license_text(name):
    """The same bytes for the same license everywhere, as in /usr/share/doc/*/copyright."""
    if name not in _LICENSE_TEXT:
        import random as _random

        body = prose(_random.Random("license:" + name), 1500 + 9000 * (name.startswith("GPL")))
        _LICENSE_TEXT[name] = b"License: " + name.encode() + b"\n" + body + b"\n"
    return _LICENSE_TEXT[name]


def copyright_file(r, pkg, license_name):
    head = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        f"Upstream-Name: {pkg}\nSource: https://example.org/{pkg}\n\n"
        f"Files: *\nCopyright: {2000 + r.randrange(24)} {' '.join(words(r, 2)).title()}\n"
        f"License: {license_name}\n\n"
    ).encode()
    return head + license_text(license_name)


def changelog(r, pkg, versions, t_last):
    """A Debian changelog with one entry per version, newest first."""
    out = []
    t = t_last
    for v in versions:
        items = "\n".join("  * " + " ".join(words(r, 6 + r.randrange(14))) for _ in range(1 + r.randrange(5)))
        out.append(
            f"{pkg} ({v}) bookworm; urgency=medium\n\n{items}\n\n -- "
            f"{' '.join(words(r, 2)).title()} <maint@example.org>  {rfc2822(t)}\n"
        )
        t -= 86400 * (10 + r.randrange(200))
    return "\n".join(out).encode()


def config(r, n):
    """An INI/key-value configuration file with comments."""
    out = []
    size = 0
    while size < n:
        if r.random() < 0.12:
            line = f"\n[{words(r, 1)[0]}]"
        elif r.random() < 0.3:
            line = "# " + " ".join(words(r, 4 + r.randrange(10)))
        else:
            k = "_".join(words(r, 1 + r.randrange(2)))
            c = r.random()
            v = (
                str(r.randrange(1 << (4 * r.randrange(1, 6))))
                if c < 0.4
                else ("yes" if c < 0.55 else "/" + "/".join(words(r, 2 + r.randrange(3))))
                if c < 0.75
                else " ".join(words(r, 1 + r.randrange(3)))
            )
            line = f"{k} = {v}"
        out.append(line)
        size += len(line) + 1
    return _fit("\n".join(out).encode(), n)


def shell_script(r, n):
    out = ["#!/bin/sh", "set -e", ""]
    size = 20
    while size < n:
        ws = words(r, 3 + r.randrange(6))
        c = r.random()
        if c < 0.2:
            line = f'if [ "$1" = "{ws[0]}" ]; then\n    {ws[1]} --{ws[2]} "$@"\nfi'
        elif c < 0.4:
            line = f"# {' '.join(ws)}"
        else:
            line = f'{ws[0]}_{ws[1]}="${{{ws[2].upper()}:-/usr/lib/{ws[-1]}}}"'
        out.append(line)
        size += len(line) + 1
    return _fit("\n".join(out).encode(), n)


def source_code(r, n, lang="py"):
    """Indented source-like text (Python or JavaScript shaped)."""
    out = []
    size = 0
    depth = 1
    while size < n:
        count = max(8, (n - size) // 30)
        ws = words(r, 5 * count)
        rnd = r.randbytes(count)
        for i in range(count):
            w0, w1, w2, w3, w4 = ws[5 * i : 5 * i + 5]
            c = rnd[i]
            ind = "    " * depth
            args = f"{w2}, {w3}" if c & 1 else w2
            if lang == "py":
                if c < 20:
                    line, depth = f"\ndef {w0}_{w1}({args}):", 1
                elif c < 30:
                    line = f'{ind}"""{w0.title()} {w1} {w2} {w3} {w4}."""'
                elif c < 77:
                    line, depth = f"{ind}if {w0} is not None and {w1}:", min(depth + 1, 4)
                elif c < 102:
                    line, depth = f"{ind}return {w0}.{w1}({args})", max(depth - 1, 1)
                else:
                    line = f"{ind}{w0} = self.{w1}.get('{w2}', {c % 100})"
            else:
                if c < 20:
                    line, depth = f"\nfunction {w0}{w1.title()}({args}) {{", 1
                elif c < 77:
                    line, depth = f"{ind}if ({w0} && {w1}.length > {c % 10}) {{", min(depth + 1, 4)
                elif c < 102:
                    line, depth = f"{ind}return {w0}.{w1}({args});\n{'    ' * max(depth - 1, 0)}}}", max(
                        depth - 1, 1
                    )
                else:
                    line = f"{ind}const {w0} = {w1}['{w2}'] || {c % 100};"
            out.append(line)
            size += len(line) + 1
            if size >= n:
                break
    return _fit("\n".join(out).encode(), n)


def minified_js(r, n):
    ws = words(r, n // 6 + 8)
    parts = []
    for j in range(0, len(ws) - 3, 4):
        a = ws[j : j + 4]
        parts.append(
            f"function {a[0]}(e,t){{return e.{a[-1]}(t,{len(a[1])})}}var {a[1][:2]}={a[2][:3]}||{{}};"
        )
    return _fit("".join(parts).encode(), n)


def csv_table(r, n):
    """Comma-separated rows: an id, words and numbers (exports, reports, signed lists)."""
    cols = words(r, 6)
    out = [",".join(cols)]
    size = len(out[0])
    row = 1
    while size < n:
        count = max(16, (n - size) // 40)
        ws = words(r, 3 * count)
        nums = memoryview(r.randbytes(4 * count)).cast("I")
        lines = [
            f"{row + i},{ws[3 * i]},{v % 100000},{v % 997}.{v % 100:02d},{ws[3 * i + 1]},{ws[3 * i + 2]}"
            for i, v in enumerate(nums)
        ]
        row += count
        size += sum(map(len, lines)) + len(lines)
        out += lines
    return _fit("\n".join(out).encode(), n)


def symbol_map(r, n):
    """A kernel System.map: rising addresses, a symbol type letter, a name."""
    out = []
    size = 0
    addr = 0xFFFFFFFF81000000
    while size < n:
        count = max(16, (n - size) // 36)
        ws = words(r, 2 * count)
        nums = memoryview(r.randbytes(2 * count)).cast("H")
        lines = []
        for i, v in enumerate(nums):
            addr += 16 * (1 + (v & 63))
            lines.append(f"{addr:016x} {'TtDdBbRr'[v >> 13]} {ws[2 * i]}_{ws[2 * i + 1]}")
        size += sum(map(len, lines)) + len(lines)
        out += lines
    return _fit("\n".join(out).encode(), n)


def html(r, n):
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>' + " ".join(words(r, 4)) + "</title>",
        '<link rel="stylesheet" href="/static/site.css"></head><body>',
    ]
    size = 200
    while size < n:
        ws = words(r, 10 + r.randrange(30))
        c = r.random()
        if c < 0.15:
            line = f"<h2 id=\"{ws[0]}\">{' '.join(ws[:5]).title()}</h2>"
        elif c < 0.3:
            line = (
                "<ul>"
                + "".join(f'<li><a href="/{a}/{b}.html">{a} {b}</a></li>' for a, b in zip(ws[::2], ws[1::2]))
                + "</ul>"
            )
        else:
            line = f'<p class="{ws[0]}">{" ".join(ws[1:])}.</p>'
        out.append(line)
        size += len(line) + 1
    out.append("</body></html>")
    return _fit("\n".join(out).encode(), n)


def pem_certificate(r, name):
    import base64

    der = r.randbytes(700 + r.randrange(900))
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"# {name}\n-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n".encode()


# ---------------------------------------------------------------------------------------------
# Logs

_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
_DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()


def _utc(t):
    import time

    return time.gmtime(t)


def rfc2822(t):
    g = _utc(t)
    return (
        f"{_DAYS[g.tm_wday]}, {g.tm_mday:02d} {_MONTHS[g.tm_mon - 1]} {g.tm_year} "
        f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} +0000"
    )


def _syslog_stamp(t):
    g = _utc(t)
    return f"{_MONTHS[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"


def _iso_stamp(t):
    g = _utc(t)
    return f"{g.tm_year}-{g.tm_mon:02d}-{g.tm_mday:02d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"


def _clf_stamp(t):
    g = _utc(t)
    day = f"{g.tm_mday:02d}/{_MONTHS[g.tm_mon - 1]}/{g.tm_year}"
    return f"{day}:{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} +0000"


_SYSLOG_TEMPLATES = [
    ("CRON[{pid}]", "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)"),
    ("CRON[{pid}]", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"),
    ("CRON[{pid}]", "pam_unix(cron:session): session closed for user root"),
    ("systemd[1]", "Starting {w0}-{w1}.service - {W} {w2}..."),
    ("systemd[1]", "Finished {w0}-{w1}.service - {W} {w2}."),
    ("systemd[1]", "{w0}-{w1}.timer: Succeeded."),
    ("kernel", "[{k}] {w0}: {w1} {w2} at 0x{x} (irq {n})"),
    ("sshd[{pid}]", "Accepted publickey for admin from 10.{n}.{m}.{o} port {p} ssh2: ED25519 SHA256:{h}"),
    ("sshd[{pid}]", "Disconnected from user admin 10.{n}.{m}.{o} port {p}"),
    ("shop-api[{pid}]", "INFO request path=/api/{w0}/{n} status=200 duration_ms="),
    ("shop-api[{pid}]", "WARN slow query on {w0}.{w1} ({w2} {w3}) took ms="),
    ("postfix/qmgr[{pid}]", "{H}: from=<{w0}@example.org>, size={p}, nrcpt=1 (queue active)"),
    ("chronyd[{pid}]", "Selected source 192.168.{n}.{m} ({w0}.pool.ntp.org)"),
    ("rsyslogd[{pid}]", '[origin software="rsyslogd" swVersion="8.2302.0"] {w0} {w1}'),
]
_STYLE_TEMPLATES = {
    "syslog": range(len(_SYSLOG_TEMPLATES)),
    "kern": (6,),
    "auth": (1, 2, 7, 8),
    "app": (9, 9, 9, 10),
}


def _bodies(r, style, host, count=512):
    """Message bodies of one log: real logs repeat a few hundred messages with varying numbers."""
    pids = [100 + r.randrange(60000) for _ in range(24)]
    pool = words(r, 48)
    out = []
    for _ in range(count):
        if style == "access":
            ws = [pool[r.randrange(len(pool))] for _ in range(3)]
            ip = f"10.{r.randrange(4)}.{r.randrange(40)}.{r.randrange(256)}"
            req = (
                f"{r.choice(('GET', 'GET', 'GET', 'POST'))} /{ws[0]}/{ws[1]}?id={r.randrange(3000)} HTTP/1.1"
            )
            code = r.choice((200, 200, 200, 200, 304, 301, 404, 500))
            ua = (
                f"Mozilla/5.0 (X11; Linux x86_64; rv:{115 + r.randrange(4)}.0) Gecko/20100101 "
                f"Firefox/{115 + r.randrange(4)}.0"
            )
            out.append((f"{ip} - - [", f'] "{req}" {code} ', f' "https://shop.example.org/{ws[2]}" "{ua}"'))
        elif style == "dpkg":
            w = pool[r.randrange(len(pool))]
            v = f"{r.randrange(10)}.{r.randrange(20)}-{r.randrange(5)}"
            act = r.choice(
                (
                    "status unpacked",
                    "status half-configured",
                    "status installed",
                    "configure",
                    "status half-installed",
                    "upgrade",
                )
            )
            out.append(("", f" {act} {w}:amd64 {v} ", ""))
        else:
            proc, tpl = _SYSLOG_TEMPLATES[r.choice(_STYLE_TEMPLATES[style])]
            ws = [pool[r.randrange(len(pool))] for _ in range(4)]
            body = tpl.format(
                w0=ws[0],
                w1=ws[1],
                w2=ws[2],
                w3=ws[3],
                W=ws[3].title(),
                n=r.randrange(8),
                m=r.randrange(100),
                o=r.randrange(256),
                p=r.randrange(1024, 65536),
                x=f"{r.getrandbits(32):08x}",
                h=f"{r.getrandbits(64):016x}",
                H=f"{r.getrandbits(40):010X}",
                k="{k}",
            )
            out.append(
                (
                    "",
                    f" {host} {proc.format(pid=r.choice(pids))}: " + body.split("{k}")[0],
                    body.split("{k}")[1] if "{k}" in body else "",
                )
            )
    return out


def log_lines(r, n, t0, t1, style="syslog", host="srv01"):
    """About n bytes of log lines (whole lines) with timestamps rising from t0 to t1, in the
    format of rsyslog (syslog, auth, kern, app), nginx (access) or dpkg (dpkg)."""
    stamp_fn = {"access": _clf_stamp, "dpkg": _iso_stamp}.get(style, _syslog_stamp)
    avg = {"access": 200, "dpkg": 60}.get(style, 100)
    bodies = _bodies(r, style, host)
    count = max(1, n // avg)
    step = (t1 - t0) / count
    out = []
    size = 0
    i = 0
    last_t, stamp = None, ""
    while size < n:
        rnd = memoryview(r.randbytes(4 * count)).cast("I")
        for v in rnd:
            ti = int(t0 + min(i, count) * step)
            if ti != last_t:
                stamp, last_t = stamp_fn(ti), ti
            pre, mid, post = bodies[((v & 0xFFFF) * (v & 0xFFFF)) >> 23]
            if style == "kern":
                num = f"{ti - t0 + 5:>5}.{(v >> 12) % 1000000:06d}"
                line = stamp + mid + num + post
            elif style == "access":
                line = pre + stamp + mid + str(v >> 17) + post
            elif style == "dpkg" or not mid.endswith("="):
                line = stamp + mid + post
            else:
                line = stamp + mid + str(v >> 22) + post
            out.append(line)
            size += len(line) + 1
            i += 1
            if size >= n:
                break
    return ("\n".join(out) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# Binaries

# Byte frequencies of x86-64 code: a few opcodes and prefixes, ModRM bytes and small
# displacements dominate.
_HOT = bytes(
    [
        0x48,
        0x89,
        0x8B,
        0x00,
        0xFF,
        0xE8,
        0x0F,
        0x85,
        0x84,
        0x45,
        0x24,
        0x44,
        0xC7,
        0x83,
        0x31,
        0xC0,
        0x74,
        0x75,
        0x41,
        0x4C,
        0x8D,
        0x05,
        0x10,
        0x08,
        0x01,
        0x5D,
        0xC3,
        0x90,
        0x66,
        0x2E,
        0x39,
        0x3D,
    ]
)


def _skew_table():
    t = bytearray(256)
    for i in range(256):
        # 55% of the input values map to the 32 hot bytes, the rest stay as they are.
        t[i] = _HOT[i % len(_HOT)] if i < 141 else i
    return bytes(t)


_SKEW = _skew_table()


def _idioms():
    import random as _random

    rr = _random.Random("x86-idioms")
    return [rr.randbytes(3 + rr.randrange(14)).translate(_SKEW) for _ in range(1024)]


_IDIOMS = _idioms()


_POOL = []


def _code_pool():
    """4 MiB of idioms in Zipf order, made once per process; code() cuts windows from it."""
    if not _POOL:
        import random as _random

        rr = _random.Random("x86-code-pool")
        n = 4 << 20
        idx = memoryview(rr.randbytes(2 * (n // 7 + 2))).cast("H")
        # Zipf-ish choice of idioms: square the uniform index.
        _POOL.append(b"".join([_IDIOMS[(i * i) >> 23] for i in idx])[:n])
    return _POOL[0]


def code(r, n):
    """x86-64-like machine code: frequent idioms glued by skewed operand bytes."""
    if n <= 0:
        return b""
    pool = _code_pool()
    win = 4096
    offs = memoryview(r.randbytes(4 * (n // win + 1))).cast("I")
    buf = bytearray(b"".join([pool[o % (len(pool) - win) : o % (len(pool) - win) + win] for o in offs])[:n])
    # Operands (call targets, displacements): every 9th byte comes from the stream, so no two
    # files share more than 8 bytes in a row. Tuned so that gzip -6 compresses it 1.85x, as it
    # does the .text of Debian's python3.11.
    k = len(range(3, n, 9))
    buf[3::9] = r.randbytes(k).translate(_SKEW)
    return bytes(buf)


def _strtab(r, n, per_string=1):
    """NUL-terminated strings of per_string words: symbol names (.dynstr), messages (.rodata)."""
    ws = words(r, n // 6 + 8)
    ws[::per_string] = ["\0" + w for w in ws[::per_string]]
    return _fit((" " if per_string > 1 else "").join(ws).encode(), n)


def _table(r, n, template, random_bytes):
    """n bytes of fixed-size records: a template record repeated, with the byte positions in
    random_bytes drawn from the stream in every record (low bytes of offsets and sizes)."""
    size = len(template)
    count = n // size + 1
    buf = bytearray(template * count)
    for pos in random_bytes:
        buf[pos::size] = r.randbytes(count)
    return bytes(buf[:n])


def _symtab(r, n, base):
    # Elf64_Sym: st_name (I), st_info, st_other, st_shndx (H), st_value (Q), st_size (Q)
    return _table(r, n, struct.pack("<IBBHQQ", 0, 0x12, 0, 14, base, 0), (0, 1, 8, 9, 10, 16, 17))


def _relatab(r, n, base):
    # Elf64_Rela: r_offset (Q), r_info (Q: R_X86_64_RELATIVE), r_addend (q)
    return _table(r, n, struct.pack("<QQq", base, 8, base), (0, 1, 2, 16, 17, 18))


def elf(r, n, kind="exec"):
    """An ELF64 file of n bytes (at least 4 KiB): header, program headers, code, read-only
    strings, symbols, relocations, unwind tables, data, and the section header table."""
    n = max(n, 4096)
    etype = {"exec": 3, "lib": 3, "module": 1}[kind]  # PIE executables are ET_DYN too
    nsec = 30
    shoff = n - 64 * nsec
    segs = ((6, 64, 4 * 56), (3, 0x120, 28), (1, 0, n // 3), (1, n // 3, n // 2)) if kind != "module" else ()
    hdr = (
        b"\x7fELF\x02\x01\x01\x00"
        + b"\0" * 8
        + struct.pack(
            "<HHIQQQIHHHHHH",
            etype,
            62,
            1,
            0x1000 + r.randrange(0x10000),
            64 if segs else 0,
            shoff,
            0,
            64,
            56,
            len(segs),
            64,
            nsec,
            nsec - 1,
        )
    )
    phdrs = b"".join(struct.pack("<IIQQQQQQ", t, 5, o, o, o, s, s, 0x1000) for t, o, s in segs)
    head = (hdr + phdrs).ljust(0x120, b"\0") + (b"/lib64/ld-linux-x86-64.so.2\0" if segs else b"")
    head = head.ljust(0x400, b"\0")
    body = shoff - len(head)
    parts = [
        ("text", 0.50),
        ("rodata", 0.14),
        ("dynsym", 0.06),
        ("dynstr", 0.07),
        ("rela", 0.08),
        ("eh_frame", 0.08),
        ("data", 0.07),
    ]
    out = [head]
    offsets = []
    used = 0
    for i, (name, share) in enumerate(parts):
        size = body - used if i == len(parts) - 1 else int(body * share)
        offsets.append((len(head) + used, size))
        if name == "text":
            chunk = code(r, size)
        elif name == "rodata":
            chunk = _strtab(r, size, 6)
        elif name == "dynsym":
            chunk = _symtab(r, size, 0x1000)
        elif name == "dynstr":
            chunk = _strtab(r, size)
        elif name == "rela":
            chunk = _relatab(r, size, 0x200000)
        elif name == "eh_frame":
            chunk = _relatab(r, size, 0x3000)[: size // 2] + code(r, size - size // 2)
        else:
            chunk = r.randbytes(size).translate(_SKEW)
        out.append(chunk)
        used += len(chunk)
    # Section headers: a null one, the sections above, and small ones (notes, init, got...).
    sh = [bytes(64)]
    name = 1
    for i in range(1, nsec):
        off, size = (
            offsets[i % len(offsets)] if i <= len(offsets) else (len(head) + (i * 977) % max(1, body), 8 * i)
        )
        sh.append(
            struct.pack(
                "<IIQQQQIIQQ",
                name,
                (1, 3, 1, 1, 8)[i % 5],
                2 | (4 * (i % 2)),
                0x1000 + off,
                off,
                size,
                i % 7,
                0,
                8 if i % 3 else 1,
                24 if i % 5 == 2 else 0,
            )
        )
        name += 6 + i % 11
    out.append(b"".join(sh))
    return b"".join(out)[:n]


# ---------------------------------------------------------------------------------------------
# Compressed and media files


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
    import hashlib

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
