"""The day-1 tree: a Debian 12 server's root filesystem, scaled to the image size.

plan_tree(seed, image_bytes) returns a Tree: directories, symlinks, and generation tasks for
every file (a task makes one file, or a whole package: its files, its dpkg .list and .md5sums,
and for some a .deb in the apt cache). Tasks are plain data, so they run in worker processes;
run_task() writes the files under a host directory and returns what it wrote.

What is in it, as shares of the image (about half of the disk; the rest is never written):
  /usr, /etc, /var/lib/dpkg   Debian packages: ELF executables and libraries, Python modules,
                             man pages and changelogs (gzip -9n), copyright files (the same
                             license texts in many packages, as in Debian), gettext catalogs,
                             icons, dpkg's status and per-package .list/.md5sums      ~20%
  /boot, /usr/lib/modules    a kernel, an initrd (compressed), System.map, modules    ~7%
  /var/lib/shop/shop.db      an SQLite database of a web shop (built by sqlite3)      ~15%
  /var/lib/apt, /var/cache   package lists, apt's binary caches, downloaded .debs      ~3%
  /var/log                   rsyslog, nginx, dpkg and apt logs, rotated and gzipped    ~2.5%
  /home, /srv, /opt          documents, photos, a tar.gz backup, a web site, a Node.js app
                             with its node_modules (thousands of small files)         ~5%
  /swapfile                  allocated with fallocate (unwritten: zeros), a swap header ~4%
"""
import dataclasses
import hashlib
import os

from . import content as C
from .rng import lognormal, name as rname, rng

T0 = 1732410000  # 2024-11-24 01:00:00 UTC: the day-1 snapshot
DAY = 86400
KERNEL = "6.1.0-27-amd64"

# Shares of the image (bytes written); tuned so that day 1 fills about 50% of the disk.
BUDGET = {
    "packages": 0.17,
    "modules": 0.040,
    "db": 0.14,
    "apt_lists": 0.012,
    "apt_cache_bin": 0.004,
    "debs": 0.005,
    "logs_per_day": 0.003,  # one day of syslog + nginx + auth + kern lines
    "home_photos": 0.012,
    "home_docs": 0.004,
    "home_backup": 0.004,
    "node_modules": 0.012,
    "www": 0.004,
    "uploads": 0.008,
    "swap": 0.04,
}


@dataclasses.dataclass
class PkgFile:
    path: str
    gen: str
    size: int
    mode: int = 0o644
    stable: bool = False  # same bytes in the next version (docs, data): dpkg rewrites them anyway


@dataclasses.dataclass
class Package:
    name: str
    kind: str
    version: str
    files: list
    symlinks: list
    license: str
    mtime: int
    history: list  # older versions, newest first (for the changelog)

    def installed_size(self):
        return sum(f.size for f in self.files)


@dataclasses.dataclass
class Tree:
    dirs: list  # (path, mode, uid)
    symlinks: list  # (path, target)
    tasks: list  # picklable task tuples for run_task
    packages: dict  # name -> Package
    logs: dict  # path -> style of the live (appended) logs
    swap_path: str
    swap_bytes: int
    db_path: str
    db_bytes: int


# ---------------------------------------------------------------------------------------------
# Generators by name: fn(r, size, **params) -> bytes


def _man_gz(r, size, **_):
    text = b".TH " + C.words(r, 1)[0].upper().encode() + b" 1\n.SH NAME\n" + C.prose(r, size * 3)
    return C.gzip_n(text, 9)


def _changelog_gz(r, size, pkg="", versions=(), **_):
    return C.gzip_n(C.changelog(r, pkg, versions, T0 - 30 * DAY), 9)


def _copyright(r, size, pkg="", license="MIT", **_):
    return C.copyright_file(r, pkg, license)


def _log(r, size, style="syslog", t0=0, t1=0, **_):
    return C.log_lines(r, size, t0, t1, style)


def _log_gz(r, size, style="syslog", t0=0, t1=0, **_):
    return C.gzip_n(C.log_lines(r, size, t0, t1, style), 6)


def _tar_gz(r, size, **_):
    members = []
    total = 0
    i = 0
    while total < size:
        n = lognormal(r, 30000, 1.0, 200, 400000)
        kind = r.random()
        data = C.csv_table(r, n) if kind < 0.3 else C.source_code(r, n) if kind < 0.6 else C.prose(r, n)
        members.append((f"shop/{'/'.join(C.words(r, 2))}-{i}.txt", data))
        total += n
        i += 1
    return C.gzip_n(C.tar(members, T0 - 2 * DAY), 6)


def _pdf(r, size, **_):
    out = [b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"]
    n = len(out[0])
    obj = 1
    while n < size:
        stream = C.gzip_n(C.prose(r, lognormal(r, 40000, 0.8, 2000, 300000)), 6)[10:-8]
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
    ws = C.words(r, size // 8 + 8)
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
        ws = C.words(r, 14)
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
    recs = C._symtab(r, size * 6 // 10, 0x40)
    pool = C.prose(r, size - len(head) - len(recs), width=3).replace(b"\n", b"\0")
    return head + recs + pool


def _zoneinfo(r, size, **_):
    return b"TZif2" + b"\0" * 15 + C._relatab(r, size - 40, 0)[: size - 40] + b"\nUTC0\n"


def _swap_header(r, size, pages=0, **_):
    hdr = bytearray(4096)
    hdr[1024 : 1024 + 12] = (
        (1).to_bytes(4, "little") + (pages - 1).to_bytes(4, "little") + (0).to_bytes(4, "little")
    )
    hdr[1036:1052] = r.randbytes(16)  # uuid
    hdr[4086:4096] = b"SWAPSPACE2"
    return bytes(hdr)


GENERATORS = {
    "elf_exec": lambda r, n, **_: C.elf(r, n, "exec"),
    "elf_lib": lambda r, n, **_: C.elf(r, n, "lib"),
    "elf_module": lambda r, n, **_: C.elf(r, n, "module"),
    "prose": lambda r, n, **_: C.prose(r, n),
    "config": lambda r, n, **_: C.config(r, n),
    "shell": lambda r, n, **_: C.shell_script(r, n),
    "py": lambda r, n, **_: C.source_code(r, n, "py"),
    "js": lambda r, n, **_: C.source_code(r, n, "js"),
    "minjs": lambda r, n, **_: C.minified_js(r, n),
    "csv": lambda r, n, **_: C.csv_table(r, n),
    "html": lambda r, n, **_: C.html(r, n),
    "json": _json,
    "mo": lambda r, n, **_: C.mo_catalog(r, n),
    "png": lambda r, n, **_: C.png(r, max(8, int((n / 3) ** 0.5)), max(8, int((n / 3) ** 0.5))),
    "jpeg": lambda r, n, **_: C.jpeg(r, n),
    "random": lambda r, n, **_: C.random_bytes(r, n),
    "pem": lambda r, n, **_: C.pem_certificate(r, C.words(r, 1)[0]),
    "license": lambda r, n, license="MIT", **_: C.license_text(license),
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
    "gz_text": lambda r, n, **_: C.gzip_n(C.prose(r, n * 3), 6),
    "symbol_map": lambda r, n, **_: C.symbol_map(r, n),
    "xz_elf": lambda r, n, **_: C.xz(C.elf(r, n * 2, "exec"), 0),
}


def generate(seed, gen, size, key, params):
    return GENERATORS[gen](rng(seed, key), size, **params)


# ---------------------------------------------------------------------------------------------
# Packages


def version_string(r):
    return f"{r.randrange(12)}.{r.randrange(40)}.{r.randrange(12)}-{1 + r.randrange(4)}"


def bump(version, serial):
    up, _, deb = version.rpartition("-")
    return f"{up}-{deb}+deb12u{serial}"


def make_package(r, nm, kind, scale_cap):
    """A package of one of five kinds, with the files such a package installs."""
    files = []
    links = []
    cap = scale_cap

    def add(path, gen, size, mode=0o644, stable=False):
        files.append(PkgFile(path, gen, max(1, min(cap, size)), mode, stable))

    if kind == "lib":
        major = 1 + r.randrange(5)
        so = f"/usr/lib/x86_64-linux-gnu/lib{nm}.so.{major}.{r.randrange(20)}.{r.randrange(9)}"
        add(so, "elf_lib", lognormal(r, 180_000, 1.3, 8_000, 12_000_000))
        links.append((f"/usr/lib/x86_64-linux-gnu/lib{nm}.so.{major}", os.path.basename(so)))
        if r.random() < 0.3:
            for lang in r.sample(
                ["de", "fr", "es", "it", "pt_BR", "ja", "zh_CN", "ru", "pl", "nl", "sv", "cs"],
                3 + r.randrange(8),
            ):
                add(
                    f"/usr/share/locale/{lang}/LC_MESSAGES/lib{nm}.mo",
                    "mo",
                    lognormal(r, 20_000, 0.8, 1_000, 300_000),
                    stable=True,
                )
    elif kind == "tool":
        for i in range(1 + r.randrange(4)):
            b = nm if i == 0 else f"{nm}-{rname(r, (1, 2))}"
            add(f"/usr/bin/{b}", "elf_exec", lognormal(r, 60_000, 1.2, 4_000, 8_000_000), 0o755)
            add(
                f"/usr/share/man/man1/{b}.1.gz",
                "man_gz",
                lognormal(r, 2_500, 0.8, 300, 60_000),
                stable=r.random() < 0.7,
            )
    elif kind == "daemon":
        add(f"/usr/sbin/{nm}d", "elf_exec", lognormal(r, 300_000, 1.0, 20_000, 6_000_000), 0o755)
        add(f"/usr/share/man/man8/{nm}d.8.gz", "man_gz", lognormal(r, 4_000, 0.6, 500, 40_000), stable=True)
        add(
            f"/usr/lib/systemd/system/{nm}.service", "config", lognormal(r, 500, 0.4, 200, 2_000), stable=True
        )
        for j in range(1 + r.randrange(6)):
            add(
                f"/usr/share/{nm}/{C.words(r, 1)[0]}{j}.{r.choice(['json', 'html', 'txt'])}",
                r.choice(["json", "html", "prose"]),
                lognormal(r, 8_000, 1.2, 200, 400_000),
                stable=r.random() < 0.5,
            )
    elif kind == "python":
        base = f"/usr/lib/python3/dist-packages/{nm}"
        add(f"{base}/__init__.py", "py", lognormal(r, 1_500, 1.0, 50, 20_000))
        for j in range(2 + r.randrange(30)):
            add(
                f"{base}/{C.words(r, 1)[0]}_{j}.py",
                "py",
                lognormal(r, 9_000, 1.1, 200, 200_000),
                stable=r.random() < 0.6,
            )
    else:  # data
        base = f"/usr/share/{nm}"
        for j in range(3 + r.randrange(25)):
            g = r.choice(
                [
                    "png",
                    "png",
                    "png",
                    "json",
                    "json",
                    "mo",
                    "mo",
                    "prose",
                    "prose",
                    "random",
                    "random",
                    "random",
                    "gz_text",
                ]
            )
            size = {
                "png": lognormal(r, 6_000, 1.0, 200, 200_000),
                "random": lognormal(r, 120_000, 1.4, 1_000, 6_000_000),
            }.get(g, lognormal(r, 15_000, 1.2, 200, 2_000_000))
            ext = {
                "png": "png",
                "json": "json",
                "mo": "mo",
                "prose": "txt",
                "random": "dat",
                "gz_text": "txt.gz",
            }[g]
            add(f"{base}/{C.words(r, 1)[0]}-{j}.{ext}", g, size, stable=r.random() < 0.7)
    doc = f"/usr/share/doc/{'lib' if kind == 'lib' else ''}{nm}"
    add(f"{doc}/copyright", "copyright", 0, stable=True)
    add(f"{doc}/changelog.Debian.gz", "changelog_gz", 0)
    version = version_string(r)
    return Package(
        nm if kind != "lib" else f"lib{nm}{r.randrange(1, 4)}",
        kind,
        version,
        files,
        links,
        r.choice(C.LICENSES),
        T0 - DAY * (30 + r.randrange(600)),
        [],
    )


def package_file_key(pkg, f):
    return ("pkg", pkg.name, "stable" if f.stable else pkg.version, f.path)


def render_package(seed, pkg):
    """The files of one version of a package: (path, bytes, mode) including dpkg's info files."""
    out = []
    for f in pkg.files:
        params = {}
        if f.gen == "copyright":
            params = {"pkg": pkg.name, "license": pkg.license}
        elif f.gen == "changelog_gz":
            params = {"pkg": pkg.name, "versions": [pkg.version] + pkg.history}
        out.append((f.path, generate(seed, f.gen, f.size, package_file_key(pkg, f), params), f.mode))
    info = f"/var/lib/dpkg/info/{pkg.name}:amd64" if pkg.kind == "lib" else f"/var/lib/dpkg/info/{pkg.name}"
    dirs = sorted({os.path.dirname(p) for p, _, _ in out})
    listing = (
        "".join(d + "\n" for d in dirs)
        + "".join(p + "\n" for p, _, _ in out)
        + "".join(l + "\n" for l, _ in pkg.symlinks)
    )
    md5s = "".join(f"{hashlib.md5(d).hexdigest()}  {p[1:]}\n" for p, d, _ in out)
    out.append((info + ".list", listing.encode(), 0o644))
    out.append((info + ".md5sums", md5s.encode(), 0o644))
    if pkg.kind == "daemon":
        out.append(
            (
                info + ".postinst",
                generate(seed, "shell", 1500, ("pkg", pkg.name, pkg.version, "postinst"), {}),
                0o755,
            )
        )
    return out


def deb_path(pkg):
    return f"/var/cache/apt/archives/{pkg.name}_{pkg.version.replace(':', '%3a')}_amd64.deb"


def render_deb(seed, pkg, rendered):
    members = [(p, d) for p, d, _ in rendered if not p.startswith("/var/lib/dpkg/")]
    return C.deb(rng(seed, "deb", pkg.name, pkg.version), pkg.name, pkg.version, members, pkg.mtime)


def dpkg_status(seed, packages):
    out = []
    for p in packages.values():
        r = rng(seed, "status", p.name)
        ws = C.words(r, 30)
        out.append(
            f"Package: {p.name}\nStatus: install ok installed\nPriority: optional\nSection: {p.kind}\n"
            f"Installed-Size: {max(1, p.installed_size() // 1024)}\nMaintainer: Debian {ws[0].title()} Team "
            f"<pkg-{ws[0]}@lists.debian.org>\nArchitecture: amd64\nVersion: {p.version}\n"
            f"Depends: libc6 (>= 2.36), lib{ws[1]}{len(ws[2]) % 4}\nDescription: {' '.join(ws[3:10])}\n"
            f" {' '.join(ws[10:])}\n\n"
        )
    return "".join(out).encode()


# ---------------------------------------------------------------------------------------------
# The tree


def plan_tree(seed, image_bytes):
    S = image_bytes
    r = rng(seed, "tree")
    tasks = []
    dirs = []
    links = []
    logs = {}
    cap = max(64 * 1024, S // 60)  # no single file over ~1.7% of the image

    def file(path, gen, size, mtime, mode=0o644, uid=0, key=None, **params):
        tasks.append(("file", path, gen, int(size), key or ("file", path), mtime, mode, uid, params))

    links += [("/bin", "usr/bin"), ("/sbin", "usr/sbin"), ("/lib", "usr/lib"), ("/lib64", "usr/lib64")]
    for d in (
        "/dev",
        "/proc",
        "/sys",
        "/run",
        "/mnt",
        "/media",
        "/srv/data",
        "/tmp",
        "/var/tmp",
        "/home/admin/Downloads",
        "/var/lib/shop/uploads",
        "/usr/lib64",
        "/var/spool/cron/crontabs",
        "/var/lib/systemd/timers",
        "/var/log/apt",
        "/var/log/nginx",
        "/var/backups",
    ):
        dirs.append((d, 0o1777 if d.endswith("tmp") else 0o755, 1000 if d.startswith("/home/admin") else 0))
    links.append(("/usr/lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"))

    # Packages (essential ones first: libc, coreutils-like, python).
    packages = {}
    budget = BUDGET["packages"] * S
    used = 0
    kinds = ["lib"] * 35 + ["tool"] * 30 + ["daemon"] * 8 + ["python"] * 15 + ["data"] * 12
    while used < budget:
        nm = rname(r)
        kind = r.choice(kinds)
        p = make_package(rng(seed, "package", nm, kind), nm, kind, cap)
        if p.name in packages:
            continue
        if used + p.installed_size() > budget * 1.05 and used > 0:
            continue
        packages[p.name] = p
        used += p.installed_size()
    # Paths must be unique across packages: drop later duplicates.
    seen = set()
    for p in packages.values():
        p.files = [f for f in p.files if f.path not in seen and not seen.add(f.path)]
    cached = set(sorted(packages)[:: max(1, int(round(BUDGET["packages"] / BUDGET["debs"] / 2.2)))])
    for p in packages.values():
        tasks.append(("package", p, p.name in cached))
        for l, t in p.symlinks:
            links.append((l, t))
    tasks.append(
        (
            "file",
            "/var/lib/dpkg/status",
            "literal",
            0,
            None,
            T0 - 3 * DAY,
            0o644,
            0,
            {"data": dpkg_status(seed, packages)},
        )
    )
    tasks.append(
        (
            "file",
            "/var/lib/dpkg/status-old",
            "literal",
            0,
            None,
            T0 - 3 * DAY,
            0o644,
            0,
            {"data": dpkg_status(seed + 1, packages)},
        )
    )

    # Kernel.
    kt = T0 - 40 * DAY
    file(f"/boot/vmlinuz-{KERNEL}", "random", min(8_000_000, S * 0.008), kt)
    file(f"/boot/initrd.img-{KERNEL}", "random", min(32_000_000, S * 0.022), T0 - 39 * DAY)
    file(f"/boot/System.map-{KERNEL}", "symbol_map", min(4_500_000, S * 0.004), kt)
    file(f"/boot/config-{KERNEL}", "config", 260_000, kt)
    links += [("/vmlinuz", f"boot/vmlinuz-{KERNEL}"), ("/initrd.img", f"boot/initrd.img-{KERNEL}")]
    mods = f"/usr/lib/modules/{KERNEL}"
    used = 0
    subs = [
        "drivers/net/ethernet",
        "drivers/scsi",
        "drivers/gpu/drm",
        "drivers/usb",
        "fs",
        "net/netfilter",
        "sound/pci",
        "drivers/md",
        "crypto",
        "drivers/hid",
        "net/wireless",
        "drivers/infiniband",
    ]
    i = 0
    while used < BUDGET["modules"] * S:
        size = lognormal(r, 25_000, 1.0, 3_000, min(cap, 2_000_000))
        file(f"{mods}/kernel/{subs[i % len(subs)]}/{rname(r)}{i}.ko", "elf_module", size, kt)
        used += size
        i += 1
    for f in ("modules.dep", "modules.alias", "modules.symbols"):
        file(f"{mods}/{f}", "symbol_map", min(400_000, S * 0.0004), kt)

    # Small system files.
    for i in range(60 + int(S / 2**30 * 200)):
        d = r.choice(
            ["", "ssh/", "default/", "apt/", "systemd/", "security/", "pam.d/", "nginx/", "shop/", "cron.d/"]
        )
        file(
            f"/etc/{d}{C.words(r, 1)[0]}-{i}.conf",
            "config",
            lognormal(r, 1_500, 1.0, 60, 40_000),
            T0 - DAY * r.randrange(400),
        )
    for f, n in (
        ("passwd", 1800),
        ("group", 900),
        ("shadow", 1100),
        ("hosts", 220),
        ("fstab", 600),
        ("hostname", 6),
        ("nginx/nginx.conf", 1500),
        ("shop/app.conf", 3000),
        ("ssh/sshd_config", 3300),
        ("apt/sources.list", 300),
    ):
        file(f"/etc/{f}", "config", n, T0 - 100 * DAY, 0o640 if f == "shadow" else 0o644)
    file(
        "/etc/machine-id",
        "literal",
        0,
        T0 - 300 * DAY,
        data=(f"{rng(seed, 'mid').getrandbits(128):032x}\n").encode(),
    )
    for i in range(60 + int(S / 2**30 * 80)):
        file(
            f"/usr/share/ca-certificates/mozilla/{C.words(r, 1)[0].title()}_Root_CA_{i}.crt",
            "pem",
            0,
            T0 - 200 * DAY,
        )
    for i in range(100 + int(S / 2**30 * 500)):
        area = r.choice(["Europe", "America", "Asia", "Africa", "Australia", "Pacific"])
        file(
            f"/usr/share/zoneinfo/{area}/{rname(r, (2, 3)).title()}{i}",
            "zoneinfo",
            lognormal(r, 1_500, 0.6, 200, 6_000),
            T0 - 300 * DAY,
        )
    links.append(("/etc/localtime", "/usr/share/zoneinfo/Etc/UTC"))
    file("/usr/share/zoneinfo/Etc/UTC", "zoneinfo", 114, T0 - 300 * DAY)
    file("/var/lib/systemd/random-seed", "random", 512, T0 - 3600, 0o600)
    file("/etc/ssh/ssh_host_ed25519_key", "pem", 0, T0 - 300 * DAY, 0o600)

    # apt: lists, binary caches, downloaded packages.
    lists = "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm"
    lt = T0 - 20 * DAY
    file(f"{lists}_main_binary-amd64_Packages", "pkg_stanzas", BUDGET["apt_lists"] * S * 0.85, lt)
    file(
        f"{lists}-updates_main_binary-amd64_Packages",
        "pkg_stanzas",
        BUDGET["apt_lists"] * S * 0.05,
        T0 - 2 * DAY,
    )
    file(
        "/var/lib/apt/lists/security.debian.org_debian-security_dists_bookworm-security"
        "_main_binary-amd64_Packages",
        "pkg_stanzas",
        BUDGET["apt_lists"] * S * 0.10,
        T0 - 19 * 3600,
    )
    for l in ("bookworm_InRelease", "bookworm-updates_InRelease"):
        file(f"/var/lib/apt/lists/deb.debian.org_debian_dists_{l}", "csv", min(150_000, S * 0.00015), lt)
    file(
        "/var/lib/apt/lists/security.debian.org_debian-security_dists_bookworm-security_InRelease",
        "csv",
        min(50_000, S * 0.00005),
        T0 - 19 * 3600,
    )
    file("/var/cache/apt/pkgcache.bin", "apt_cache_bin", BUDGET["apt_cache_bin"] * S * 0.6, T0 - 19 * 3600)
    file("/var/cache/apt/srcpkgcache.bin", "apt_cache_bin", BUDGET["apt_cache_bin"] * S * 0.4, T0 - 19 * 3600)

    # Logs: live files appended to every day, and the rotated ones (gzip -6 as logrotate does).
    L = BUDGET["logs_per_day"] * S
    shares = {
        "syslog": 0.30,
        "nginx/access.log": 0.50,
        "auth.log": 0.08,
        "kern.log": 0.06,
        "shop/api.log": 0.06,
    }
    styles = {
        "syslog": "syslog",
        "nginx/access.log": "access",
        "auth.log": "auth",
        "kern.log": "kern",
        "shop/api.log": "app",
    }
    for lg, share in shares.items():
        per_day = L * share
        weekly = lg in ("auth.log", "kern.log")
        period = 7 if weekly else 1
        st = styles[lg]
        midnight = T0 - 3600
        age = 4 if weekly else 1  # hours into the current file (weekly logs: 4 days in)
        start = midnight - (age - 1) * DAY if weekly else midnight
        file(
            f"/var/log/{lg}",
            "log",
            per_day * (T0 - start) / DAY,
            T0,
            0o640,
            key=("log", lg, 0),
            style=st,
            t0=start,
            t1=T0,
        )
        logs[f"/var/log/{lg}"] = st
        end = start
        keep = 4 if weekly else (14 if "nginx" in lg else 7)
        for k in range(1, keep + 1):
            beg = end - period * DAY
            g = "log" if k == 1 else "log_gz"
            nm = f"/var/log/{lg}.{k}" + ("" if k == 1 else ".gz")
            file(nm, g, per_day * period, end, 0o640, key=("log", lg, k), style=st, t0=beg, t1=end)
            end = beg
    file(
        "/var/log/dpkg.log",
        "log",
        min(600_000, S * 0.0006),
        T0 - 3 * DAY,
        style="dpkg",
        t0=T0 - 30 * DAY,
        t1=T0 - 3 * DAY,
    )
    file(
        "/var/log/apt/history.log",
        "log",
        min(100_000, S * 0.0001),
        T0 - 3 * DAY,
        style="dpkg",
        t0=T0 - 30 * DAY,
        t1=T0 - 3 * DAY,
    )
    file(
        "/var/log/apt/term.log",
        "log",
        min(200_000, S * 0.0002),
        T0 - 3 * DAY,
        style="dpkg",
        t0=T0 - 30 * DAY,
        t1=T0 - 3 * DAY,
    )
    file("/var/log/wtmp", "random", 384 * (20 + int(S / 2**30 * 300)), T0 - 5 * 3600, 0o664)
    file("/var/backups/dpkg.status.0", "literal", 0, T0 - DAY, data=dpkg_status(seed + 1, packages))
    file("/var/lib/logrotate/status", "csv", 3_000, T0 - 3600)

    # Home: documents, photos, a backup tarball, shell history.
    used = 0
    i = 0
    while used < BUDGET["home_docs"] * S:
        g, ext = r.choice(
            [("prose", "md"), ("csv", "csv"), ("pdf", "pdf"), ("prose", "txt"), ("html", "html")]
        )
        size = lognormal(r, 30_000, 1.2, 500, min(cap, 3_000_000))
        file(
            f"/home/admin/Documents/{'-'.join(C.words(r, 2))}-{i}.{ext}",
            g,
            size,
            T0 - DAY * r.randrange(300),
            uid=1000,
        )
        used += size
        i += 1
    used = 0
    i = 0
    while used < BUDGET["home_photos"] * S:
        size = lognormal(r, 2_500_000, 0.4, 300_000, min(cap, 8_000_000))
        file(
            f"/home/admin/Pictures/2024/IMG_{2000 + i:05d}.jpg",
            "jpeg",
            size,
            T0 - DAY * r.randrange(300),
            uid=1000,
        )
        used += size
        i += 1
    file(
        "/home/admin/backups/shop-2024-11-20.tar.gz",
        "tar_gz",
        BUDGET["home_backup"] * S * 2.5,
        T0 - 4 * DAY,
        uid=1000,
    )
    file("/home/admin/.bash_history", "shell", 12_000, T0 - 7200, 0o600, uid=1000)
    file("/home/admin/.ssh/authorized_keys", "pem", 0, T0 - 200 * DAY, 0o600, uid=1000)
    file("/root/.bash_history", "shell", 6_000, T0 - DAY, 0o600)

    # /opt/shop: a Node.js application and its node_modules; /srv/www: the static site.
    rel = "/opt/shop/releases/2024.11.23"
    used = 0
    i = 0
    while used < BUDGET["node_modules"] * S:
        mod = f"{rel}/node_modules/{rname(r)}{i}"
        t = T0 - DAY * r.randrange(100)
        parts = [
            ("package.json", "json", lognormal(r, 1_200, 0.5, 300, 5_000)),
            ("README.md", "prose", lognormal(r, 4_000, 1.0, 200, 60_000)),
            ("index.js", "js", lognormal(r, 2_000, 1.0, 100, 40_000)),
        ]
        parts += [
            (f"lib/{C.words(r, 1)[0]}{j}.js", "js", lognormal(r, 6_000, 1.1, 100, 200_000))
            for j in range(r.randrange(8))
        ]
        if r.random() < 0.3:
            parts.append(
                (f"dist/{rname(r, (1, 2))}.min.js", "minjs", lognormal(r, 40_000, 1.0, 1_000, 700_000))
            )
        for fn, g, size in parts:
            file(f"{mod}/{fn}", g, size, t, uid=1000)
            used += size
        file(f"{mod}/LICENSE", "license", 0, t, uid=1000, license="MIT")
        i += 1
    for j in range(max(3, int(S / 2**30 * 50))):
        file(
            f"{rel}/app/{C.words(r, 1)[0]}_{j}.js",
            "js",
            lognormal(r, 8_000, 1.0, 200, 100_000),
            T0 - 2 * DAY,
            uid=1000,
        )
    links.append(("/opt/shop/current", "releases/2024.11.23"))
    used = 0
    i = 0
    while used < BUDGET["www"] * S:
        g, ext = r.choice(
            [("html", "html"), ("html", "html"), ("png", "png"), ("jpeg", "jpg"), ("minjs", "css")]
        )
        size = lognormal(r, 15_000 if g != "jpeg" else 150_000, 1.0, 300, 1_000_000)
        file(
            f"/srv/www/html/{C.words(r, 1)[0]}/{C.words(r, 1)[0]}-{i}.{ext}",
            g,
            size,
            T0 - DAY * r.randrange(200),
        )
        used += size
        i += 1
    used = 0
    i = 0
    while used < BUDGET["uploads"] * S:
        size = lognormal(r, 250_000, 0.8, 20_000, 3_000_000)
        file(
            f"/var/lib/shop/uploads/2024/{1 + i % 11:02d}/{r.getrandbits(48):012x}.jpg",
            "jpeg",
            size,
            T0 - DAY * (300 - i % 300),
            0o644,
            33,
        )
        used += size
        i += 1

    # The swap file: a header page written by mkswap, the rest allocated but never written.
    swap_bytes = int(BUDGET["swap"] * S) // 4096 * 4096
    file("/swapfile", "swap_header", 4096, T0 - 300 * DAY, 0o600, pages=swap_bytes // 4096)

    return Tree(
        dirs=dirs,
        symlinks=links,
        tasks=tasks,
        packages=packages,
        logs=logs,
        swap_path="/swapfile",
        swap_bytes=swap_bytes,
        db_path="/var/lib/shop/shop.db",
        db_bytes=int(BUDGET["db"] * S),
    )


def dir_owner(path):
    """The uid (= gid) owning a directory of the tree."""
    for prefix, uid in (("/home/admin", 1000), ("/opt/shop", 1000), ("/var/lib/shop/uploads", 33)):
        if path == prefix or path.startswith(prefix + "/"):
            return uid
    return 0


# ---------------------------------------------------------------------------------------------
# Running tasks (in worker processes)


def _write(root, path, data, mode, mtime):
    host = root + path
    os.makedirs(os.path.dirname(host), exist_ok=True)
    with open(host, "wb") as f:
        f.write(data)
    os.chmod(host, mode)
    os.utime(host, (mtime, mtime))
    return host


def run_task(seed, root, task):
    """Writes the files of one task under root; returns [(path, size, sha256hex, mode, mtime, uid)]."""
    out = []
    if task[0] == "package":
        _, pkg, with_deb = task
        rendered = render_package(seed, pkg)
        for path, data, mode in rendered:
            _write(root, path, data, mode, pkg.mtime)
            out.append((path, len(data), hashlib.sha256(data).hexdigest(), mode, pkg.mtime, 0))
        if with_deb:
            data = render_deb(seed, pkg, rendered)
            path = deb_path(pkg)
            _write(root, path, data, 0o644, pkg.mtime + DAY)
            out.append((path, len(data), hashlib.sha256(data).hexdigest(), 0o644, pkg.mtime + DAY, 0))
        return out
    _, path, gen, size, key, mtime, mode, uid, params = task
    data = params["data"] if gen == "literal" else generate(seed, gen, size, key, params)
    _write(root, path, data, mode, mtime)
    return [(path, len(data), hashlib.sha256(data).hexdigest(), mode, mtime, uid)]
