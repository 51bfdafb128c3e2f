#!/usr/bin/env bash
# Shared helpers of the Ansible tests: tool checks, a private work dir with cleanup, a vault with
# random test secrets, and a check that no secret shows up in any output.
set -euo pipefail

ANSIBLE_DIR="${PVESAFE_SOURCE_DIR:?}/deploy/ansible"
export ANSIBLE_CONFIG="$ANSIBLE_DIR/ansible.cfg"
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1 PY_COLORS=0
export ANSIBLE_RETRY_FILES_ENABLED=0

need() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || { echo "SKIP: $t not installed"; exit 77; }
  done
}

# Test work dir; cleanup hooks run in reverse order on exit.
T=$(mktemp -d "${TMPDIR:-/tmp}/pvesafe-ansible.XXXXXX")
chmod 700 "$T"
CLEANUP=()
on_exit() {
  local i
  for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[i]}" || true; done
  rm -rf "$T"
}
trap on_exit EXIT
export ANSIBLE_LOCAL_TEMP="$T/ansible-local" ANSIBLE_HOME="$T/ansible-home"

fail() { echo "FAIL: $*" >&2; exit 1; }

# make_vault DIR: writes DIR/vault.yml (encrypted) and $T/vault-pass (0600) with random secrets,
# remembered in SECRETS for assert_no_secrets.
SECRETS=()
make_vault() {
  local dir=$1
  mkdir -p "$dir"
  head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$T/vault-pass"
  chmod 600 "$T/vault-pass"
  local pass s3 passphrase token
  passphrase="pp-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  s3="s3-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  token="tk-$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
  SECRETS+=("$passphrase" "$s3" "$token")
  umask 077
  cat > "$dir/vault.yml" <<V
---
vault_pvesafe_repository_passphrase: "$passphrase"
vault_pvesafe_s3_access_key_id: "AKIATESTKEY"
vault_pvesafe_s3_secret_access_key: "$s3"
vault_pvesafe_pve_token_secret: "$token"
V
  umask 022
  ansible-vault encrypt --vault-password-file "$T/vault-pass" "$dir/vault.yml" >/dev/null
  grep -q '^\$ANSIBLE_VAULT' "$dir/vault.yml" || fail "vault not encrypted"
}

# assert_no_secrets FILE...: none of the vault secrets appears in the given outputs.
assert_no_secrets() {
  local s f
  for s in "${SECRETS[@]}"; do
    for f in "$@"; do
      if grep -qF -- "$s" "$f"; then fail "a vault secret appears in $f"; fi
    done
  done
}

# recap_changed LOG: sum of changed= over the PLAY RECAP lines.
recap_changed() {
  awk '/^PLAY RECAP/{r=1;next} r && /changed=/{for(i=1;i<=NF;i++) if($i ~ /^changed=/){split($i,a,"=");s+=a[2]}} END{print s+0}' "$1"
}
export ANSIBLE_PIPELINING=1
