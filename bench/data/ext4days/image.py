"""An ext4 image made by mke2fs and changed in place the way a running system changes it,
without mounting it (no root, no loop device).

mkfs(): mke2fs -t ext4 -d TREE with a fixed configuration (bench/data/mke2fs.conf), UUID, hash
seed and clock, so the same tree gives the same bytes.

Fs: file operations on the image, in the order a system does them, batched into debugfs runs:
  write, replace (write a temporary name, rename over: new blocks, the old ones are freed
  and keep their stale data), rename, delete, symlink, mkdir, touch: debugfs -w commands, so
  libext2fs allocates blocks and inodes and updates bitmaps, counters and checksums;
  append, patch (write bytes at an offset, growing the file if needed): the file's blocks stay
  where they are; new blocks are allocated with debugfs `fallocate` (which allocates next to
  the file's last block when it can, like the kernel's allocator) and their extents are turned
  from unwritten to written (merged with the extent before them when contiguous), then the
  bytes go straight into the image at the physical blocks found with `dump_extents`: an
  in-place page rewrite stays in place;
  raw_write: bytes into a file's blocks without touching the file system (a swap file).
It keeps a model of what every file should contain (size and SHA-256) for the manifest.
Times come from debugfs `set_current_time` and `sif`; the superblock's from E2FSPROGS_FAKE_TIME.
"""
import bisect
import hashlib
import os
import re
import subprocess

BS = 4096
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MKE2FS_CONF = os.path.join(HERE, "mke2fs.conf")


class ImageError(RuntimeError):
    pass


def _env(fake_time):
    env = dict(
        os.environ, LC_ALL="C", TZ="UTC", MKE2FS_CONFIG=MKE2FS_CONF, E2FSPROGS_FAKE_TIME=str(int(fake_time))
    )
    env.pop("E2FSPROGS_UNDO_DIR", None)
    return env


def mkfs(image, size, tree, uuid, hash_seed, fake_time, label="rootfs"):
    with open(image, "wb") as f:
        f.truncate(size)
    cmd = [
        "mke2fs",
        "-q",
        "-F",
        "-t",
        "ext4",
        "-b",
        str(BS),
        "-L",
        label,
        "-U",
        uuid,
        "-E",
        f"hash_seed={hash_seed},root_owner=0:0",
        "-d",
        tree,
        image,
    ]
    p = subprocess.run(cmd, env=_env(fake_time), capture_output=True)
    if p.returncode != 0:
        raise ImageError(f"mke2fs failed: {p.stderr.decode().strip()}")


def debugfs(image, cmds, fake_time, write=True):
    """Runs debugfs commands from a script; returns stdout. Any error message is fatal."""
    script = image + ".debugfs"
    with open(script, "w") as f:
        f.write("\n".join(cmds) + "\n")
    p = subprocess.run(
        ["debugfs"] + (["-w"] if write else []) + ["-f", script, image],
        env=_env(fake_time),
        capture_output=True,
    )
    os.unlink(script)
    err = [l for l in p.stderr.decode(errors="replace").splitlines() if l and not l.startswith("debugfs ")]
    if p.returncode != 0 or err:
        raise ImageError("debugfs: " + "; ".join(err[:5] or [f"exit {p.returncode}"]))
    return p.stdout.decode(errors="replace")


_LEAF = re.compile(
    r"^\s*(\d+)/\s*(\d+)\s+(\d+)/\s*(\d+)\s+(\d+)\s+-\s+(\d+)\s+(\d+)\s+-\s+(\d+)\s+(\d+)\s*(Uninit)?"
)


def parse_extents(text):
    """dump_extents output of several files -> {path: [[lblk, len, pblk, uninit, leaf_no], ...]}."""
    out = {}
    cur = None
    leaf = -1
    for line in text.splitlines():
        if line.startswith("debugfs: dump_extents "):
            cur = line.split(" ", 2)[2].strip()
            out[cur] = []
            leaf = -1
            continue
        m = _LEAF.match(line)
        if m and cur is not None:
            level, depth, idx = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if level != depth:
                continue
            if idx == 1:
                leaf += 1
            out[cur].append([int(m.group(5)), int(m.group(9)), int(m.group(7)), bool(m.group(10)), leaf])
    return out


class FileInfo:
    __slots__ = ("size", "sha", "hasher", "mode", "uid", "mtime", "host", "atime_day")

    def __init__(self, size, sha, mode=0o644, uid=0, mtime=0, hasher=None, host=None):
        self.size, self.sha, self.mode, self.uid, self.mtime = size, sha, mode, uid, mtime
        self.hasher, self.host, self.atime_day = hasher, host, None


class Fs:
    def __init__(self, image, workdir, fake_time):
        self.image = image
        self.work = workdir
        self.fake_time = fake_time
        self.files = {}  # path -> FileInfo (regular files)
        self.dirs = {"/"}
        self.links = {}  # path -> target
        self.cmds = []
        self.pending = []  # (path, offset, data, old_size or None for a raw write)
        self.convert = set()
        self.now = None
        self.staged = 0
        self.log = []  # (op, path, bytes) for the day's report
        self.held = []  # names of deleted files whose blocks are freed at the end of the day
        os.makedirs(os.path.join(workdir, "stage"), exist_ok=True)

    # -- bookkeeping ----------------------------------------------------------------------

    def _time(self, t):
        if t != self.now:
            self.cmds.append(f"set_current_time @{int(t)}")
            self.now = t

    def _dir_changed(self, path, t):
        d = os.path.dirname(path) or "/"
        self.cmds += [f"sif {d} mtime @{int(t)}", f"sif {d} ctime @{int(t)}"]

    def _pending_on(self, *paths):
        return any(p == q or p.startswith(q + "/") for p, *_ in self.pending for q in paths)

    def _stage(self, data, mode):
        self.staged += 1
        host = os.path.join(self.work, "stage", str(self.staged))
        with open(host, "wb") as f:
            f.write(data)
        os.chmod(host, mode & 0o7777)
        return host

    def add(self, path, size, sha, mode=0o644, uid=0, mtime=0, hasher=None):
        """Records a file that is already in the image (day 1)."""
        self.files[path] = FileInfo(size, sha, mode, uid, mtime, hasher)
        d = os.path.dirname(path)
        while d not in self.dirs:
            self.dirs.add(d)
            d = os.path.dirname(d)

    def exists(self, path):
        return path in self.files or path in self.dirs or path in self.links

    # -- operations -----------------------------------------------------------------------

    def mkdir(self, path, t, mode=0o755, uid=0):
        if path in self.dirs:
            return
        parent = os.path.dirname(path)
        if parent not in self.dirs:
            self.mkdir(parent, t, mode, uid)
        self._time(t)
        self.cmds += [f"mkdir {path}", f"sif {path} mode 0{0o40000 | mode:o}"]
        if uid:
            self.cmds += [f"sif {path} uid {uid}", f"sif {path} gid {uid}"]
        self._dir_changed(path, t)
        self.dirs.add(path)

    def write(self, path, data, t, mode=0o644, uid=0, what="new"):
        if self.exists(path):
            raise ImageError(f"write: {path} exists")
        self.mkdir(os.path.dirname(path), t, 0o755, uid)
        self._time(t)
        self.cmds.append(f"write {self._stage(data, mode)} {path}")
        if uid:
            self.cmds += [f"sif {path} uid {uid}", f"sif {path} gid {uid}"]
        self._dir_changed(path, t)
        self.files[path] = FileInfo(len(data), hashlib.sha256(data).hexdigest(), mode, uid, t)
        if what:
            self.log.append((what, path, len(data)))

    def replace(self, path, data, t, tmp_suffix=".dpkg-new", mode=None, uid=None):
        old = self.files.get(path)
        mode = old.mode if mode is None and old else (mode or 0o644)
        uid = old.uid if uid is None and old else (uid or 0)
        tmp = path + tmp_suffix
        self.write(tmp, data, t, mode, uid, what=None)
        self.rename(tmp, path, t, what=None)
        self.log.append(("replaced" if old else "new", path, len(data)))

    def rename(self, src, dst, t, what="renamed"):
        if self._pending_on(src, dst):
            self.flush()
        self._time(t)
        if dst in self.files or dst in self.links:
            self._release(dst)
        self.cmds += [f"ln {src} {dst}", f"unlink {src}", f"sif {dst} ctime @{int(t)}"]
        self._dir_changed(src, t)
        if os.path.dirname(src) != os.path.dirname(dst):
            self._dir_changed(dst, t)
        if src in self.files:
            self.files[dst] = self.files.pop(src)
        else:
            self.links.pop(dst, None)
            self.links[dst] = self.links.pop(src)
        if what:
            self.log.append((what, dst, 0))

    def _release(self, path, now=False):
        """Removes the name now; frees the inode and blocks at the end of the day (commit()).
        The kernel does not reuse blocks freed by a transaction until the journal commits it,
        and its allocator moves on rather than back into small holes: a day's deletions leave
        their blocks, with their data, free but unused until the next day."""
        if now:
            self.cmds.append(f"rm {path}")
            return
        hold = f"{os.path.dirname(path).rstrip('/')}/.ext4days-held-{len(self.held)}"
        self.cmds += [f"ln {path} {hold}", f"unlink {path}"]
        self.held.append(hold)

    def commit(self, t):
        """Frees what the day deleted (see _release)."""
        if self.held:
            self._time(t)
            self.cmds += [f"rm {h}" for h in self.held]
            self.held = []
        self.flush()

    def delete(self, path, t, inside_dir=False):
        if self._pending_on(path):
            self.flush()
        self._time(t)
        if path in self.dirs:
            under = [p for p in list(self.files) + list(self.links) if p.startswith(path + "/")]
            for p in sorted(under):
                self.delete(p, t, inside_dir=True)
            for d in sorted((d for d in self.dirs if d.startswith(path + "/")), key=lambda d: -d.count("/")):
                self.cmds.append(f"rmdir {d}")
                self.dirs.discard(d)
            self.cmds.append(f"rmdir {path}")
            self.dirs.discard(path)
        else:
            self._release(path, now=inside_dir)
            info = self.files.pop(path, None)
            self.links.pop(path, None)
            self.log.append(("deleted", path, info.size if info else 0))
        self._dir_changed(path, t)

    def symlink(self, path, target, t):
        self.mkdir(os.path.dirname(path), t)
        self._time(t)
        if path in self.links:
            self._release(path)
        self.cmds.append(f"symlink {path} {target}")
        self._dir_changed(path, t)
        self.links[path] = target

    def read_atime(self, path, t, day):
        """A read under relatime: the access time moves (once a day per file)."""
        self.cmds.append(f"sif {path} atime @{int(t)}")
        self.files[path].atime_day = day

    def touch(self, path, t):
        self.cmds += [f"sif {path} mtime @{int(t)}", f"sif {path} ctime @{int(t)}"]

    def _grow(self, path, info, new_size, t):
        old_blocks = (info.size + BS - 1) // BS
        new_blocks = (new_size + BS - 1) // BS
        if new_blocks > old_blocks:
            self.cmds.append(f"fallocate {path} {old_blocks} {new_blocks - 1}")
            self.convert.add(path)
        if new_size > info.size:
            self.cmds.append(f"sif {path} size {new_size}")

    def append(self, path, data, t):
        info = self.files[path]
        h = info.hasher or self._hasher(path)  # before this append is queued
        self._grow(path, info, info.size + len(data), t)
        self.touch(path, t)
        self.pending.append((path, info.size, data, info.size))
        h.update(data)
        info.hasher, info.sha, info.size, info.mtime = h, h.hexdigest(), info.size + len(data), t
        self.log.append(("appended", path, len(data)))

    def patch(self, path, offset, data, t, host_copy):
        """Writes data at offset in place (growing the file if it ends past the end); host_copy is
        a host file holding the whole new content (for the manifest)."""
        info = self.files[path]
        end = max(info.size, offset + len(data))
        self._grow(path, info, end, t)
        self.touch(path, t)
        self.pending.append((path, offset, data, info.size))
        info.size, info.mtime, info.host, info.hasher, info.sha = end, t, host_copy, None, None
        self.log.append(("rewritten in place", path, len(data)))

    def raw_write(self, path, offset, data):
        """Bytes into the blocks of a file, past the file system (swap pages): no size, time or
        extent changes, so the file still reads the same."""
        self.pending.append((path, offset, data, None))
        self.log.append(("raw write", path, len(data)))

    def _hasher(self, path):
        data = self.read(path)
        return hashlib.sha256(data)

    def read(self, path):
        """The file's content as the file system returns it (debugfs cat)."""
        self.flush()
        p = subprocess.run(
            ["debugfs", "-R", f"cat {path}", self.image], env=_env(self.fake_time), capture_output=True
        )
        if p.returncode != 0:
            raise ImageError(f"debugfs cat {path}: {p.stderr.decode().strip()}")
        return p.stdout

    # -- flush: run the batch ---------------------------------------------------------------

    def flush(self):
        if self.cmds:
            debugfs(self.image, self.cmds, self.fake_time)
            self.cmds = []
            self.now = None
        if not self.pending:
            return
        paths = sorted({p for p, *_ in self.pending})
        ext = parse_extents(
            debugfs(self.image, [f"dump_extents {p}" for p in paths], self.fake_time, write=False)
        )
        conv = []
        for p in sorted(self.convert):
            conv += self._convert_cmds(p, ext[p])
        if conv:
            debugfs(self.image, conv, self.fake_time)
        with open(self.image, "r+b") as img:
            for path, offset, data, old_size in self.pending:
                self._pwrite(img, ext[path], offset, data, old_size)
        self.pending = []
        self.convert = set()

    @staticmethod
    def _convert_cmds(path, extents):
        """Turns the file's unwritten extents into written ones (merged into the extent before
        them when they continue it on disk), as the kernel does when pages are written."""
        cmds = []
        for i, e in enumerate(extents):
            if not e[3]:
                continue
            prev = next((x for x in reversed(extents[:i]) if x[1] > 0), None)
            if (
                prev is not None
                and not prev[3]
                and prev[4] == e[4]
                and prev[0] + prev[1] == e[0]
                and prev[2] + prev[1] == e[2]
                and prev[1] + e[1] <= 32768
            ):
                cmds += [
                    f"goto_block {e[0]}",
                    "delete_node",
                    f"goto_block {prev[0]}",
                    f"replace_node {prev[0]} {prev[1] + e[1]} {prev[2]}",
                ]
                prev[1] += e[1]
                e[1] = 0
            else:
                cmds += [f"goto_block {e[0]}", f"replace_node {e[0]} {e[1]} {e[2]}"]
                e[3] = False
        if cmds:
            cmds = [f"extent_open {path}"] + cmds + ["extent_close"]
        # The mapping is unchanged; only the flags and the extent boundaries moved.
        return cmds

    @staticmethod
    def _pwrite(img, extents, offset, data, old_size):
        starts = [e[0] for e in extents]
        pos = 0
        while pos < len(data):
            off = offset + pos
            lblk, inblk = divmod(off, BS)
            n = min(BS - inblk, len(data) - pos)
            i = bisect.bisect_right(starts, lblk) - 1
            e = extents[i] if i >= 0 else None
            if e is None or not e[0] <= lblk < e[0] + max(e[1], 1):
                # The block may sit in an extent merged away (len 0): search them all.
                e = next((x for x in extents if x[0] <= lblk < x[0] + x[1]), None)
                if e is None:
                    raise ImageError(f"no block mapped at logical block {lblk}")
            pblk = e[2] + (lblk - e[0])
            chunk = data[pos : pos + n]
            if old_size is not None and lblk * BS >= old_size and inblk + n < BS:
                chunk = chunk + b"\0" * (BS - inblk - n)  # a new block: zeros past the data
            img.seek(pblk * BS + inblk)
            img.write(chunk)
            pos += n

    # -- manifest ---------------------------------------------------------------------------

    def manifest(self):
        self.flush()
        rows = []
        for path in sorted(self.files):
            info = self.files[path]
            if info.sha is None:
                h = hashlib.sha256()
                with open(info.host, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                info.sha = h.hexdigest()
            rows.append(f"f\t{path}\t{info.size}\t{info.sha}")
        rows += [f"l\t{p}\t{len(t)}\t{t}" for p, t in sorted(self.links.items())]
        rows += [f"d\t{d}\t0\t-" for d in sorted(self.dirs)]
        return "\n".join(rows) + "\n"
