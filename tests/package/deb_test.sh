#!/usr/bin/env bash
# The Debian package: lintian finds nothing (errors or warnings), and an install / upgrade /
# remove / reinstall / purge cycle in a Debian 12 root (apt from a signed local repository, no
# network) keeps the administrator's edit of the conffile /etc/pvesafe/pvesafe.toml, which pvesafe
# reads (with the environment and flags taking precedence).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../ansible/lib/common.sh"
need lintian dpkg-deb apt-ftparchive gpg unshare zstd debootstrap
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root for chroot"; exit 77; }
source "$here/../ansible/lib/rootfs.sh"
source "$here/lib/apt_repo.sh"
DEB_DIR=${PVESAFE_DEB_DIR:-$PVESAFE_BUILD_DIR/deb}
new=$(ls "$DEB_DIR"/pvesafe_*_amd64.deb | sort -V | tail -n1)
old=$(ls "$DEB_DIR"/pvesafe_*_amd64.deb | sort -V | head -n1)
new_v=$(dpkg-deb -f "$new" Version) old_v=$(dpkg-deb -f "$old" Version)
[[ $new_v != "$old_v" ]] || fail "need the package and its previous release in $DEB_DIR"

if [[ -z ${PVESAFE_IN_NS:-} ]]; then
  echo "== lintian $(basename "$new")"
  lintian --fail-on error,warning --tag-display-limit 0 "$new" 2>&1 | tee "$T/lintian.log" || {
    fail "lintian reports errors or warnings"; }
  rootfs_tarball >/dev/null
  DEPS=$(apt_repo_deps "$new" | tr '\n' ' ')
  rm -rf "$T"; trap - EXIT
  exec unshare --mount --net --propagation private env PVESAFE_IN_NS=1 DEPS="$DEPS" bash "$0" "$@"
fi

ROOT="$T/root"
rootfs_extract "$ROOT"
mount --bind /dev "$ROOT/dev" && mount -t proc proc "$ROOT/proc"
CLEANUP+=("umount -l '$ROOT/proc'" "umount -l '$ROOT/dev'")
apt_repo_make "$ROOT/srv/repo" "$new" "$old" $DEPS
cat >"$ROOT/etc/apt/sources.list.d/pvesafe.sources" <<S
Types: deb
URIs: file:/srv/repo
Suites: ./
Signed-By: /srv/repo/key.asc
S
in_root() { chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
apt() { in_root apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >>"$T/apt.log" 2>&1 ||
          { tail -n 20 "$T/apt.log"; fail "apt-get $*"; }; }
conffile=/etc/pvesafe/pvesafe.toml
# pvesafe's one-line error for a repository that does not exist names the repository it used.
# (It fails, so its output is captured first: under pipefail a pipe would report that failure.)
repo_named() { local out; out=$(in_root "${@:2}" 2>&1) || true; [[ $out == *"$1"* ]]; }

echo "== install $old_v"
apt update
apt install "pvesafe=$old_v"
in_root dpkg-query -W -f '${Conffiles}\n' pvesafe | grep -q "^ $conffile " || fail "$conffile is not a conffile"
in_root pvesafe version | grep -q . || fail "the installed pvesafe does not run"
in_root pvesim --help >/dev/null || fail "the installed pvesim does not run"
for f in /lib/systemd/system/pvesafe-backup.timer /lib/systemd/system/pvesafe-exporter.service \
         /usr/share/man/man1/pvesafe.1.gz /usr/share/doc/pvesafe/config.md /usr/share/doc/pvesafe/copyright \
         /usr/share/pvesafe/prometheus/rules/pvesafe.rules.yml; do
  [[ -e $ROOT$f ]] || fail "the package lacks $f"
done
[[ -z $(find "$ROOT/etc/systemd/system" -name 'pvesafe-*' 2>/dev/null) ]] || fail "units were enabled at install"
in_root pvesafe snapshots >/dev/null 2>&1 && fail "no repository configured, yet snapshots succeeded"

echo "== edit the conffile, upgrade to $new_v"
sed -i 's|^# repository = .*|repository = "/srv/edited-by-admin"|' "$ROOT$conffile"
grep -q '^repository = "/srv/edited-by-admin"' "$ROOT$conffile" || fail "could not edit the conffile"
repo_named /srv/edited-by-admin pvesafe snapshots || fail "pvesafe does not read $conffile"
apt install pvesafe
[[ $(in_root dpkg-query -W -f '${Version}' pvesafe) == "$new_v" ]] || fail "not upgraded"
grep -q '^repository = "/srv/edited-by-admin"' "$ROOT$conffile" || fail "the upgrade lost the edited conffile"
[[ -f $ROOT$conffile.dpkg-dist ]] && grep -q '^\[exporter\]' "$ROOT$conffile.dpkg-dist" ||
  fail "the new default was not left beside the edited file as .dpkg-dist"
echo "== precedence: file < environment < flag"
repo_named /srv/edited-by-admin pvesafe snapshots || fail "file"
repo_named /srv/from-env env PVESAFE_REPOSITORY=/srv/from-env pvesafe snapshots || fail "environment over file"
repo_named /srv/from-flag env PVESAFE_REPOSITORY=/srv/from-env pvesafe snapshots --repo /srv/from-flag || fail "flag over environment"
printf '[exporter]\nlisten = "x"\nnot-a-flag = 1\n' >"$T/bad.toml"
cp "$T/bad.toml" "$ROOT/tmp/bad.toml"
out=$(in_root pvesafe --config /tmp/bad.toml snapshots 2>&1) && fail "a bad config file was accepted"
[[ $out == *"config /tmp/bad.toml: line 3: key 'not-a-flag': exporter has no flag --not-a-flag"* ]] || fail "bad config: $out"

echo "== remove (the conffile stays), reinstall, purge"
apt remove pvesafe
[[ $(in_root dpkg-query -W -f '${db:Status-Abbrev}' pvesafe) == "rc " ]] || fail "not in state rc after remove"
grep -q '^repository = "/srv/edited-by-admin"' "$ROOT$conffile" || fail "remove deleted the edited conffile"
[[ ! -e $ROOT/usr/bin/pvesafe ]] || fail "remove left the binary"
apt install pvesafe
grep -q '^repository = "/srv/edited-by-admin"' "$ROOT$conffile" || fail "reinstall replaced the edited conffile"
apt purge pvesafe
[[ ! -e $ROOT$conffile ]] || fail "purge left $conffile"
echo "ok: lintian clean; install $old_v, upgrade to $new_v, remove, reinstall keep the edited $conffile; purge removes it"
