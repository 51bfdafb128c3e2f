#!/usr/bin/env bash
# Write-only backup hosts (docs/format.md, "Write-only backup hosts"): a repository made with
# --recipient encrypts data chunks to an OpenPGP key. A host with a write-only key backs up and
# dedups but cannot restore or read any data chunk, with pvesafe or with gpg; a restore host
# restores bit-identical with the secret key from a file (RSA and Curve25519), gpg-agent or a
# command; gpg, sq and rnp open the data chunks with the secret key alone. Bad input: a missing or
# wrong secret key, a key pvesafe cannot encrypt to, admin commands with a write-only key.
source "$(dirname "$0")/lib.sh"
command -v gpg > /dev/null || { echo "SKIP: gpg missing"; exit 77; }
DATA="$PVESAFE_SOURCE_DIR/tests/crypto/data"
# gpg commands without their own home use one in the scratch directory, never ~/.gnupg.
export GNUPGHOME="$T/gnupg"; mkdir -m 700 "$GNUPGHOME"

FULLPASS="$PASSFILE"
WOPASS="$T/writeonly.pass"; ( umask 077; echo "backup host passphrase" > "$WOPASS" )
IMG1="$T/disk-day1.img" IMG2="$T/disk-day2.img"
gen_image --size $((24 * 1024 * 1024)) --seed 11 > "$IMG1"
gen_image --size $((24 * 1024 * 1024)) --seed 11 --mutate-percent 5 --mutate-regions 4 --mutate-seed 2 > "$IMG2"

# Secret keys as a restore host keeps them (mode 600, as pvesafe requires of secret files).
( umask 077
  cp "$DATA/gpg_rsa3072.sec.gpg" "$T/rsa.sec"
  cp "$DATA/gpg_cv25519.sec.asc" "$T/cv.sec"
  echo "pvesafe fixture" > "$T/cv.sec.pass" )

run_mode() {
  local name=$1 pub=$2 seckey=$3; shift 3
  local SK=(--secret-key "$seckey" "$@")
  note "$name: init with a recipient, a write-only key for the backup host"
  local REPO; REPO=$(new_repo)
  psafe -r "$REPO" --json init --passphrase-file "$FULLPASS" --recipient "$pub" > "$T/init.json"
  grep -q '"format": 3' "$T/init.json"
  psafe -r "$REPO" key add --passphrase-file "$FULLPASS" --write-only --new-passphrase-file "$WOPASS" > /dev/null
  psafe -r "$REPO" --json key list --passphrase-file "$WOPASS" > "$T/keys.json"
  python3 - "$T/keys.json" <<'EOF'
import json, sys
keys = json.load(open(sys.argv[1]))
modes = sorted(k["mode"] for k in keys)
assert modes == ["full", "write-only"], keys
assert [k["mode"] for k in keys if k["current"]] == ["write-only"], keys
EOF
  psafe -r "$REPO" key public --passphrase-file "$WOPASS" > "$T/exported.asc"
  grep -q "BEGIN PGP PUBLIC KEY BLOCK" "$T/exported.asc"
  [[ "$(gpg --show-keys --with-colons "$T/exported.asc" | awk -F: '/^fpr/{print $10; exit}')" == \
     "$(gpg --show-keys --with-colons "$pub" | awk -F: '/^fpr/{print $10; exit}')" ]]

  note "$name: the backup host backs up twice (the second dedups)"
  psafe -r "$REPO" --json backup --passphrase-file "$WOPASS" "$IMG1" > "$T/b1.json"
  psafe -r "$REPO" --json backup --passphrase-file "$WOPASS" "$IMG2" > "$T/b2.json"
  [[ $(json_num "$T/b2.json" reused_chunks) -gt 0 ]]
  local ID; ID=$(json_str "$T/b1.json" snapshot_id)
  psafe -r "$REPO" snapshots --passphrase-file "$WOPASS" | grep -q "${ID:0:8}"
  psafe -r "$REPO" verify --passphrase-file "$WOPASS" > /dev/null

  note "$name: the backup host cannot restore, read data, forget, prune or manage keys (exit 4)"
  expect_exit 4 psafe -r "$REPO" restore --passphrase-file "$WOPASS" "$ID" --to "$T/nope"
  grep -q "no secret key was given" "$T/err"
  [[ ! -e "$T/nope" ]]
  expect_exit 4 psafe -r "$REPO" verify --read-data --passphrase-file "$WOPASS"
  expect_exit 4 psafe -r "$REPO" forget --keep-last 1 --passphrase-file "$WOPASS"
  grep -q "write-only" "$T/err"
  expect_exit 4 psafe -r "$REPO" gc --passphrase-file "$WOPASS"
  expect_exit 4 psafe -r "$REPO" key add --passphrase-file "$WOPASS" --new-passphrase-file "$WOPASS"
  # The full key alone (no secret key) does not read data either.
  expect_exit 4 psafe -r "$REPO" restore --passphrase-file "$FULLPASS" "$ID" --to "$T/nope"

  note "$name: a data chunk does not open with anything the backup host holds, with gpg"
  extract_chunks "$REPO"
  [[ -s "$T/data.gpg" ]]
  local SP; SP=$(structure_passphrase "$REPO" "$WOPASS")
  ( umask 077; printf '%s\n' "$SP" > "$T/structure.pass" )
  mkdir -p -m 700 "$T/gpg-empty"
  if GNUPGHOME="$T/gpg-empty" gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$T/structure.pass" \
       --decrypt "$T/data.gpg" > /dev/null 2>&1; then
    echo "FAIL: a data chunk opened with the structure passphrase"; exit 1
  fi
  # ... while the structure (index, lists) does: what a backup host can learn (docs/format.md).
  GNUPGHOME="$T/gpg-empty" gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$T/structure.pass" \
    --decrypt "$T/index.gpg" | zstd -dq > "$T/index.txt"
  head -1 "$T/index.txt" | grep -Eq '^[0-9a-f]{64} [0-9a-f]{64} [0-9]+ [0-9]+ [0-9]+$'

  note "$name: restore hosts restore bit-identical with the secret key"
  psafe -r "$REPO" restore --passphrase-file "$FULLPASS" "${SK[@]}" "$ID" --to "$T/r1.vma" > /dev/null
  cmp "$T/r1.vma" "$IMG1"
  psafe -r "$REPO" restore --passphrase-file "$WOPASS" "${SK[@]}" latest --to "$T/r2.vma" > /dev/null
  cmp "$T/r2.vma" "$IMG2"
  psafe -r "$REPO" verify --read-data --passphrase-file "$FULLPASS" "${SK[@]}" > /dev/null
  rm -f "$T/r1.vma" "$T/r2.vma"

  note "$name: gpg opens a data chunk with the secret key alone"
  mkdir -p -m 700 "$T/gpg-$name"
  GNUPGHOME="$T/gpg-$name" gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$T/cv.sec.pass" \
    --import "$seckey" 2> /dev/null
  GNUPGHOME="$T/gpg-$name" gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$T/cv.sec.pass" \
    --decrypt "$T/data.gpg" | zstd -dq > "$T/data.plain"
  part_of "$T/data.plain" "$IMG1" "$IMG2"
  if command -v sq > /dev/null && [[ "$name" == rsa ]]; then
    # sq (0.27) asks for a protected key's passphrase on a terminal: the unprotected RSA key only.
    sq decrypt --recipient-key "$seckey" "$T/data.gpg" 2> /dev/null | zstd -dq | cmp - "$T/data.plain"
  fi
  if command -v rnp > /dev/null; then
    mkdir -p -m 700 "$T/rnp-$name"
    rnp --homedir "$T/rnp-$name" --import "$seckey" > /dev/null 2>&1 || rnpkeys --homedir "$T/rnp-$name" --import "$seckey" > /dev/null 2>&1
    rnp --homedir "$T/rnp-$name" --password "pvesafe fixture" --decrypt "$T/data.gpg" --output - 2> /dev/null |
      zstd -dq | cmp - "$T/data.plain"
  fi

  note "$name: wrong and missing secret keys are one-line errors, exit 4"
  local other=$T/rsa.sec; [[ "$name" == rsa ]] && other=$T/cv.sec
  expect_exit 4 psafe -r "$REPO" restore --passphrase-file "$FULLPASS" --secret-key "$other" \
    --secret-key-passphrase-file "$T/cv.sec.pass" "$ID" --to "$T/nope"
  [[ $(wc -l < "$T/err") -eq 1 ]]; grep -q "does not open with the secret key" "$T/err"
  [[ ! -e "$T/nope" ]]
  expect_exit 3 psafe -r "$REPO" restore --passphrase-file "$FULLPASS" --secret-key "$T/missing.sec" "$ID" --to "$T/nope"
  [[ $(wc -l < "$T/err") -eq 1 ]]
  LAST_REPO=$REPO LAST_ID=$ID
}

# True when the first file's bytes occur in one of the others (a chunk of a backed-up image).
part_of() {
  python3 - "$@" <<'EOF'
import sys
chunk = open(sys.argv[1], "rb").read()
assert len(chunk) > 0, "empty chunk"
assert any(chunk in open(f, "rb").read() for f in sys.argv[2:]), "chunk is not part of the image"
EOF
}

json_num() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
json_str() { json_num "$@"; }

# The structure passphrase of a key file, as the backup host could read it from its own key.
structure_passphrase() {
  mkdir -p -m 700 "$T/gpg-sp"
  for k in "$1"/keys/*; do
    if GNUPGHOME="$T/gpg-sp" gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$2" --decrypt "$k" \
         2> /dev/null > "$T/key.json"; then
      sed -n 's/^ *"structure_passphrase": "\([0-9a-f]*\)",*$/\1/p' "$T/key.json"
      rm -f "$T/key.json"
      return
    fi
  done
}

# The first data chunk of the first pack (a chunk message that is not structure), its plaintext
# as the restore side sees it, and an index object.
extract_chunks() {
  local pack; pack=$(find "$1/packs" -type f | head -1)
  python3 "$PVESAFE_SOURCE_DIR/tests/repo/first_message.py" "$pack" "$T/data.gpg"
  cp "$(find "$1/index" -type f | head -1)" "$T/index.gpg"
}

# RSA: an unprotected binary key; Curve25519: an armored key protected by a passphrase.
run_mode rsa "$DATA/gpg_rsa3072.pub.gpg" "$T/rsa.sec"
run_mode cv "$DATA/gpg_cv25519.pub.asc" "$T/cv.sec" --secret-key-passphrase-file "$T/cv.sec.pass"

note "gpg-agent and a session key command open the data too"
mkdir -p -m 700 "$T/gnupg-agent"
export GNUPGHOME="$T/gnupg-agent"
# The agent must read this setting when it starts (a restart can race with a busy machine).
echo "allow-loopback-pinentry" >> "$GNUPGHOME/gpg-agent.conf"
on_exit "GNUPGHOME='$GNUPGHOME' gpgconf --kill gpg-agent"
gpg --batch --quiet --import "$T/rsa.sec" 2> /dev/null
psafe -r "$LAST_REPO" restore --passphrase-file "$FULLPASS" --gpg-agent "$LAST_ID" --to "$T/r3.vma" > /dev/null 2>&1 && {
  echo "FAIL: the RSA key opened a repository made for the Curve25519 key"; exit 1; }
gpg --batch --quiet --pinentry-mode loopback --passphrase-file "$T/cv.sec.pass" --import "$T/cv.sec" 2> /dev/null
# The agent unlocks the key with the passphrase pvesafe hands it (loopback pinentry).
psafe -r "$LAST_REPO" restore --passphrase-file "$FULLPASS" --gpg-agent --secret-key-passphrase-file "$T/cv.sec.pass" \
  "$LAST_ID" --to "$T/r3.vma" > /dev/null
cmp "$T/r3.vma" "$IMG1"
# The command form: gpg prints the session key (docs/format.md).
cat > "$T/sk.sh" <<EOF
{ cat; printf '\322\026\001'; head -c 21 /dev/zero; } |
  GNUPGHOME='$GNUPGHOME' gpg -q --batch --pinentry-mode loopback --passphrase-file '$T/cv.sec.pass' --status-fd 3 --show-session-key -d -o /dev/null 3>&1 >/dev/null 2>&1 |
  sed -n 's/^\[GNUPG:\] SESSION_KEY //p'
EOF
psafe -r "$LAST_REPO" restore --passphrase-file "$FULLPASS" --session-key-command "sh $T/sk.sh" "$LAST_ID" --to "$T/r4.vma" > /dev/null
cmp "$T/r4.vma" "$IMG1"
export GNUPGHOME="$T/gnupg"

note "keys pvesafe cannot encrypt to are refused at init, one line"
for bad in gpg_nistp256.pub.asc gpg_sign_only.pub.asc gpg_all_revoked.pub.asc; do
  R=$(new_repo)
  rc=0; psafe -r "$R" init --passphrase-file "$FULLPASS" --recipient "$DATA/$bad" > /dev/null 2> "$T/err" || rc=$?
  [[ $rc -ne 0 && $(wc -l < "$T/err") -eq 1 ]] || { echo "FAIL: $bad: exit $rc"; cat "$T/err"; exit 1; }
  echo "  $bad: exit $rc: $(cat "$T/err")"
  if is_local_repo "$R"; then [[ ! -e "$R/config" ]]; fi
done
note "a write-only key needs a recipient"
R=$(new_repo)
psafe -r "$R" init --passphrase-file "$FULLPASS" > /dev/null
expect_exit 2 psafe -r "$R" key add --passphrase-file "$FULLPASS" --write-only --new-passphrase-file "$WOPASS"
note "audit --backup-repo: a write-only key and a repository without a recipient"
psafe --json audit --backup-repo "$LAST_REPO" --passphrase-file "$WOPASS" > "$T/audit3.json"
psafe --json audit --backup-repo "$R" > "$T/audit2.json"
python3 - "$T/audit3.json" "$T/audit2.json" <<'EOF2'
import json, sys
a3, a2 = (json.load(open(f)) for f in sys.argv[1:3])
def msgs(a, sev):
    return [f["message"] for f in a["findings"] if f["check"] == "backup-security" and f["severity"] == sev]
assert any("write-only: it cannot read any backup" in m for m in msgs(a3, "info")), a3
assert any("no Object Lock" in m for m in msgs(a3, "warning")), a3
assert any("opens all data" in m for m in msgs(a2, "warning")), a2
assert not any("opens all data" in m for m in msgs(a3, "warning")), a3
EOF2

note "generated and weak passphrases"
R=$(new_repo)
psafe -r "$R" init --generate-passphrase "$T/gen.pass" > /dev/null
[[ $(stat -c %a "$T/gen.pass") == 600 ]]
grep -Eq '^[a-z2-7]{6}(-[a-z2-7]{6}){3}$' "$T/gen.pass"
psafe -r "$R" snapshots --passphrase-file "$T/gen.pass" > /dev/null
expect_exit 2 psafe -r "$(new_repo)" init --generate-passphrase "$T/gen.pass"
( umask 077; echo "abc123" > "$T/weak.pass" )
psafe -r "$(new_repo)" init --passphrase-file "$T/weak.pass" > /dev/null 2> "$T/weak.err"
grep -q "is weak" "$T/weak.err"
psafe -r "$(new_repo)" init --passphrase-file "$PASSFILE" > /dev/null 2> "$T/strong.err"
if grep -q "is weak" "$T/strong.err"; then echo "FAIL: a 28-character passphrase called weak"; exit 1; fi
echo "PASS"
