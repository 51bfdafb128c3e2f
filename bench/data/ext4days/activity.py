"""One day of a web shop server's life, as file operations on the image (image.Fs), in the order
they happen between two nightly snapshots (01:00 to 01:00 UTC).

  all day   rsyslog, nginx, sshd and the shop's API append to their logs (five batches a day,
            so their new blocks interleave with everything else the day allocates)
  all day   the shop's SQLite database: hourly transactions (new orders, status changes,
            customer visits) run by sqlite3 on a copy of yesterday's file; at 22:30 the pages
            that differ are written back in place, the file grows at its end, and the rollback
            journal is written and deleted next to it
  all day   customers upload photos (new files)
  06:25     apt-daily: package lists and apt's binary caches replaced, security upgrades
            downloaded (.deb files) and installed: every file of an upgraded package is
            written as .dpkg-new and renamed over the old one (new blocks; the old blocks are
            freed with their data), dpkg's info files, status and status-old replaced, the
            superseded .deb deleted, dpkg and apt logs appended; cron backs up dpkg's status
  10:00     the admin logs in (wtmp), edits the shop's config, writes a document, deletes two
            old ones, and the shell history grows
  14:00     the kernel swaps some pages out (bytes written into the swap file's blocks, past
            the file system)
  15:00     a deploy replaces the application's code and a few node_modules packages
  09:00-17:00  temporary files come and go in /tmp
  00:00     logrotate: daily logs renamed .1, yesterday's .1 gzipped to .2.gz, older ones
            renamed up, the oldest deleted (weekly logs once a week)
  all day   relatime: the first read of a file in a day sets its access time (programs and
            libraries cron and the admin run, configuration, Python modules, the web site,
            the application): a fixed hot set and some others, so inode tables change too
  01:00     what the day deleted is freed (image.Fs.commit): the blocks keep their data
Volumes scale with the image size (VOLUME below and distro.BUDGET, shares of the image).
"""
import os
import shutil
import time

from . import appdb, binary, logfiles, media, text
from .clock import DAY, T0
from .distro import BUDGET
from .generators import GENERATORS
from .packages import bump, deb_path, dpkg_status, render_deb, render_package
from .rng import lognormal, rng

VOLUME = {
    "upgrade": 0.0025,  # installed size of the packages upgraded per day
    "uploads": 0.001,
    "swap": 0.001,
    "tmp": 0.0008,
    "node_modules_share": 0.03,
    "hot_reads": 0.10,  # share of the read-prone files read every day
    "other_reads": 0.02,  # share of the others read on a given day
}


class Day:
    def __init__(self, fs, tree, seed, day, image_bytes, work, db_state):
        self.fs, self.tree, self.seed, self.day = fs, tree, seed, day
        self.S = image_bytes
        self.work = work
        self.db = db_state
        self.t0 = T0 + (day - 2) * DAY  # yesterday's snapshot
        self.r = rng(seed, "day", day)
        self.events = []

    def at(self, clock, fn, *args):
        """Schedules fn at a time of day (hours UTC) between yesterday's 01:00 and today's."""
        self.events.append((self.t0 + int(((clock - 1) % 24) * 3600), len(self.events), fn, args))

    def run(self):
        live = dict(self.tree.logs)
        weekly_turn = (self.day - 2 + 4) % 7 == 6  # day 1 was four days into the week
        for path, style in sorted(live.items()):
            rotate = not path.endswith(("auth.log", "kern.log")) or weekly_turn
            share = {"access": 0.50, "syslog": 0.30, "auth": 0.08, "kern": 0.06, "app": 0.06}[style]
            per_day = self.S * BUDGET["logs_per_day"] * share
            for q, (h0, h1) in enumerate(((1, 7), (7, 13), (13, 19), (19, 24), (0, 1))):
                self.at(h1 - 0.01, self.log_chunk, path, style, per_day * (h1 - h0) / 24, (h0 - 1) % 24, q)
            if rotate:
                self.at(
                    0,
                    self.rotate,
                    path,
                    4 if path.endswith(("auth.log", "kern.log")) else (14 if "nginx" in path else 7),
                )
        self.at(6.42, self.apt_daily)
        self.at(10, self.admin)
        self.at(14, self.swap_out)
        self.at(15, self.deploy)
        for h in (9, 13, 17):
            self.at(h, self.tmp_files, h)
        uploads = max(2, int(self.S * VOLUME["uploads"] / 250_000))
        for i in range(uploads):
            self.at(2 + 22 * i / uploads, self.upload, i, self.S * VOLUME["uploads"] / uploads)
        for h in (3, 9, 15, 21):
            self.at(h, self.reads, h)
        self.at(22.5, self.database)
        self.at(0, self.logrotate_status)
        for t, _, fn, args in sorted(self.events, key=lambda e: (e[0], e[1])):
            fn(t, *args)
        self.fs.commit(self.t0 + DAY - 1)

    # -- logs ---------------------------------------------------------------------------------

    def log_chunk(self, t, path, style, size, start, q):
        """The lines logged from `start` hours after the last snapshot until t."""
        r = rng(self.seed, "log", path, self.day, q)
        data = logfiles.log_lines(r, int(size), self.t0 + int(start * 3600), t, style)
        self.fs.append(path, data, t)

    def rotate(self, t, path, keep):
        fs = self.fs
        oldest = f"{path}.{keep}.gz"
        if fs.exists(oldest):
            fs.delete(oldest, t)
        for j in range(keep - 1, 1, -1):
            if fs.exists(f"{path}.{j}.gz"):
                fs.rename(f"{path}.{j}.gz", f"{path}.{j + 1}.gz", t)
        if fs.exists(f"{path}.1"):
            fs.write(f"{path}.2.gz", media.gzip_n(fs.read(f"{path}.1"), 6), t, 0o640)
            fs.delete(f"{path}.1", t)
        fs.rename(path, f"{path}.1", t)
        fs.write(path, b"", t, 0o640, what=None)

    def logrotate_status(self, t):
        r = rng(self.seed, "logrotate", self.day)
        self.fs.replace("/var/lib/logrotate/status", text.csv_table(r, 3_000), t + 5, ".tmp")

    # -- apt ----------------------------------------------------------------------------------

    def apt_daily(self, t):
        fs, r, tree = self.fs, self.r, self.tree
        lists = "/var/lib/apt/lists/"
        for name in sorted(p for p in fs.files if p.startswith(lists)):
            if "security" in name or "updates" in name:
                size = fs.files[name].size
                gen = text.csv_table if name.endswith("InRelease") else None
                lr = rng(self.seed, "list", name, self.day)
                data = (
                    gen(lr, size)
                    if gen
                    else GENERATORS["pkg_stanzas"](lr, int(size * (0.98 + 0.04 * r.random())))
                )
                fs.replace(name, data, t, ".tmp")
        for cache in ("/var/cache/apt/pkgcache.bin", "/var/cache/apt/srcpkgcache.bin"):
            size = fs.files[cache].size
            fs.replace(
                cache,
                GENERATORS["apt_cache_bin"](rng(self.seed, "cache", cache, self.day), size),
                t + 30,
                ".new",
            )
        # Security upgrades: whole packages, about VOLUME["upgrade"] of the image (packages that
        # would overshoot it by a quarter are passed over; at least the smallest one is taken).
        target = self.S * VOLUME["upgrade"]
        names = sorted(tree.packages)
        r.shuffle(names)
        chosen, total = [], 0
        for nm in names:
            p = tree.packages[nm]
            if total + p.installed_size() <= 1.25 * target:
                chosen.append(p)
                total += p.installed_size()
            if total >= 0.8 * target:
                break
        if not chosen:
            chosen = [min(tree.packages.values(), key=lambda p: (p.installed_size(), p.name))]
        tt = t + 120
        old_status = dpkg_status(self.seed, tree.packages)
        for p in chosen:
            old_deb = deb_path(p)
            p.history.insert(0, p.version)
            p.version = bump(p.history[-1], len(p.history))
            pr = rng(self.seed, "upgrade", p.name, p.version)
            for f in p.files:
                if not f.stable and f.gen not in ("copyright", "changelog_gz"):
                    f.size = max(1, int(f.size * (0.92 + 0.16 * pr.random())))
            rendered = render_package(self.seed, p)
            fs.write(deb_path(p), render_deb(self.seed, p, rendered), tt)
            tt += 2
            if fs.exists(old_deb):
                fs.delete(old_deb, tt)
        for p in chosen:
            for path, data, mode in sorted(render_package(self.seed, p)):
                if path.startswith("/var/lib/dpkg/info/"):
                    fs.replace(path, data, tt, "-new", mode)
                else:
                    fs.replace(path, data, tt, ".dpkg-new", mode)
            tt += 3
        if chosen:
            fs.replace("/var/lib/dpkg/status-old", old_status, tt, ".tmp")
            fs.replace("/var/lib/dpkg/status", dpkg_status(self.seed, tree.packages), tt, "-new")
            lines = "".join(
                f"{_stamp(tt)} upgrade {p.name}:amd64 {p.history[0]} {p.version}\n"
                f"{_stamp(tt)} status installed {p.name}:amd64 {p.version}\n"
                for p in chosen
            ).encode()
            fs.append("/var/log/dpkg.log", lines * 3, tt)
            fs.append(
                "/var/log/apt/history.log",
                b"\nStart-Date: "
                + _stamp(t).encode()
                + b"\nUpgrade: "
                + ", ".join(f"{p.name}:amd64 ({p.history[0]}, {p.version})" for p in chosen).encode()
                + b"\n",
                tt,
            )
            fs.append("/var/log/apt/term.log", lines * 2, tt)
        fs.replace("/var/backups/dpkg.status.0", dpkg_status(self.seed, tree.packages), t + 3600, ".tmp")

    # -- the database -------------------------------------------------------------------------

    def database(self, t):
        fs = self.fs
        db = self.tree.db_path
        cur = os.path.join(self.work, "shop.db")
        new = os.path.join(self.work, f"shop.db.day{self.day}")
        shutil.copyfile(cur, new)
        sql = appdb.day_sql(self.seed, self.day, self.db, self.t0, 1.0)
        journal = appdb.apply(new, sql)
        if journal:
            fs.write(db + "-journal", journal, t, 0o644, 33, what="journal written")
        for off, data in _changed_pages(cur, new):
            fs.patch(db, off, data, t + 60, new)
        if journal:
            fs.delete(db + "-journal", t + 61)
        os.replace(new, cur)
        fs.files[db].host = cur

    # -- the rest of the day ------------------------------------------------------------------

    def upload(self, t, i, median):
        r = rng(self.seed, "upload", self.day, i)
        g = time.gmtime(t)
        path = f"/var/lib/shop/uploads/{g.tm_year}/{g.tm_mon:02d}/{r.getrandbits(48):012x}.jpg"
        self.fs.write(path, media.jpeg(r, lognormal(r, median, 0.8, 20_000, 3_000_000)), t, 0o644, 33)

    def swap_out(self, t):
        fs, r = self.fs, rng(self.seed, "swap", self.day)
        pages = max(1, int(self.S * VOLUME["swap"]) // 4096)
        total = self.tree.swap_bytes // 4096
        start = 1 + ((self.day - 2) * pages * 3) % max(1, total - pages - 1)
        data = b"".join(text.prose(r, 4096) if i % 2 else binary.code(r, 4096) for i in range(pages))
        fs.raw_write(self.tree.swap_path, start * 4096, data)

    def admin(self, t):
        fs, r = self.fs, rng(self.seed, "admin", self.day)
        fs.append("/var/log/wtmp", r.randbytes(384), t)
        fs.replace("/etc/shop/app.conf", text.config(r, 3_000 + r.randrange(200)), t + 300, ".swp")
        fs.write(
            f"/home/admin/Documents/notes-day{self.day}.md",
            text.prose(r, lognormal(r, 8_000, 1.0, 500, 200_000)),
            t + 900,
            0o644,
            1000,
        )
        old = sorted(p for p in fs.files if p.startswith("/home/admin/Documents/") and "/notes-day" not in p)
        for p in old[r.randrange(max(1, len(old) - 2)) :][:2]:
            fs.delete(p, t + 1200)
        fs.append("/home/admin/.bash_history", text.shell_script(r, 600 + r.randrange(600))[10:], t + 3000)
        fs.append("/var/log/wtmp", r.randbytes(384), t + 3600)

    def deploy(self, t):
        fs, r = self.fs, rng(self.seed, "deploy", self.day)
        rel = "/opt/shop/releases/2024.11.23"
        for p in sorted(p for p in fs.files if p.startswith(rel + "/app/")):
            fs.replace(
                p,
                text.source_code(r, max(200, int(fs.files[p].size * (0.9 + 0.2 * r.random()))), "js"),
                t,
                ".tmp",
            )
        mods = sorted({"/".join(p.split("/")[:7]) for p in fs.files if p.startswith(rel + "/node_modules/")})
        for m in mods:
            if r.random() < VOLUME["node_modules_share"]:
                for p in sorted(p for p in fs.files if p.startswith(m + "/")):
                    if p.endswith("LICENSE"):
                        continue
                    g = (
                        text.minified_js
                        if p.endswith(".min.js")
                        else (lambda rr, n: text.source_code(rr, n, "js"))
                    )
                    fs.replace(p, g(r, max(100, fs.files[p].size)), t + 60, ".tmp")

    READ_PREFIXES = (
        "/usr/bin/",
        "/usr/sbin/",
        "/usr/lib/x86_64-linux-gnu/",
        "/usr/lib/python3/",
        "/etc/",
        "/srv/www/",
        "/opt/shop/releases/",
    )

    def reads(self, t, h):
        r = rng(self.seed, "reads", self.day, h)
        for p in sorted(self.fs.files):
            if p.startswith(self.READ_PREFIXES) and self.fs.files[p].atime_day != self.day:
                hot = rng(self.seed, "hot", p).random() < VOLUME["hot_reads"]
                if (hot and h == 3) or r.random() < VOLUME["other_reads"] / 4:
                    self.fs.read_atime(p, t + r.randrange(3600), self.day)

    def tmp_files(self, t, h):
        fs, r = self.fs, rng(self.seed, "tmp", self.day, h)
        size = int(self.S * VOLUME["tmp"] / 3)
        fs.write(f"/tmp/sess-{self.day}-{h}.tmp", text.csv_table(r, max(100, size)), t, 0o600, 33)
        prev = f"/tmp/sess-{self.day}-{h - 4}.tmp"
        if fs.exists(prev):
            fs.delete(prev, t + 60)


def _stamp(t):
    g = time.gmtime(t)
    return f"{g.tm_year}-{g.tm_mon:02d}-{g.tm_mday:02d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"


def _changed_pages(old, new, page=4096):
    """(offset, bytes) runs of the pages that differ between two files (new may be longer)."""
    runs = []
    with open(old, "rb") as a, open(new, "rb") as b:
        off = 0
        while True:
            x = a.read(1 << 20)
            y = b.read(1 << 20)
            if not y:
                break
            if x != y:
                for i in range(0, len(y), page):
                    if x[i : i + page] != y[i : i + page]:
                        if runs and runs[-1][0] + len(runs[-1][1]) == off + i:
                            runs[-1][1] += y[i : i + page]
                        else:
                            runs.append([off + i, bytearray(y[i : i + page])])
            off += len(y)
    return [(o, bytes(d)) for o, d in runs]
