#!/usr/bin/env bash
# Test fixture: the pvesafe packages the package and cluster tests install, in $PVESAFE_BUILD_DIR/deb:
#   pvesafe_<version>_amd64.deb   built by scripts/build-deb.sh from this build tree (debhelper)
#   pvesafe_0.0.9_amd64.deb       "the previous release": the same files under an older version,
#                                 with a default pvesafe.toml that lacked the [exporter] table, so
#                                 an upgrade over an edited conffile has something to merge
set -euo pipefail
: "${PVESAFE_SOURCE_DIR:?}" "${PVESAFE_BUILD_DIR:?}"
for t in dpkg-buildpackage dh dpkg-deb fakeroot; do
  command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done
[[ -x $PVESAFE_BUILD_DIR/bin/pvesafe && -x $PVESAFE_BUILD_DIR/bin/pvesim ]] || { echo "SKIP: not built"; exit 77; }
out=$PVESAFE_BUILD_DIR/deb
rm -rf "$out" && mkdir -p "$out"
s=$SECONDS
new=$("$PVESAFE_SOURCE_DIR/scripts/build-deb.sh" "$PVESAFE_BUILD_DIR" "$out")
echo "built $new in $((SECONDS - s)) s"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -R "$new" "$work/pkg"
sed -i 's/^Version: .*/Version: 0.0.9/' "$work/pkg/DEBIAN/control"
conf="$work/pkg/etc/pvesafe/pvesafe.toml"
sed -i '/^\[exporter\]/,$d' "$conf"
(cd "$work/pkg" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print | sed 's|^\./||' | sort |
   xargs md5sum >DEBIAN/md5sums)
fakeroot dpkg-deb -Zxz --build "$work/pkg" "$out/pvesafe_0.0.9_amd64.deb" >/dev/null
echo "built $out/pvesafe_0.0.9_amd64.deb (the previous release)"
