"""ELF files (executables, libraries, kernel modules) of real shape: a real ELF header and
program headers, machine code with x86-64's byte statistics and repeated idioms, NUL-terminated
strings, symbol and relocation tables, unwind data, and a section header table. gzip -6
compresses the code 1.85x and whole files 2.0x, as it does Debian's binaries.
"""
import random
import struct

from .text import _fit, words

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
    rr = random.Random("x86-idioms")
    return [rr.randbytes(3 + rr.randrange(14)).translate(_SKEW) for _ in range(1024)]


_IDIOMS = _idioms()


_POOL = []


def _code_pool():
    """4 MiB of idioms in Zipf order, made once per process; code() cuts windows from it."""
    if not _POOL:
        rr = random.Random("x86-code-pool")
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


def symbol_table(r, n, base):
    # Elf64_Sym: st_name (I), st_info, st_other, st_shndx (H), st_value (Q), st_size (Q)
    return _table(r, n, struct.pack("<IBBHQQ", 0, 0x12, 0, 14, base, 0), (0, 1, 8, 9, 10, 16, 17))


def rela_table(r, n, base):
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
            chunk = symbol_table(r, size, 0x1000)
        elif name == "dynstr":
            chunk = _strtab(r, size)
        elif name == "rela":
            chunk = rela_table(r, size, 0x200000)
        elif name == "eh_frame":
            chunk = rela_table(r, size, 0x3000)[: size // 2] + code(r, size - size // 2)
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
