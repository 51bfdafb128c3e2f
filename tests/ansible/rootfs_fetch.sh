#!/usr/bin/env bash
# The rootfs helper of the Ansible tests on a machine where the Debian mirror cannot be reached:
# it retries, then fails with one line naming the mirror and leaves no partial tarball; and
# rootfs_extract never downloads (it runs inside network namespaces), it names the missing cache.
source "$(dirname "$0")/lib/common.sh"
need curl zstd
export PVESAFE_CACHE_DIR="$T/cache"
# A loopback port nothing listens on.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export ROOTFS_MIRROR="http://127.0.0.1:$port/debian" ROOTFS_ATTEMPTS=2 ROOTFS_RETRY_DELAY=1
source "$(dirname "$0")/lib/rootfs.sh"

rc=0
(rootfs_tarball) > "$T/out" 2> "$T/err" || rc=$?
cat "$T/err"
[[ $rc != 0 ]] || fail "rootfs_tarball succeeded with an unreachable mirror"
[[ $(grep -c 'retrying in 1 s' "$T/err") == 1 ]] || fail "expected one retry after 1 s"
last=$(tail -n 1 "$T/err")
[[ $last == "rootfs: Debian mirror $ROOTFS_MIRROR is unreachable after 2 attempts"* ]] ||
  fail "last line does not name the unreachable mirror: $last"
[[ ! -s $T/out ]] || fail "a tarball path was printed on failure"
leftovers=$(find "$PVESAFE_CACHE_DIR" -mindepth 1 ! -name .rootfs.lock)
[[ -z $leftovers ]] || fail "partial build left in the cache: $leftovers"

rc=0
(rootfs_extract "$T/root") 2> "$T/err2" || rc=$?
[[ $rc != 0 ]] || fail "rootfs_extract succeeded without a cached tarball"
grep -q "^rootfs: no cached rootfs at $PVESAFE_CACHE_DIR/.*; call rootfs_tarball before entering a network namespace" "$T/err2" ||
  fail "rootfs_extract did not name the missing cache: $(cat "$T/err2")"
[[ ! -e $T/root ]] || fail "rootfs_extract created the target without a tarball"

# With a cached tarball, extracting needs no network: run it in a fresh network namespace when
# this machine lets us make one.
mkdir -p "$T/src/etc" && echo bookworm > "$T/src/etc/debian_version"
tar -C "$T/src" -I zstd -cf "$(rootfs_path)" .
if unshare -r -n true 2> /dev/null; then
  unshare -r -n bash -c 'source "$1"; rootfs_extract "$2"' sh "$(dirname "$0")/lib/rootfs.sh" "$T/root" ||
    fail "rootfs_extract of a cached tarball failed without network"
else
  rootfs_extract "$T/root"
fi
[[ $(cat "$T/root/etc/debian_version") == bookworm ]] || fail "extracted rootfs is not the cached one"
echo "ok: unreachable mirror reported in one line after 2 attempts; extract uses only the cache"
