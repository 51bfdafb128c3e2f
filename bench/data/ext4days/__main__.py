"""Makes a series of ext4 disk images of one server, a day apart (see make-ext4-days.sh).

  python3 -m ext4days OUTDIR [--size 1G] [--seed N] [--days 2] [--jobs N] [--work DIR] [--keep-work]

Writes OUTDIR/dayK.img, OUTDIR/dayK.manifest.tsv (every file, symlink and directory the image
should hold: type, path, size, SHA-256 or link target), OUTDIR/dayK.changes.tsv (what day K did:
operation, path, bytes) and OUTDIR/summary.json (sizes, counts, timings).
"""
import argparse
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import threading
import time

from . import appdb, distro, image
from .clock import DAY, T0
from .activity import Day


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMGT]?)(i?B)?", text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 64M, 1G, 1073741824)")
    n = int(m.group(1)) * 1024 ** " KMGT".index((m.group(2) or " ").upper())
    if n < 32 * 2**20 or n % 4096:
        raise argparse.ArgumentTypeError("the size must be at least 32M and a multiple of 4 KiB")
    return n


def _uuid(seed, what):
    h = hashlib.sha256(f"{seed}|{what}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


_worker = {}


def _init_worker(seed, root):
    _worker["seed"], _worker["root"] = seed, root


def _run(task):
    return distro.run_task(_worker["seed"], _worker["root"], task)


def _progress(msg):
    if sys.stderr.isatty() or os.environ.get("EXT4DAYS_VERBOSE"):
        print(f"make-ext4-days: {msg}", file=sys.stderr, flush=True)


def make_day1(args, out, work, timings):
    S, seed = args.size, args.seed
    t, c = time.monotonic(), _cpu()
    tree = distro.plan_tree(seed, S)
    timings["plan_seconds"] = round(time.monotonic() - t, 2)
    root = os.path.join(work, "tree")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    # The database builds in sqlite3 while the workers write the rest of the tree.
    db_host = os.path.join(work, "shop.db")
    db_result = {}

    def build_db():
        try:
            db_result["state"] = appdb.build(seed, db_host, tree.db_bytes)
        except Exception as e:  # reported below
            db_result["error"] = e

    th = threading.Thread(target=build_db)
    th.start()
    results = []
    # Big tasks first, so that the two workers finish together.
    order = sorted(
        tree.tasks, key=lambda tk: -(sum(f.size for f in tk[1].files) if tk[0] == "package" else tk[3])
    )
    with multiprocessing.get_context("fork").Pool(args.jobs, _init_worker, (seed, root)) as pool:
        for res in pool.imap_unordered(_run, order, chunksize=8):
            results.extend(res)
    th.join()
    if "error" in db_result:
        raise db_result["error"]
    timings["generate_seconds"] = round(time.monotonic() - t, 2)
    timings["generate_cpu_seconds"] = round(_cpu() - c, 2)
    _progress(f"day 1: {len(results)} files generated in {timings['generate_seconds']} s")
    t = time.monotonic()

    # Host tree: directories, symlinks, the database; times and modes set explicitly.
    for d, mode, uid in tree.dirs:
        os.makedirs(root + d, exist_ok=True)
    db_size = os.path.getsize(db_host)
    os.makedirs(os.path.dirname(root + tree.db_path), exist_ok=True)
    os.link(db_host, root + tree.db_path)
    db_sha = _sha_file(db_host)
    db_mtime = T0 - 600
    os.utime(root + tree.db_path, (db_mtime, db_mtime))
    results.append((tree.db_path, db_size, db_sha, 0o644, db_mtime, 33))
    for path, target in tree.symlinks:
        os.makedirs(os.path.dirname(root + path), exist_ok=True)
        os.symlink(target, root + path)
    mtimes = {}
    for path, _, _, _, mtime, _ in results:
        d = os.path.dirname(path)
        mtimes[d] = max(mtimes.get(d, 0), mtime)
    dir_modes = {d: (mode, uid) for d, mode, uid in tree.dirs}
    all_dirs = []
    for dirpath, _, _ in os.walk(root):
        all_dirs.append(dirpath[len(root) :] or "/")
    for d in all_dirs:
        os.chmod(root + d if d != "/" else root, dir_modes.get(d, (0o755, 0))[0])
    for path, target in tree.symlinks:
        os.utime(root + path, (T0 - 300 * DAY,) * 2, follow_symlinks=False)
    for d in sorted(all_dirs, key=lambda x: -x.count("/")):
        mt = mtimes.get(d, T0 - 300 * DAY)
        os.utime(root + d if d != "/" else root, (mt, mt))

    timings["prepare_seconds"] = round(time.monotonic() - t, 2)
    # mke2fs -d, then what mke2fs takes from the host: change times, owners.
    t, c = time.monotonic(), _cpu()
    img = os.path.join(out, "day1.img")
    image.mkfs(img, S, root, _uuid(seed, "fs"), _uuid(seed, "hash"), T0)
    timings["mkfs_seconds"] = round(time.monotonic() - t, 2)
    timings["mkfs_cpu_seconds"] = round(_cpu() - c, 2)
    t = time.monotonic()
    fs = image.Fs(img, work, T0)
    owners = {}
    for path, size, sha, mode, mtime, uid in results:
        fs.add(path, size, sha, mode, uid, mtime)
        owners[path] = (uid, mtime)
    fs.dirs.add("/lost+found")  # made by mke2fs
    for d in all_dirs:
        fs.dirs.add(d)
        owners.setdefault(d, (distro.dir_owner(d), mtimes.get(d, T0 - 300 * DAY)))
    for path, target in tree.symlinks:
        fs.links[path] = target
        owners[path] = (0, T0 - 300 * DAY)
    # Every inode gets the same commands whoever runs this (the superblock counts the bytes
    # debugfs writes).
    cmds = []
    for path in sorted(owners):
        uid, mtime = owners[path]
        cmds += [f"sif {path} ctime @{int(mtime)}", f"sif {path} uid {uid}", f"sif {path} gid {uid}"]
    pages = tree.swap_bytes // 4096
    cmds += [f"fallocate {tree.swap_path} 1 {pages - 1}", f"sif {tree.swap_path} size {tree.swap_bytes}"]
    fs.cmds += cmds
    fs.flush()
    # The swap file reads as its header and zeros (its blocks are unwritten extents).
    info = fs.files[tree.swap_path]
    with open(root + tree.swap_path, "rb") as f:
        h = hashlib.sha256(f.read())
    zero = bytes(1 << 20)
    left = tree.swap_bytes - info.size
    while left:
        n = min(left, len(zero))
        h.update(zero[:n])
        left -= n
    info.size, info.sha = tree.swap_bytes, h.hexdigest()
    # Logs are appended to: keep their hash state.
    for path in tree.logs:
        with open(root + path, "rb") as f:
            fs.files[path].hasher = hashlib.sha256(f.read())
    fs.files[tree.db_path].host = db_host
    timings["fixup_seconds"] = round(time.monotonic() - t, 2)
    return tree, fs, db_result["state"]


def _default_scratch(out, size):
    """/dev/shm when it and the memory have room for the image size (the tree and the database
    take about half of it): writing and deleting them there is much faster than on a busy disk.
    Else OUTDIR."""
    try:
        st = os.statvfs("/dev/shm")
        with open("/proc/meminfo") as f:
            avail = next(int(l.split()[1]) * 1024 for l in f if l.startswith("MemAvailable:"))
        if os.access("/dev/shm", os.W_OK) and st.f_bavail * st.f_frsize > size and avail > 2 * size:
            return "/dev/shm"
    except (OSError, StopIteration, ValueError):
        pass
    return out


def _cpu():
    """CPU seconds (user + system) of this process and its finished children."""
    return sum(os.times()[:4])


def _sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="make-ext4-days.sh", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("outdir")
    ap.add_argument(
        "--size", type=parse_size, default=parse_size("1G"), help="image size (default 1G; e.g. 64M)"
    )
    ap.add_argument("--seed", type=int, default=1, help="seed of everything generated (default 1)")
    ap.add_argument("--days", type=int, default=2, help="number of images, a day apart (default 2)")
    ap.add_argument(
        "--jobs",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="worker processes generating day 1's files (default: the usable CPUs); the output does "
        "not depend on it",
    )
    ap.add_argument(
        "--work",
        help="where the day-1 tree and the database are made (default /dev/shm when it and the memory "
        "have room for the image size, else OUTDIR); the images do not depend on it",
    )
    ap.add_argument("--keep-work", action="store_true", help="keep the scratch directory")
    args = ap.parse_args(argv)
    if args.days < 1:
        ap.error("--days must be at least 1")
    out = os.path.abspath(args.outdir)
    os.makedirs(out, exist_ok=True)
    scratch = os.path.abspath(args.work) if args.work else _default_scratch(out, args.size)
    work = os.path.join(scratch, f".ext4days-work-{os.getpid()}")
    os.makedirs(work)
    _progress(f"scratch directory {work}")
    cleanup = []
    try:
        return _make(args, out, work, cleanup)
    finally:
        for th in cleanup:
            th.join()
        if args.keep_work:
            print(f"make-ext4-days: the day-1 tree and the database are in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _make(args, out, work, cleanup):
    t_all, c_all = time.monotonic(), _cpu()
    timings = {}
    tree, fs, db_state = make_day1(args, out, work, timings)
    if not args.keep_work:  # the day-1 tree goes while the next days are made
        cleanup.append(threading.Thread(target=shutil.rmtree, args=(os.path.join(work, "tree"),)))
        cleanup[-1].start()
    t = time.monotonic()
    _write(os.path.join(out, "day1.manifest.tsv"), fs.manifest())
    timings["manifest_seconds"] = round(time.monotonic() - t, 2)
    summary = {
        "size_bytes": args.size,
        "seed": args.seed,
        "days": args.days,
        "day1": {
            "files": len(fs.files),
            "symlinks": len(fs.links),
            "directories": len(fs.dirs),
            "file_bytes": sum(i.size for i in fs.files.values()),
            "packages": len(tree.packages),
            "database_bytes": fs.files[tree.db_path].size,
        },
    }
    timings["day1_seconds"] = round(time.monotonic() - t_all, 2)
    _progress(f"day 1 done in {timings['day1_seconds']} s")
    for day in range(2, args.days + 1):
        t, c = time.monotonic(), _cpu()
        prev, img = os.path.join(out, f"day{day - 1}.img"), os.path.join(out, f"day{day}.img")
        subprocess.run(["cp", "--sparse=always", prev, img], check=True)
        fs.image, fs.fake_time, fs.log = img, T0 + (day - 1) * DAY, []
        Day(fs, tree, args.seed, day, args.size, work, db_state).run()
        _write(os.path.join(out, f"day{day}.manifest.tsv"), fs.manifest())
        changes = "".join(f"{op}\t{p}\t{n}\n" for op, p, n in fs.log)
        _write(os.path.join(out, f"day{day}.changes.tsv"), changes)
        ops = {}
        for op, _, n in fs.log:
            o = ops.setdefault(op, {"count": 0, "bytes": 0})
            o["count"] += 1
            o["bytes"] += n
        summary[f"day{day}"] = {"operations": ops}
        timings[f"day{day}_seconds"] = round(time.monotonic() - t, 2)
        timings[f"day{day}_cpu_seconds"] = round(_cpu() - c, 2)
        _progress(f"day {day} done in {timings[f'day{day}_seconds']} s")
    for th in cleanup:
        th.join()
    timings["total_seconds"] = round(time.monotonic() - t_all, 2)
    timings["cpu_seconds"] = round(_cpu() - c_all, 2)
    summary["timings"] = timings
    _write(os.path.join(out, "summary.json"), json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (image.ImageError, appdb.SqliteError, OSError) as e:
        print(f"make-ext4-days: {e}", file=sys.stderr)
        sys.exit(1)
