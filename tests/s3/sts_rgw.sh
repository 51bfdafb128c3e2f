#!/usr/bin/env bash
# Temporary credentials from STS AssumeRole, against the gateway's own STS (not a fake): an
# ~/.aws/config profile with role_arn + source_profile, the role allowed only bucket
# sts-allowed. pvesafe backs up, verifies and restores there bit-identical with the role's
# keys; in another bucket the same profile is refused (exit 4) naming the temporary key, which
# shows the role's credentials were used and not the source profile's (it may write anywhere).
# No secret of either appears in any output.
source "$PVESAFE_SOURCE_DIR/tests/repo/lib.sh"
source "$PVESAFE_SOURCE_DIR/tests/s3/lib.sh"
RGW_STS=1 s3_start_rgw
command -v aws > /dev/null || { echo "SKIP: awscli not installed"; exit 77; }
EP=$PVESAFE_TEST_S3_ENDPOINT
CONF=$T/rgw/ceph.conf
admin() { radosgw-admin -c "$CONF" -n client.admin "$@" > "$T/admin.out" 2>&1 || { cat "$T/admin.out"; exit 1; }; }

# The role, what it may do, and who may assume it (set up with the gateway's own tools).
admin caps add --uid pvesafe --caps "roles=*;user-policy=*"
admin role create --role-name=backup-writer --path=/ --assume-role-policy-doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam:::user/pvesafe"]},"Action":["sts:AssumeRole"]}]}'
admin role-policy put --role-name=backup-writer --policy-name=s3 --policy-doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::sts-allowed","arn:aws:s3:::sts-allowed/*"]}]}'
aws --endpoint-url "$EP" iam put-user-policy --user-name pvesafe --policy-name assume \
  --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole"],"Resource":["arn:aws:iam:::role/backup-writer"]}]}'
aws --endpoint-url "$EP" s3 mb s3://sts-allowed > /dev/null
aws --endpoint-url "$EP" s3 mb s3://sts-other > /dev/null

# The profiles, as a backup host would have them; the environment holds no keys.
mkdir -m 700 "$T/aws"
( umask 077
  printf '[profile writer]\nrole_arn = arn:aws:iam:::role/backup-writer\nsource_profile = base\nrole_session_name = pvesafe-test\n' > "$T/aws/config"
  printf '[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$T/aws/credentials" )
BASE_KEY=$AWS_ACCESS_KEY_ID BASE_SECRET=$AWS_SECRET_ACCESS_KEY
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY PVESAFE_TEST_S3_ACCESS_KEY PVESAFE_TEST_S3_SECRET_KEY
export AWS_CONFIG_FILE=$T/aws/config AWS_SHARED_CREDENTIALS_FILE=$T/aws/credentials AWS_PROFILE=writer
OPTS=(-o "s3.endpoint=$EP" -o "s3.sts-endpoint=$EP")
P=(--passphrase-file "$PASSFILE")
# expect_exit, keeping everything pvesafe printed for the secret check at the end.
run() { expect_exit "$@"; cat "$T/out" "$T/err" >> "$T/printed"; }

gen_image --size $((24 * 1024 * 1024)) --seed 5 > "$T/img"
run 0 "$PVESAFE_BIN" "${OPTS[@]}" -r s3://sts-allowed/repo init "${P[@]}"
run 0 "$PVESAFE_BIN" "${OPTS[@]}" -r s3://sts-allowed/repo backup "${P[@]}" "$T/img"
run 0 "$PVESAFE_BIN" "${OPTS[@]}" -r s3://sts-allowed/repo verify --read-data "${P[@]}"
run 0 "$PVESAFE_BIN" "${OPTS[@]}" -r s3://sts-allowed/repo restore "${P[@]}" latest --to "$T/back"
cmp "$T/img" "$T/back" || { echo "FAIL: restore with role credentials differs"; exit 1; }
note "backup, verify --read-data and restore with AssumeRole credentials: bit-identical"
aws_as_base() { AWS_PROFILE=base aws --endpoint-url "$EP" "$@"; }
objects=$(aws_as_base s3 ls s3://sts-allowed/repo/packs/ --recursive | wc -l)
(( objects > 0 )) || { echo "FAIL: no chunks in the bucket"; exit 1; }

# Outside the role's bucket: refused, naming a key that is not the source profile's.
run 4 "$PVESAFE_BIN" "${OPTS[@]}" -r s3://sts-other/repo init "${P[@]}"
grep -q 'access denied' "$T/err" || { echo "FAIL: no access-denied message"; cat "$T/err"; exit 1; }
grep -q "$BASE_KEY" "$T/err" && { echo "FAIL: the source profile's keys were used"; cat "$T/err"; exit 1; }
[[ $(wc -l < "$T/err") == 1 ]] || { echo "FAIL: not a one-line error"; cat "$T/err"; exit 1; }
aws_as_base s3 cp "$T/aws/config" s3://sts-other/probe > /dev/null  # the base user may write there
note "outside the role's bucket: exit 4, $(cat "$T/err")"

# No secret in anything pvesafe printed or logged.
if grep -q -e "$BASE_SECRET" "$T/printed"; then echo "FAIL: the source secret was printed"; exit 1; fi
[[ -s "$T/printed" ]] || { echo "FAIL: nothing was recorded"; exit 1; }
note "sts: ok"
