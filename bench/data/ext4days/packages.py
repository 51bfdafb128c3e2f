"""Debian packages: what a package of each kind installs, the bytes of one version of it
(its files, dpkg's .list and .md5sums with the real MD5s), its .deb, and dpkg's status file.
An upgrade (activity.py) bumps the version: the files not marked stable get new bytes.
"""
import dataclasses
import hashlib
import os

from . import media, text
from .clock import DAY, T0
from .generators import generate
from .rng import lognormal, name as rname, rng


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
                f"/usr/share/{nm}/{text.words(r, 1)[0]}{j}.{r.choice(['json', 'html', 'txt'])}",
                r.choice(["json", "html", "prose"]),
                lognormal(r, 8_000, 1.2, 200, 400_000),
                stable=r.random() < 0.5,
            )
    elif kind == "python":
        base = f"/usr/lib/python3/dist-packages/{nm}"
        add(f"{base}/__init__.py", "py", lognormal(r, 1_500, 1.0, 50, 20_000))
        for j in range(2 + r.randrange(30)):
            add(
                f"{base}/{text.words(r, 1)[0]}_{j}.py",
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
            add(f"{base}/{text.words(r, 1)[0]}-{j}.{ext}", g, size, stable=r.random() < 0.7)
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
        r.choice(text.LICENSES),
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
    return media.deb(rng(seed, "deb", pkg.name, pkg.version), pkg.name, pkg.version, members, pkg.mtime)


def dpkg_status(seed, packages):
    out = []
    for p in packages.values():
        r = rng(seed, "status", p.name)
        ws = text.words(r, 30)
        out.append(
            f"Package: {p.name}\nStatus: install ok installed\nPriority: optional\nSection: {p.kind}\n"
            f"Installed-Size: {max(1, p.installed_size() // 1024)}\nMaintainer: Debian {ws[0].title()} Team "
            f"<pkg-{ws[0]}@lists.debian.org>\nArchitecture: amd64\nVersion: {p.version}\n"
            f"Depends: libc6 (>= 2.36), lib{ws[1]}{len(ws[2]) % 4}\nDescription: {' '.join(ws[3:10])}\n"
            f" {' '.join(ws[10:])}\n\n"
        )
    return "".join(out).encode()
