# Shared helpers of the PVE end-to-end tests (sourced). Everything lives under $WORK (mktemp -d)
# and every server started here is stopped by pve_cleanup, which the tests run from a trap.
#
#   pve_start_sshd      a real OpenSSH sshd on 127.0.0.1:<free port>, generated host key, one
#                       authorized test key; sets SSHD_PORT, SSH_KEY, KNOWN_HOSTS
#   pve_start_pvesim    pvesim with 3 nodes and guests 100-102 over HTTPS; sets PVE_PORT,
#                       PVE_FP, PVE_DATA, PVE_TOKEN_FILE, PVE_AUDITOR_TOKEN_FILE
#   pvesafe_pve ARGS    pvesafe with --repo, passphrase, PVE and SSH flags filled in
#   pve_env_up          all of the above plus an initialised local repository ($REPO, flags in P)
set -euo pipefail

: "${PVESAFE_BIN:?}" "${PVESIM_BIN:?}"
WORK=$(mktemp -d /tmp/pvesafe-pve-test.XXXXXX)
PIDS=()
CLEANUP=()  # extra commands run at exit (e.g. stopping a gateway)

pve_cleanup() {
  local rc=$?
  local c
  for c in "${CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    echo "--- test failed (rc=$rc); logs:" >&2
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "== $f" >&2; tail -20 "$f" >&2; }; done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap pve_cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_fail CODE PATTERN CMD...: CMD must exit with CODE and print PATTERN on stderr.
expect_fail() {
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || rc=$?
  if [ "$rc" -ne "$code" ]; then
    cat "$WORK/out.txt" "$WORK/err.txt" >&2
    fail "expected exit $code, got $rc: $*"
  fi
  grep -qE -- "$pattern" "$WORK/err.txt" || { cat "$WORK/err.txt" >&2; fail "stderr lacks /$pattern/"; }
  [ "$(wc -l <"$WORK/err.txt")" -le 3 ] || { cat "$WORK/err.txt" >&2; fail "error is not short"; }
  echo "ok: exit $code /$pattern/: $(head -c 300 "$WORK/err.txt")"
}

pve_start_sshd() {
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: sshd tests need root"; exit 77; }
  [ -x /usr/sbin/sshd ] || { echo "SKIP: no /usr/sbin/sshd"; exit 77; }
  local d=$WORK/sshd
  mkdir -p "$d" /run/sshd
  chmod 700 "$d"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" -C pvesafe-test-host
  ssh-keygen -q -t ed25519 -N '' -f "$d/client_key" -C pvesafe-test-client
  cp "$d/client_key.pub" "$d/authorized_keys"
  SSH_KEY=$d/client_key
  local try
  for try in 1 2 3 4 5; do
    SSHD_PORT=$(free_port)
    cat >"$d/sshd_config" <<CFG
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel ERROR
CFG
    /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>>"$WORK/sshd.log" &
    SSHD_PID=$!
    local i
    for i in $(seq 1 50); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$SSHD_PORT") 2>/dev/null; then break; fi
      kill -0 "$SSHD_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SSHD_PID" 2>/dev/null; then
      PIDS+=("$SSHD_PID")
      break
    fi
  done
  kill -0 "$SSHD_PID" 2>/dev/null || fail "sshd did not start (see $WORK/sshd.log)"
  KNOWN_HOSTS=$d/known_hosts
  echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$d/host_key.pub")" >"$KNOWN_HOSTS"
  # A known_hosts file naming another key for the same address: a man in the middle.
  ssh-keygen -q -t ed25519 -N '' -f "$d/other_key" -C other
  BAD_KNOWN_HOSTS=$d/known_hosts.bad
  echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$d/other_key.pub")" >"$BAD_KNOWN_HOSTS"
}

pve_start_pvesim() {
  [ -x "$PVESIM_BIN" ] || { echo "SKIP: pvesim not built"; exit 77; }
  PVE_DATA=$WORK/pvesim
  mkdir -p "$PVE_DATA"
  local secret auditor
  secret=$(python3 -c 'import uuid; print(uuid.uuid4())')
  auditor=$(python3 -c 'import uuid; print(uuid.uuid4())')
  (umask 077
   printf 'root@pam!pvesafe=%s Administrator\nauditor@pve!monitor=%s PVEAuditor\n' "$secret" "$auditor" >"$WORK/tokens"
   printf '%s\n' "$secret" >"$WORK/token.secret"
   printf '%s\n' "$auditor" >"$WORK/auditor.secret")
  PVE_TOKEN_FILE=$WORK/token.secret
  PVE_AUDITOR_TOKEN_FILE=$WORK/auditor.secret
  "$PVESIM_BIN" --nodes 3 --guests 3 --port 0 --data-dir "$PVE_DATA" --tokens "$WORK/tokens" \
    --task-seconds "${PVESIM_TASK_SECONDS:-0.1}" ${PVESIM_EXTRA_ARGS:-} >"$WORK/pvesim.out" 2>"$WORK/pvesim.log" &
  PIDS+=($!)
  local i
  for i in $(seq 1 100); do
    grep -q "pvesim listening" "$WORK/pvesim.out" 2>/dev/null && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || fail "pvesim exited (see $WORK/pvesim.log)"
    sleep 0.1
  done
  local line
  line=$(grep "pvesim listening" "$WORK/pvesim.out") || fail "pvesim did not start"
  PVE_PORT=$(echo "$line" | sed -E 's#.*https://[^:]+:([0-9]+).*#\1#')
  PVE_FP=$(echo "$line" | sed -E 's#.*fingerprint ([0-9A-Fa-f:]+).*#\1#')
}

# pvesim control plane: simctl METHOD PATH
simctl() {
  local body=(); [ "$1" = POST ] && body=(-d '')
  curl -sS --fail -k -X "$1" "${body[@]}" "https://127.0.0.1:$PVE_PORT/pvesim/$2"
}

PASSFILE=$WORK/passphrase
(umask 077; echo "correct horse battery staple" >"$PASSFILE")
export PVESAFE_CATALOG=$WORK/catalog.db

pve_flags=()
pve_set_flags() {
  pve_flags=(--pve-host 127.0.0.1 --pve-port "$PVE_PORT" --pve-fingerprint "$PVE_FP"
             --pve-token-id 'root@pam!pvesafe' --pve-token-file "$PVE_TOKEN_FILE"
             --ssh-key "$SSH_KEY" --ssh-known-hosts "$KNOWN_HOSTS" --ssh-port "$SSHD_PORT"
             --ssh-host pve-01=127.0.0.1 --ssh-host pve-02=127.0.0.1 --ssh-host pve-03=127.0.0.1
             --dump-dir "$PVE_DATA/nodes/{node}/{storage}/dump")
}

# pve_env_up: sshd, pvesim and the connection flags, plus a fresh local repository at $REPO;
# pvesafe's repository flags are in the array P.
pve_env_up() {
  pve_start_sshd
  pve_start_pvesim
  pve_set_flags
  REPO=$WORK/repo
  P=(--repo "$REPO" --passphrase-file "$PASSFILE")
  "$PVESAFE_BIN" init "${P[@]}" >/dev/null
}
