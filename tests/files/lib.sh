# Helpers of the files and mount tests (sourced after ../nbd/lib.sh and ../instant/lib.sh's
# guest helpers):
#   make_repo                  a repository in $REPO with passphrase file $PASS; sets PV (the
#                              flags to pass: --repo ... --passphrase-file ...)
#   backup_disk IMAGE [NAME]   make-archive vma + backup of IMAGE as drive-scsi0 (or NAME);
#                              sets SNAP
#   json_field FILE EXPR       python expression over j = the JSON in FILE
PVESIM_BIN=${PVESIM_BIN:-$PVESAFE_BUILD_DIR/bin/pvesim}
[[ -x "$PVESIM_BIN" ]] || { echo "SKIP: pvesim not built ($PVESIM_BIN)" >&2; exit 77; }

make_repo() {
  PASS=$T/pass; (umask 077; echo "files test passphrase" > "$PASS")
  REPO=$T/repo
  PV=(--repo "$REPO" --passphrase-file "$PASS")
  "$PVESAFE_BIN" init "${PV[@]}" > /dev/null
}

backup_disk() {
  local img=$1 name=${2:-drive-scsi0} n=$RANDOM
  printf 'boot: order=scsi0\nname: files-test\nscsi0: local-lvm:vm-100-disk-0,size=1G\n' > "$T/qemu-server.conf"
  local vma=$T/vzdump-qemu-100-2026_12_0$((n % 9 + 1))-01_00_00.vma
  "$PVESIM_BIN" make-archive vma --disk "$name=$img" --config "$T/qemu-server.conf" --out "$vma" > /dev/null
  "$PVESAFE_BIN" backup "${PV[@]}" --json "$vma" > "$T/backup.json"
  SNAP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["snapshot_id"])' "$T/backup.json")
  rm -f "$vma"
}

json_field() {
  python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}

GUEST_DIR=$PVESAFE_SOURCE_DIR/tests/guest
build_test_guest() { "$GUEST_DIR/build_guest.sh" "$@" >/dev/null || exit $?; }
payload_md5() {
  head -c $(($1 << 20)) /dev/zero | openssl enc -aes-128-ctr -K 000102030405060708090a0b0c0d0e0f \
    -iv 00000000000000000000000000000000 -nosalt | md5sum | cut -d' ' -f1
}
