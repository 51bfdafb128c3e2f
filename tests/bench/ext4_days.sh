#!/usr/bin/env bash
# bench/data/make-ext4-days.sh at 64 MiB, three days, checked from the outside with e2fsprogs:
#   - every image passes e2fsck -fn;
#   - every file, symlink and directory in every image is what the generator says it wrote
#     (debugfs rdump of the whole tree against dayK.manifest.tsv: SHA-256 of every file);
#   - day 2 changed the image the way a running system does: the database and a log kept
#     their blocks and grew past them, a replaced package file got new blocks, and the blocks
#     it left hold the old bytes unless something reused them;
#   - the share of changed 4 KiB blocks (bench/data/diffstat) is in the intended range;
#   - the same seed gives the same bytes, another seed other bytes.
# Skips (77) without python3, e2fsprogs >= 1.47 or sqlite3.
set -euo pipefail
SRC=${PVESAFE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
GEN=$SRC/bench/data/make-ext4-days.sh
DIFFSTAT=$SRC/bench/data/diffstat
export PATH="$PATH:/sbin:/usr/sbin" LC_ALL=C
for tool in python3 mke2fs debugfs e2fsck sqlite3; do
  command -v "$tool" >/dev/null || { echo "ext4_days: $tool not installed, skipping"; exit 77; }
done
ver=$(mke2fs -V 2>&1 | sed -n 's/^mke2fs \([0-9.]*\).*/\1/p')
printf '1.47.0\n%s\n' "$ver" | sort -V -C || { echo "ext4_days: e2fsprogs $ver < 1.47, skipping"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/pvesafe-ext4days.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "ext4_days: FAIL: $*" >&2; exit 1; }
dfs() { debugfs -R "$1" "$2" 2>/dev/null; }

"$GEN" "$T/a" --size 64M --seed 7 --days 3
for d in 1 2 3; do
  [[ $(stat -c %s "$T/a/day$d.img") == $((64 * 1024 * 1024)) ]] || fail "day$d.img is not 64 MiB"
  e2fsck -fn "$T/a/day$d.img" > "$T/fsck.out" 2>&1 || { cat "$T/fsck.out"; fail "e2fsck -fn day$d.img"; }
done
echo "ok: three images, all clean for e2fsck -fn"

# Every file reads back as written.
for d in 1 2 3; do
  m=$T/a/day$d.manifest.tsv
  mkdir "$T/rd$d"
  debugfs -R "rdump / $T/rd$d" "$T/a/day$d.img" > "$T/rdump.out" 2>&1
  grep -v '^debugfs ' "$T/rdump.out" && fail "rdump of day$d reported errors"
  awk -F'\t' '$1=="f"{print $4"  ."$2}' "$m" > "$T/sums"
  (cd "$T/rd$d" && sha256sum --quiet -c "$T/sums") || fail "day$d: files differ from the manifest"
  diff <(cd "$T/rd$d" && find . -type f | sed 's|^\.||' | sort) <(awk -F'\t' '$1=="f"{print $2}' "$m" | sort) \
    || fail "day$d: the set of files differs from the manifest"
  diff <(cd "$T/rd$d" && find . -type l -printf '%p\t%l\n' | sed 's|^\.||' | sort) \
       <(awk -F'\t' '$1=="l"{print $2"\t"$4}' "$m" | sort) || fail "day$d: symlinks differ from the manifest"
  diff <(cd "$T/rd$d" && find . -type d | sed 's|^\.$|/|;s|^\.||' | sort) <(awk -F'\t' '$1=="d"{print $2}' "$m" | sort) \
    || fail "day$d: directories differ from the manifest"
  echo "ok: day$d: $(wc -l < "$T/sums") files read back with the SHA-256 the generator recorded"
  rm -rf "$T/rd$d"
done
grep -q $'^rewritten in place\t/var/lib/shop/shop.db' "$T/a/day2.changes.tsv" || fail "day 2 did not rewrite the database"
grep -q $'^replaced\t/usr/' "$T/a/day2.changes.tsv" || fail "day 2 upgraded no package"
grep -q $'^appended\t/var/log/' "$T/a/day2.changes.tsv" || fail "day 2 appended to no log"
grep -q $'^deleted\t' "$T/a/day2.changes.tsv" || fail "day 2 deleted nothing"

# In place: the database and a weekly log keep the blocks of their day-1 content and grow.
lmap() {  # IMAGE PATH N: the physical blocks of the file's logical blocks 0..N-1
  local i
  for ((i = 0; i < $3; i++)); do echo "bmap $2 $i"; done > "$T/bmap.cmd"
  debugfs -f "$T/bmap.cmd" "$1" 2>/dev/null | grep -v '^debugfs'
}
size_of() { dfs "stat $2" "$1" | sed -n 's/^User:.*Size: \([0-9]*\).*/\1/p'; }
for f in /var/lib/shop/shop.db /var/log/auth.log; do
  s1=$(size_of "$T/a/day1.img" $f) s2=$(size_of "$T/a/day2.img" $f)
  (( s2 > s1 )) || fail "$f did not grow ($s1 -> $s2)"
  n=$(( (s1 + 4095) / 4096 ))
  m1=$(lmap "$T/a/day1.img" $f $n) m2=$(lmap "$T/a/day2.img" $f $n)
  [[ $(wc -l <<< "$m1") == "$n" && "$m1" == "$m2" ]] || fail "$f: its first $n blocks moved between day 1 and day 2"
done
echo "ok: the database and auth.log kept their blocks and grew"

# Replaced: the package files upgraded on day 2 live in new blocks; the old blocks that nothing
# reused still hold the day-1 bytes (ext4 does not clear freed blocks).
awk -F'\t' '$1=="replaced" && $2 ~ /^\/usr\// {print $2}' "$T/a/day2.changes.tsv" > "$T/replaced"
[[ -s "$T/replaced" ]] || fail "no package file replaced on day 2"
: > "$T/old_blocks"
while read -r f; do
  old=$(dfs "blocks $f" "$T/a/day1.img" | tr ' ' '\n' | sed '/^$/d' | sort)
  new=$(dfs "blocks $f" "$T/a/day2.img" | tr ' ' '\n' | sed '/^$/d' | sort)
  [[ -n "$old" && -n "$new" ]] || continue
  [[ -z "$(comm -12 <(echo "$old") <(echo "$new"))" ]] || fail "$f was rewritten in its old blocks"
  echo "$old" >> "$T/old_blocks"
done < "$T/replaced"
sed 's/^/testb /' "$T/old_blocks" > "$T/testb.cmd"
debugfs -f "$T/testb.cmd" "$T/a/day2.img" 2>/dev/null | sed -n 's/^Block \([0-9]*\) not in use$/\1/p' > "$T/freed"
read -r stale changed < <(python3 - "$T/a/day1.img" "$T/a/day2.img" "$T/freed" <<'PY'
import sys
a, b = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
same = diff = 0
for line in open(sys.argv[3]):
    blk = int(line)
    a.seek(blk * 4096); b.seek(blk * 4096)
    if a.read(4096) == b.read(4096):
        same += 1
    else:
        diff += 1
print(same, diff)
PY
)
(( changed == 0 )) || fail "$changed freed blocks of replaced files changed although nothing uses them"
(( stale > 0 )) || fail "every old block of the replaced files was reused: nothing was checked"
echo "ok: $(wc -l < "$T/replaced") upgraded package files moved to new blocks;" \
  "$stale of their $(wc -l < "$T/old_blocks") old blocks are free and keep the old bytes"

# The share of changed blocks: about 2.9% at 1 GiB; a 64 MiB image changes a little more
# (3-4%), because some of a day's activities have a minimum size.
for d in 2 3; do
  read -r share bytes < <("$DIFFSTAT" --json "$T/a/day$((d - 1)).img" "$T/a/day$d.img" |
    python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["changed_share"], s["changed_bytes"])')
  python3 -c "import sys; sys.exit(not 0.02 <= $share <= 0.05)" ||
    fail "day $((d - 1)) -> $d changed a share of $share of the blocks, outside 2-5%"
  echo "ok: day $((d - 1)) -> $d: $(python3 -c "print(f'{100 * $share:.2f}')")% of the blocks changed ($bytes bytes)"
done

# Determinism.
"$GEN" "$T/b" --size 64M --seed 7 --days 2
for f in day1.img day2.img day1.manifest.tsv day2.manifest.tsv day2.changes.tsv; do
  cmp "$T/a/$f" "$T/b/$f" || fail "two runs with seed 7 differ in $f"
done
"$GEN" "$T/c" --size 64M --seed 8 --days 1
cmp -s "$T/a/day1.img" "$T/c/day1.img" && fail "seeds 7 and 8 gave the same image"
echo "ok: seed 7 twice gives identical images, seed 8 another one"
