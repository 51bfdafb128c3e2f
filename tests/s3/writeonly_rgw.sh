#!/usr/bin/env bash
# The intruder on a backup host, against a real Ceph RGW (docs/s3.md, "Least-privilege policies";
# docs/format.md, "Write-only backup hosts"). `pvesafe iam-policy` output is applied to three RGW
# users through the IAM user-policy API:
#   backup   (role backup)  the backup host: a write-only key, no secret key
#   restore  (role restore) the restore host: read only, with the secret key
#   admin    (role admin)   the host that prunes
# Then, with everything the backup host holds (its passphrase file, its S3 keys, pvesafe, gpg),
# the intruder cannot: restore or decrypt any data chunk; delete or hide an object; shorten or
# bypass a retention; read or write outside the prefix. Its overwrites of a manifest, a pack and
# an index object are new versions beside the locked originals, which pvesafe reads: the snapshot
# taken before the intrusion restores bit-identical on the restore host, whose own policy cannot
# write. --negative-control removes each protection (the backup host holds the full key and the
# secret key; the users get s3:* on the bucket; readers read the newest versions) and passes only
# if every check that passes above then fails.
source "$(dirname "$0")/../repo/lib.sh"
source "$(dirname "$0")/lib.sh"
CONTROL=0
[[ "${1:-}" == --negative-control ]] && CONTROL=1
command -v gpg > /dev/null || { echo "SKIP: gpg missing"; exit 77; }
AWS=$(command -v /usr/bin/aws || command -v aws || true)
[[ -n "$AWS" ]] || { echo "SKIP: awscli missing"; exit 77; }
s3_start_rgw
S3REQ="$PVESAFE_SOURCE_DIR/tests/s3/s3req.py"
DATA="$PVESAFE_SOURCE_DIR/tests/crypto/data"
EP=$PVESAFE_TEST_S3_ENDPOINT
RGWADMIN=(radosgw-admin -c "$T/rgw/ceph.conf" -n client.admin)
BUCKET=wo-$$
PREFIX=repo
REPO="s3://$BUCKET/$PREFIX"
O=(-o "s3.endpoint=$EP" -o s3.path-style=true -o s3.retention-days=1)

# --- users and policies ---------------------------------------------------------------------
"${RGWADMIN[@]}" caps add --uid=pvesafe --caps="user-policy=*;users=*" > /dev/null
declare -A AK SK
for u in backup restore admin; do
  AK[$u]=$(printf '%-20s' "PVESAFE${u^^}KEY" | tr ' ' 0 | cut -c1-20)
  SK[$u]="secret-of-$u-0123456789abcdefghijklmnopq"
  "${RGWADMIN[@]}" user create --uid "$u" --display-name "$u" --access-key "${AK[$u]}" --secret-key "${SK[$u]}" > /dev/null
done
"$AWS" --endpoint-url "$EP" s3api create-bucket --bucket "$BUCKET" --object-lock-enabled-for-bucket > /dev/null
for u in backup restore admin; do
  if [[ $CONTROL == 1 ]]; then
    printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::%s","arn:aws:s3:::%s/*"]}]}' \
      "$BUCKET" "$BUCKET" > "$T/$u.policy"
  else
    psafe iam-policy --bucket "$BUCKET" --prefix "$PREFIX" --role "$u" > "$T/$u.policy"
  fi
  "$AWS" --endpoint-url "$EP" iam put-user-policy --user-name "$u" --policy-name pvesafe \
    --policy-document "file://$T/$u.policy"
done
as() { local u=$1; shift; AWS_ACCESS_KEY_ID=${AK[$u]} AWS_SECRET_ACCESS_KEY=${SK[$u]} "$@"; }
req() { local u=$1; shift; S3REQ_ENDPOINT=$EP S3REQ_ACCESS_KEY=${AK[$u]} S3REQ_SECRET_KEY=${SK[$u]} python3 "$S3REQ" "$@"; }

# --- the admin host creates the repository, with a write-only key for the backup host ------------
FULLPASS=$PASSFILE
WOPASS="$T/host/writeonly.pass"
mkdir -p -m 700 "$T/host" "$T/restore-host"
( umask 077; echo "backup host passphrase" > "$WOPASS"
  cp "$DATA/gpg_cv25519.sec.asc" "$T/restore-host/secret.asc"; echo "pvesafe fixture" > "$T/restore-host/secret.pass" )
as admin psafe -r "$REPO" "${O[@]}" init --passphrase-file "$FULLPASS" --recipient "$DATA/gpg_cv25519.pub.asc" > /dev/null
as admin psafe -r "$REPO" "${O[@]}" key add --passphrase-file "$FULLPASS" --write-only --new-passphrase-file "$WOPASS" > /dev/null
HOST_PASS=$WOPASS
HOST_SECRET=()
if [[ $CONTROL == 1 ]]; then
  # Without write-only mode the backup host holds what reads every backup.
  cp "$FULLPASS" "$T/host/full.pass"; cp "$T/restore-host/secret.asc" "$T/restore-host/secret.pass" "$T/host/"
  HOST_PASS="$T/host/full.pass"
  HOST_SECRET=(--secret-key "$T/host/secret.asc" --secret-key-passphrase-file "$T/host/secret.pass")
fi

# --- backups before the intrusion ------------------------------------------------------------
gen_image --size $((40 * 1024 * 1024)) --seed 21 > "$T/day1.img"
gen_image --size $((40 * 1024 * 1024)) --seed 21 --mutate-percent 4 --mutate-regions 2 --mutate-seed 3 > "$T/day2.img"
as backup psafe -r "$REPO" "${O[@]}" --json backup --passphrase-file "$HOST_PASS" "$T/day1.img" > "$T/a.json"
as backup psafe -r "$REPO" "${O[@]}" --json backup --passphrase-file "$HOST_PASS" "$T/day2.img" > "$T/b.json"
A=$(json_field "$T/a.json" snapshot_id)
note "snapshots $A (day 1) and $(json_field "$T/b.json" snapshot_id) (day 2) backed up by the backup host"

# --- the intruder ------------------------------------------------------------------------------
results=()
check() {  # check NAME BLOCKED(0|1): record whether the protection held
  results+=("$1:$2")
  if [[ $2 == 1 ]]; then echo "  blocked:     $1"; else echo "  NOT blocked: $1"; fi
}
status() { head -1; }

note "intruder: restore with what the host holds"
rc=0; as backup psafe -r "$REPO" "${O[@]}" restore --passphrase-file "$HOST_PASS" "${HOST_SECRET[@]}" "$A" --to "$T/stolen.img" \
  > /dev/null 2> "$T/err" || rc=$?
[[ $rc != 0 ]] && cat "$T/err"
check "pvesafe restore" $([[ $rc == 4 ]] && echo 1 || echo 0)

note "intruder: decrypt a data chunk with gpg and every secret of the host"
as backup "$AWS" --endpoint-url "$EP" s3 cp --recursive --quiet "s3://$BUCKET/$PREFIX/" "$T/copy/"
mkdir -p -m 700 "$T/gnupg-intruder"
: > "$T/intruder.pass"
for k in "$T"/copy/keys/*; do
  if GNUPGHOME="$T/gnupg-intruder" gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$HOST_PASS" \
       --decrypt "$k" > "$T/key.json" 2> /dev/null; then
    sed -n 's/^ *"\(structure\|data\)_passphrase": "\([0-9a-f]*\)",*$/\2/p' "$T/key.json" > "$T/intruder.pass"
  fi
done
[[ -s "$T/intruder.pass" ]] || { echo "FAIL: the host's own key file does not open"; exit 1; }
if [[ $CONTROL == 1 ]]; then
  GNUPGHOME="$T/gnupg-intruder" gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$T/host/secret.pass" \
    --import "$T/host/secret.asc" 2> /dev/null
fi
pack=$(find "$T/copy/packs" -type f | head -1)
python3 "$PVESAFE_SOURCE_DIR/tests/repo/first_message.py" "$pack" "$T/chunk.gpg"
rc=0
GPGPASS="$T/intruder.pass"
[[ $CONTROL == 1 ]] && GPGPASS="$T/host/secret.pass"
GNUPGHOME="$T/gnupg-intruder" gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$GPGPASS" \
  --decrypt "$T/chunk.gpg" > "$T/chunk.zst" 2> /dev/null || rc=$?
opened=0
[[ -s "$T/chunk.zst" ]] && zstd -dq < "$T/chunk.zst" > "$T/chunk.plain" 2> /dev/null && [[ -s "$T/chunk.plain" ]] && opened=1
check "gpg decrypt of a data chunk" $([[ $opened == 0 ]] && echo 1 || echo 0)

MANIFEST="$PREFIX/snapshots/$A"
PACK_KEY="${pack#$T/copy/}"; PACK_KEY="$PREFIX/$PACK_KEY"
INDEX_KEY="$PREFIX/index/$(basename "$(find "$T/copy/index" -type f | head -1)")"
vid() { req admin GET "/$BUCKET?versions&prefix=$1" | sed -n 's/.*<VersionId>\([^<]*\)<\/VersionId>.*/\1/p' | head -1; }
MVID=$(vid "$MANIFEST")

note "intruder: delete"
check "DELETE manifest (delete marker)" $([[ $(req backup DELETE "/$BUCKET/$MANIFEST" | status) == 403 ]] && echo 1 || echo 0)
check "DELETE pack" $([[ $(req backup DELETE "/$BUCKET/$PACK_KEY" | status) == 403 ]] && echo 1 || echo 0)
code=$(req backup DELETE "/$BUCKET/$MANIFEST?versionId=$MVID" --header "x-amz-bypass-governance-retention: true" | status)
check "DELETE manifest version with governance bypass" $([[ $code == 403 ]] && echo 1 || echo 0)

note "intruder: shorten the manifest's retention"
soon=$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%S.000Z)
body="<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>GOVERNANCE</Mode><RetainUntilDate>$soon</RetainUntilDate></Retention>"
code=$(printf '%s' "$body" | req backup PUT "/$BUCKET/$MANIFEST?retention&versionId=$MVID" --body - --md5 | status)
check "shorten retention" $([[ $code == 403 ]] && echo 1 || echo 0)
code=$(printf '%s' "$body" | req backup PUT "/$BUCKET/$MANIFEST?retention&versionId=$MVID" --body - --md5 \
  --header "x-amz-bypass-governance-retention: true" | status)
check "shorten retention with governance bypass" $([[ $code == 403 ]] && echo 1 || echo 0)

note "intruder: outside the prefix"
check "PUT outside the prefix" $([[ $(echo x | req backup PUT "/$BUCKET/elsewhere/x" --body - | status) == 403 ]] && echo 1 || echo 0)
check "GET outside the prefix" $([[ $(req backup GET "/$BUCKET/elsewhere/x" | status) == 403 ]] && echo 1 || echo 0)

note "intruder: overwrite a manifest, a pack and an index object with garbage"
head -c 4096 /dev/urandom > "$T/garbage"
for k in "$MANIFEST" "$PACK_KEY" "$INDEX_KEY"; do
  echo "  PUT $k: HTTP $(req backup PUT "/$BUCKET/$k" --body "$T/garbage" | status) (a new version)"
done

note "restore host (read-only keys, secret key): the snapshot from before the intrusion"
ORIG=()
[[ $CONTROL == 1 ]] && ORIG=(-o s3.read-original-versions=false)
rc=0
as restore psafe -r "$REPO" "${O[@]}" "${ORIG[@]}" restore --passphrase-file "$FULLPASS" \
  --secret-key "$T/restore-host/secret.asc" --secret-key-passphrase-file "$T/restore-host/secret.pass" \
  "$A" --to "$T/restored.img" > /dev/null 2> "$T/restore.err" || rc=$?
cat "$T/restore.err"
check "overwrite changes what is restored" $([[ $rc == 0 ]] && cmp -s "$T/restored.img" "$T/day1.img" && echo 1 || echo 0)
check "restore host PUT" $([[ $(echo x | req restore PUT "/$BUCKET/$PREFIX/snapshots/x" --body - | status) == 403 ]] && echo 1 || echo 0)
check "restore host DELETE" $([[ $(req restore DELETE "/$BUCKET/$MANIFEST" | status) == 403 ]] && echo 1 || echo 0)

note "admin host: verify --read-data sees the original versions"
if [[ $CONTROL == 0 ]]; then
  as admin psafe -r "$REPO" "${O[@]}" verify --read-data --passphrase-file "$FULLPASS" \
    --secret-key "$T/restore-host/secret.asc" --secret-key-passphrase-file "$T/restore-host/secret.pass" > "$T/verify.out" 2>&1
  cat "$T/verify.out"
  grep -q "no problems" "$T/verify.out"
fi

held=0 broke=0
for r in "${results[@]}"; do [[ ${r##*:} == 1 ]] && held=$((held + 1)) || broke=$((broke + 1)); done
if [[ $CONTROL == 0 ]]; then
  [[ $broke == 0 ]] || { echo "FAIL: $broke protections did not hold"; exit 1; }
  echo "PASS: all $held protections held"
else
  [[ $held == 0 ]] || { echo "FAIL (negative control): $held checks still passed without their protection"; exit 1; }
  echo "PASS (negative control): without the protections all $broke checks fail"
fi
