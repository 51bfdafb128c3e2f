#!/usr/bin/env bash
# NBD over TLS (NBD_OPT_STARTTLS, OpenSSL): with --allow-remote the server listens on a
# non-loopback address only with a certificate, a key and a client CA. libnbd (nbdinfo,
# python3-libnbd) and qemu-img connect with a client certificate signed by that CA; without
# one, or with one from another CA, the handshake fails; a plain-text client is told TLS is
# required and gets nothing.
source "$(dirname "$0")/lib.sh"
need openssl nbdinfo qemu-img python3
need_libnbd_python

pki=$T/pki
mkdir -p "$pki/client" "$pki/other"
mkcert() {  # name subj ca_prefix [san]
  local n=$1 subj=$2 ca=$3 san=${4:-}
  openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$n-key.pem" -subj "$subj" -out "$pki/$n.csr" 2>/dev/null
  local ext=$T/ext.$n
  if [[ -n "$san" ]]; then
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > "$ext"
  else
    printf 'extendedKeyUsage=clientAuth\n' > "$ext"
  fi
  openssl x509 -req -in "$pki/$n.csr" -CA "$pki/$ca-cert.pem" -CAkey "$pki/$ca-key.pem" -CAcreateserial \
    -days 2 -extfile "$ext" -out "$pki/$n-cert.pem" 2>/dev/null
}
for ca in ca rogue; do
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/$ca-key.pem" -out "$pki/$ca-cert.pem" \
    -days 2 -subj "/CN=pvesafe test $ca" 2>/dev/null
done
mkcert server "/CN=127.0.0.1" ca "IP:127.0.0.1,DNS:localhost"
mkcert client "/CN=restore-host" ca
mkcert rogueclient "/CN=intruder" rogue
chmod 600 "$pki"/*-key.pem
# libnbd and QEMU read a directory: ca-cert.pem, client-cert.pem, client-key.pem.
cp "$pki/ca-cert.pem" "$pki/client/ca-cert.pem"
cp "$pki/client-cert.pem" "$pki/client/client-cert.pem"
cp "$pki/client-key.pem" "$pki/client/client-key.pem"
cp "$pki/ca-cert.pem" "$pki/other/ca-cert.pem"
cp "$pki/rogueclient-cert.pem" "$pki/other/client-cert.pem"
cp "$pki/rogueclient-key.pem" "$pki/other/client-key.pem"

img=$T/disk.raw
make_image "$img"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

note "a remote listener needs --tls-ca too"
rc=0; "$PVESAFE_BIN" nbd --image "$img" --listen "0.0.0.0:$port" --allow-remote \
  --tls-cert "$pki/server-cert.pem" --tls-key "$pki/server-key.pem" 2> "$T/err" || rc=$?
[[ $rc == 2 ]] || fail "remote TLS without client verification exited $rc"

note "serve on 0.0.0.0 with mutual TLS"
start_export --image "$img" --listen "0.0.0.0:$port" --allow-remote --export-name disk \
  --tls-cert "$pki/server-cert.pem" --tls-key "$pki/server-key.pem" --tls-ca "$pki/ca-cert.pem"
[[ "$EXPORT_URI" == "nbds://0.0.0.0:$port/disk" ]] || fail "unexpected URI $EXPORT_URI"
uri="nbds://127.0.0.1:$port/disk?tls-certificates=$pki/client"

note "libnbd with a client certificate: same bytes, holes reported"
nbdinfo "$uri" | grep -q "export-size: $IMAGE_SIZE" || fail "nbdinfo over TLS"
"$SYSPY" "$(dirname "$0")/nbd_check.py" "$uri" "$img"

note "qemu-img over TLS (tls-creds-x509)"
qemu-img compare --object "tls-creds-x509,id=tls0,dir=$pki/client,endpoint=client" \
  --image-opts "driver=raw,file.driver=file,file.filename=$img" \
  "driver=raw,file.driver=nbd,file.host=127.0.0.1,file.port=$port,file.export=disk,file.tls-creds=tls0" |
  grep -q "identical" || fail "qemu-img compare over TLS"

note "refused: no client certificate, a certificate from another CA, plain text"
rm -f "$pki/noclient" && mkdir -p "$pki/noclient" && cp "$pki/ca-cert.pem" "$pki/noclient/"
nbdinfo "nbds://127.0.0.1:$port/disk?tls-certificates=$pki/noclient" > "$T/o" 2>&1 &&
  fail "connected without a client certificate"
nbdinfo "nbds://127.0.0.1:$port/disk?tls-certificates=$pki/other" > "$T/o" 2>&1 &&
  fail "connected with a certificate from another CA"
nbdinfo "nbd://127.0.0.1:$port/disk" > "$T/o" 2>&1 && fail "connected in plain text"
grep -qi "tls" "$T/o" || fail "plain-text client not told about TLS: $(cat "$T/o")"
stop_pid "$EXPORT_PID"
[[ $STOP_RC == 0 ]] || fail "exit $STOP_RC"
echo "PASS"
