"""The day-1 tree: a Debian 12 server's root filesystem, scaled to the image size.

plan_tree(seed, image_bytes) returns a Tree: directories, symlinks, and generation tasks for
every file (a task makes one file, or a whole package: its files, its dpkg .list and .md5sums,
and for some a .deb in the apt cache). Tasks are plain data, so they run in worker processes;
run_task() writes the files under a host directory and returns what it wrote.

What is in it, as shares of the image at 1 GiB (BUDGET below; about half of the disk, the
rest is never written):
  /usr, /etc, /var/lib/dpkg   Debian packages: ELF executables and libraries, Python modules,
                             man pages and changelogs (gzip -9n), copyright files (the same
                             license texts in many packages, as in Debian), gettext catalogs,
                             icons, dpkg's status and per-package .list/.md5sums       17.5%
  /var/lib/shop/shop.db      an SQLite database of a web shop (built by sqlite3)        14%
  /boot, /usr/lib/modules    a kernel, an initrd (compressed), System.map, modules       7.5%
  /var/lib/apt, /var/cache   package lists, apt's binary caches, downloaded .debs        2.1%
  /home, /srv, /opt          documents, photos, a tar.gz backup, a web site, a Node.js app
                             with its node_modules (thousands of small files), uploads   4.7%
  /var/log                   rsyslog, nginx, dpkg and apt logs, rotated and gzipped      1.2%
  /swapfile                  allocated with fallocate (unwritten: zeros), a swap header  4%
"""
import dataclasses
import hashlib
import os

from . import text
from .clock import DAY, T0
from .generators import generate
from .packages import dpkg_status, make_package, render_deb, render_package, deb_path
from .rng import lognormal, name as rname, rng

KERNEL = "6.1.0-27-amd64"


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


def plan_tree(seed, image_bytes):
    """The day-1 tree for an image of image_bytes, from the seed."""
    p = _Planner(seed, image_bytes)
    for part in (p.skeleton, p.packages, p.kernel, p.system, p.apt, p.logs, p.home, p.application, p.swap):
        part()
    return Tree(
        dirs=p.dirs,
        symlinks=p.links,
        tasks=p.tasks,
        packages=p.pkgs,
        logs=p.live_logs,
        swap_path="/swapfile",
        swap_bytes=p.swap_bytes,
        db_path="/var/lib/shop/shop.db",
        db_bytes=int(BUDGET["db"] * image_bytes),
    )


class _Planner:
    """Builds the tree part by part; the parts draw from one stream in a fixed order."""

    def __init__(self, seed, image_bytes):
        self.seed, self.S = seed, image_bytes
        self.r = rng(seed, "tree")
        self.tasks, self.dirs, self.links = [], [], []
        self.pkgs, self.live_logs = {}, {}
        self.cap = max(64 * 1024, image_bytes // 60)  # no single file over ~1.7% of the image
        self.swap_bytes = 0

    def file(self, path, gen, size, mtime, mode=0o644, uid=0, key=None, **params):
        self.tasks.append(("file", path, gen, int(size), key or ("file", path), mtime, mode, uid, params))

    def fill(self, share, make_one):
        """Calls make_one(i) until the sizes it returns add up to share of the image."""
        used, i = 0, 0
        while used < share * self.S:
            used += make_one(i)
            i += 1

    def skeleton(self):
        self.links += [
            ("/bin", "usr/bin"),
            ("/sbin", "usr/sbin"),
            ("/lib", "usr/lib"),
            ("/lib64", "usr/lib64"),
        ]
        for d in (
            "/dev", "/proc", "/sys", "/run", "/mnt", "/media", "/srv/data", "/tmp", "/var/tmp",
            "/home/admin/Downloads", "/var/lib/shop/uploads", "/usr/lib64", "/var/spool/cron/crontabs",
            "/var/lib/systemd/timers", "/var/log/apt", "/var/log/nginx", "/var/backups",
        ):
            self.dirs.append((d, 0o1777 if d.endswith("tmp") else 0o755, dir_owner(d)))
        self.links.append(("/usr/lib64/ld-linux-x86-64.so.2", "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"))

    def packages(self):
        """Packages of five kinds up to their budget; a share of them also in apt's cache."""
        r, seed, pkgs = self.r, self.seed, self.pkgs
        budget = BUDGET["packages"] * self.S
        used = 0
        kinds = ["lib"] * 35 + ["tool"] * 30 + ["daemon"] * 8 + ["python"] * 15 + ["data"] * 12
        while used < budget:
            nm = rname(r)
            kind = r.choice(kinds)
            p = make_package(rng(seed, "package", nm, kind), nm, kind, self.cap)
            if p.name in pkgs:
                continue
            if used + p.installed_size() > budget * 1.05 and used > 0:
                continue
            pkgs[p.name] = p
            used += p.installed_size()
        # Paths must be unique across packages: drop later duplicates.
        seen = set()
        for p in pkgs.values():
            p.files = [f for f in p.files if f.path not in seen and not seen.add(f.path)]
        cached = set(sorted(pkgs)[:: max(1, int(round(BUDGET["packages"] / BUDGET["debs"] / 2.2)))])
        for p in pkgs.values():
            self.tasks.append(("package", p, p.name in cached))
            self.links += p.symlinks
        for path, status_seed in (("/var/lib/dpkg/status", seed), ("/var/lib/dpkg/status-old", seed + 1)):
            self.file(path, "literal", 0, T0 - 3 * DAY, data=dpkg_status(status_seed, pkgs))

    def kernel(self):
        r, S = self.r, self.S
        kt = T0 - 40 * DAY
        self.file(f"/boot/vmlinuz-{KERNEL}", "random", min(8_000_000, S * 0.008), kt)
        self.file(f"/boot/initrd.img-{KERNEL}", "random", min(32_000_000, S * 0.022), T0 - 39 * DAY)
        self.file(f"/boot/System.map-{KERNEL}", "symbol_map", min(4_500_000, S * 0.004), kt)
        self.file(f"/boot/config-{KERNEL}", "config", 260_000, kt)
        self.links += [("/vmlinuz", f"boot/vmlinuz-{KERNEL}"), ("/initrd.img", f"boot/initrd.img-{KERNEL}")]
        mods = f"/usr/lib/modules/{KERNEL}"
        subs = [
            "drivers/net/ethernet", "drivers/scsi", "drivers/gpu/drm", "drivers/usb", "fs", "net/netfilter",
            "sound/pci", "drivers/md", "crypto", "drivers/hid", "net/wireless", "drivers/infiniband",
        ]

        def module(i):
            size = lognormal(r, 25_000, 1.0, 3_000, min(self.cap, 2_000_000))
            self.file(f"{mods}/kernel/{subs[i % len(subs)]}/{rname(r)}{i}.ko", "elf_module", size, kt)
            return size

        self.fill(BUDGET["modules"], module)
        for f in ("modules.dep", "modules.alias", "modules.symbols"):
            self.file(f"{mods}/{f}", "symbol_map", min(400_000, S * 0.0004), kt)

    def system(self):
        """/etc, CA certificates, zoneinfo, a few state files."""
        r, S, file = self.r, self.S, self.file
        etc_dirs = [
            "",
            "ssh/",
            "default/",
            "apt/",
            "systemd/",
            "security/",
            "pam.d/",
            "nginx/",
            "shop/",
            "cron.d/",
        ]
        for i in range(60 + int(S / 2**30 * 200)):
            path = f"/etc/{r.choice(etc_dirs)}{text.words(r, 1)[0]}-{i}.conf"
            file(path, "config", lognormal(r, 1_500, 1.0, 60, 40_000), T0 - DAY * r.randrange(400))
        for f, n in (
            ("passwd", 1800), ("group", 900), ("shadow", 1100), ("hosts", 220), ("fstab", 600),
            ("hostname", 6), ("nginx/nginx.conf", 1500), ("shop/app.conf", 3000), ("ssh/sshd_config", 3300),
            ("apt/sources.list", 300),
        ):
            file(f"/etc/{f}", "config", n, T0 - 100 * DAY, 0o640 if f == "shadow" else 0o644)
        machine_id = f"{rng(self.seed, 'mid').getrandbits(128):032x}\n".encode()
        file("/etc/machine-id", "literal", 0, T0 - 300 * DAY, data=machine_id)
        for i in range(60 + int(S / 2**30 * 80)):
            name = f"{text.words(r, 1)[0].title()}_Root_CA_{i}.crt"
            file(f"/usr/share/ca-certificates/mozilla/{name}", "pem", 0, T0 - 200 * DAY)
        for i in range(100 + int(S / 2**30 * 500)):
            area = r.choice(["Europe", "America", "Asia", "Africa", "Australia", "Pacific"])
            path = f"/usr/share/zoneinfo/{area}/{rname(r, (2, 3)).title()}{i}"
            file(path, "zoneinfo", lognormal(r, 1_500, 0.6, 200, 6_000), T0 - 300 * DAY)
        self.links.append(("/etc/localtime", "/usr/share/zoneinfo/Etc/UTC"))
        file("/usr/share/zoneinfo/Etc/UTC", "zoneinfo", 114, T0 - 300 * DAY)
        file("/var/lib/systemd/random-seed", "random", 512, T0 - 3600, 0o600)
        file("/etc/ssh/ssh_host_ed25519_key", "pem", 0, T0 - 300 * DAY, 0o600)

    def apt(self):
        """Package lists and apt's binary caches (the .debs come with the packages)."""
        S, file = self.S, self.file
        lists = "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm"
        security = "/var/lib/apt/lists/security.debian.org_debian-security_dists_bookworm-security"
        lt, st = T0 - 20 * DAY, T0 - 19 * 3600
        file(f"{lists}_main_binary-amd64_Packages", "pkg_stanzas", BUDGET["apt_lists"] * S * 0.85, lt)
        file(
            f"{lists}-updates_main_binary-amd64_Packages",
            "pkg_stanzas",
            BUDGET["apt_lists"] * S * 0.05,
            T0 - 2 * DAY,
        )
        file(f"{security}_main_binary-amd64_Packages", "pkg_stanzas", BUDGET["apt_lists"] * S * 0.10, st)
        for l in ("bookworm_InRelease", "bookworm-updates_InRelease"):
            file(f"/var/lib/apt/lists/deb.debian.org_debian_dists_{l}", "csv", min(150_000, S * 0.00015), lt)
        file(f"{security}_InRelease", "csv", min(50_000, S * 0.00005), st)
        file("/var/cache/apt/pkgcache.bin", "apt_cache_bin", BUDGET["apt_cache_bin"] * S * 0.6, st)
        file("/var/cache/apt/srcpkgcache.bin", "apt_cache_bin", BUDGET["apt_cache_bin"] * S * 0.4, st)

    def logs(self):
        """Live logs (appended to every day) and their rotated files (gzip -6, as logrotate)."""
        S, file = self.S, self.file
        per_day_all = BUDGET["logs_per_day"] * S
        logs = {  # log: (share of the day's lines, style)
            "syslog": (0.30, "syslog"),
            "nginx/access.log": (0.50, "access"),
            "auth.log": (0.08, "auth"),
            "kern.log": (0.06, "kern"),
            "shop/api.log": (0.06, "app"),
        }
        for lg, (share, st) in logs.items():
            per_day = per_day_all * share
            weekly = lg in ("auth.log", "kern.log")
            period = 7 if weekly else 1
            midnight = T0 - 3600
            # The live file began at midnight (weekly logs: four days ago).
            start = midnight - 3 * DAY if weekly else midnight
            size = per_day * (T0 - start) / DAY
            file(f"/var/log/{lg}", "log", size, T0, 0o640, key=("log", lg, 0), style=st, t0=start, t1=T0)
            self.live_logs[f"/var/log/{lg}"] = st
            end = start
            keep = 4 if weekly else (14 if "nginx" in lg else 7)
            for k in range(1, keep + 1):
                beg = end - period * DAY
                g = "log" if k == 1 else "log_gz"
                nm = f"/var/log/{lg}.{k}" + ("" if k == 1 else ".gz")
                file(nm, g, per_day * period, end, 0o640, key=("log", lg, k), style=st, t0=beg, t1=end)
                end = beg
        for path, cap, share in (
            ("dpkg.log", 600_000, 0.0006),
            ("apt/history.log", 100_000, 0.0001),
            ("apt/term.log", 200_000, 0.0002),
        ):
            size = min(cap, S * share)
            file(
                f"/var/log/{path}", "log", size, T0 - 3 * DAY, style="dpkg", t0=T0 - 30 * DAY, t1=T0 - 3 * DAY
            )
        file("/var/log/wtmp", "random", 384 * (20 + int(S / 2**30 * 300)), T0 - 5 * 3600, 0o664)
        file("/var/backups/dpkg.status.0", "literal", 0, T0 - DAY, data=dpkg_status(self.seed + 1, self.pkgs))
        file("/var/lib/logrotate/status", "csv", 3_000, T0 - 3600)

    def home(self):
        """Documents, photos, a backup tarball, shell histories."""
        r, file = self.r, self.file

        def document(i):
            g, ext = r.choice(
                [("prose", "md"), ("csv", "csv"), ("pdf", "pdf"), ("prose", "txt"), ("html", "html")]
            )
            size = lognormal(r, 30_000, 1.2, 500, min(self.cap, 3_000_000))
            path = f"/home/admin/Documents/{'-'.join(text.words(r, 2))}-{i}.{ext}"
            file(path, g, size, T0 - DAY * r.randrange(300), uid=1000)
            return size

        def photo(i):
            size = lognormal(r, 2_500_000, 0.4, 300_000, min(self.cap, 8_000_000))
            file(
                f"/home/admin/Pictures/2024/IMG_{2000 + i:05d}.jpg",
                "jpeg",
                size,
                T0 - DAY * r.randrange(300),
                uid=1000,
            )
            return size

        self.fill(BUDGET["home_docs"], document)
        self.fill(BUDGET["home_photos"], photo)
        tarball = BUDGET["home_backup"] * self.S * 2.5  # the text inside; gzip makes it about 2.5x smaller
        file("/home/admin/backups/shop-2024-11-20.tar.gz", "tar_gz", tarball, T0 - 4 * DAY, uid=1000)
        file("/home/admin/.bash_history", "shell", 12_000, T0 - 7200, 0o600, uid=1000)
        file("/home/admin/.ssh/authorized_keys", "pem", 0, T0 - 200 * DAY, 0o600, uid=1000)
        file("/root/.bash_history", "shell", 6_000, T0 - DAY, 0o600)

    def application(self):
        """/opt/shop: a Node.js application and its node_modules; /srv/www: the static site;
        the customers' uploads."""
        r, file = self.r, self.file
        rel = "/opt/shop/releases/2024.11.23"

        def node_module(i):
            mod = f"{rel}/node_modules/{rname(r)}{i}"
            t = T0 - DAY * r.randrange(100)
            parts = [
                ("package.json", "json", lognormal(r, 1_200, 0.5, 300, 5_000)),
                ("README.md", "prose", lognormal(r, 4_000, 1.0, 200, 60_000)),
                ("index.js", "js", lognormal(r, 2_000, 1.0, 100, 40_000)),
            ]
            parts += [
                (f"lib/{text.words(r, 1)[0]}{j}.js", "js", lognormal(r, 6_000, 1.1, 100, 200_000))
                for j in range(r.randrange(8))
            ]
            if r.random() < 0.3:
                parts.append(
                    (f"dist/{rname(r, (1, 2))}.min.js", "minjs", lognormal(r, 40_000, 1.0, 1_000, 700_000))
                )
            for fn, g, size in parts:
                file(f"{mod}/{fn}", g, size, t, uid=1000)
            file(f"{mod}/LICENSE", "license", 0, t, uid=1000, license="MIT")
            return sum(size for _, _, size in parts)

        def web_file(i):
            g, ext = r.choice(
                [("html", "html"), ("html", "html"), ("png", "png"), ("jpeg", "jpg"), ("minjs", "css")]
            )
            size = lognormal(r, 15_000 if g != "jpeg" else 150_000, 1.0, 300, 1_000_000)
            path = f"/srv/www/html/{text.words(r, 1)[0]}/{text.words(r, 1)[0]}-{i}.{ext}"
            file(path, g, size, T0 - DAY * r.randrange(200))
            return size

        def upload(i):
            size = lognormal(r, 250_000, 0.8, 20_000, 3_000_000)
            path = f"/var/lib/shop/uploads/2024/{1 + i % 11:02d}/{r.getrandbits(48):012x}.jpg"
            file(path, "jpeg", size, T0 - DAY * (300 - i % 300), 0o644, 33)
            return size

        self.fill(BUDGET["node_modules"], node_module)
        for j in range(max(3, int(self.S / 2**30 * 50))):
            path = f"{rel}/app/{text.words(r, 1)[0]}_{j}.js"
            file(path, "js", lognormal(r, 8_000, 1.0, 200, 100_000), T0 - 2 * DAY, uid=1000)
        self.links.append(("/opt/shop/current", "releases/2024.11.23"))
        self.fill(BUDGET["www"], web_file)
        self.fill(BUDGET["uploads"], upload)

    def swap(self):
        """A header page written by mkswap; the rest is allocated at the end of day 1, never written."""
        self.swap_bytes = int(BUDGET["swap"] * self.S) // 4096 * 4096
        self.file("/swapfile", "swap_header", 4096, T0 - 300 * DAY, 0o600, pages=self.swap_bytes // 4096)


def dir_owner(path):
    """The uid (= gid) owning a directory of the tree."""
    for prefix, uid in (("/home/admin", 1000), ("/opt/shop", 1000), ("/var/lib/shop/uploads", 33)):
        if path == prefix or path.startswith(prefix + "/"):
            return uid
    return 0


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
