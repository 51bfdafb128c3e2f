"""Text of real shapes, generated from a seed: a Zipf-weighted vocabulary (common English and
system words first, then generated ones), so text compresses about 3x as real text does; prose,
configuration files, shell scripts, Python and JavaScript source, CSV, HTML, PEM certificates,
the copyright files and changelogs of Debian packages (the same license texts everywhere).

Every generator takes a random.Random seeded by the caller and returns bytes (the size asked
for, unless it says otherwise); the same seed gives the same bytes.
"""
import base64
import random
import time

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
        body = prose(random.Random("license:" + name), 1500 + 9000 * (name.startswith("GPL")))
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
    der = r.randbytes(700 + r.randrange(900))
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"# {name}\n-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n".encode()


_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


_DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()


def _utc(t):
    return time.gmtime(t)


def rfc2822(t):
    g = _utc(t)
    return (
        f"{_DAYS[g.tm_wday]}, {g.tm_mday:02d} {_MONTHS[g.tm_mon - 1]} {g.tm_year} "
        f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} +0000"
    )
