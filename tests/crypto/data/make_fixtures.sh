#!/bin/bash
# Regenerates the OpenPGP key fixtures of src/crypto/pubkey_test.cpp with gpg 2.2 (Debian 12).
# Run by hand from this directory; the tests only read the committed files. Key creation times
# are faked (2024-01-01, and 2020-01-01 for the expired key) so expiry checks do not depend on
# the day the files were made. Passphrase of the protected keys: "pvesafe fixture".
set -euo pipefail
cd "$(dirname "$0")"
export GNUPGHOME="$(mktemp -d)"
trap 'gpgconf --homedir "$GNUPGHOME" --kill all; rm -rf "$GNUPGHOME"' EXIT
PASS='pvesafe fixture'
T2024=20240101T000000
G=(gpg --batch --yes --quiet --pinentry-mode loopback --faked-system-time "$T2024!")
fpr_of() { gpg --with-colons --list-keys "$1" | awk -F: '$1 == "fpr" {print $10; exit}'; }

# cv25519: ed25519 primary + cv25519 encryption subkey, protected.
"${G[@]}" --passphrase "$PASS" --quick-gen-key 'Fixture CV <cv@fixture.example>' ed25519 sign,cert never
CV=$(fpr_of cv@fixture.example)
"${G[@]}" --passphrase "$PASS" --quick-add-key "$CV" cv25519 encr never
gpg --armor --export "$CV" > gpg_cv25519.pub.asc
"${G[@]}" --passphrase "$PASS" --armor --export-secret-keys "$CV" > gpg_cv25519.sec.asc

# rsa3072: rsa3072 primary (sign, certify) + rsa3072 encryption subkey, unprotected.
"${G[@]}" --passphrase '' --quick-gen-key 'Fixture RSA <rsa@fixture.example>' rsa3072 sign,cert never
RSA=$(fpr_of rsa@fixture.example)
"${G[@]}" --passphrase '' --quick-add-key "$RSA" rsa3072 encr never
gpg --export "$RSA" > gpg_rsa3072.pub.gpg
"${G[@]}" --passphrase '' --export-secret-keys "$RSA" > gpg_rsa3072.sec.gpg

# Messages gpg encrypts to them (AES-256, no compression), and the session keys it reports.
printf 'pvesafe fixture plaintext: the quick brown fox jumps over the lazy dog.\n' > plain.txt
: > session_keys.txt
for k in cv rsa; do
  gpg --batch --yes --quiet --trust-model always --compress-algo none --cipher-algo AES256 \
    -r "$k@fixture.example" --encrypt --output "gpg_to_$k.gpg" plain.txt
  key=$("${G[@]}" --passphrase "$PASS" --status-fd 1 --show-session-key --decrypt \
    --output /dev/null "gpg_to_$k.gpg" 2>/dev/null | sed -n 's/^\[GNUPG:\] SESSION_KEY //p')
  echo "gpg_to_$k.gpg $key" >> session_keys.txt
done

# Expired: made 2020-01-01, expires after one year (primary and subkey).
G20=(gpg --batch --yes --quiet --pinentry-mode loopback --passphrase '' --faked-system-time '20200101T000000!')
"${G20[@]}" --quick-gen-key 'Fixture Expired <expired@fixture.example>' ed25519 sign,cert 1y
EXP=$(fpr_of expired@fixture.example)
"${G20[@]}" --quick-add-key "$EXP" cv25519 encr 1y
gpg --armor --export "$EXP" > gpg_expired.pub.asc

# Only the encryption subkey expired (2021): the primary does not expire.
"${G20[@]}" --quick-gen-key 'Fixture Subkey Expired <subexp@fixture.example>' ed25519 sign,cert never
SUBEXP=$(fpr_of subexp@fixture.example)
"${G20[@]}" --quick-add-key "$SUBEXP" cv25519 encr 1y
gpg --armor --export "$SUBEXP" > gpg_subkey_expired.pub.asc

# Revoked primary key (its own revocation certificate imported).
"${G[@]}" --passphrase '' --quick-gen-key 'Fixture Revoked <revoked@fixture.example>' future-default default never
REV=$(fpr_of revoked@fixture.example)
sed 's/^:-----BEGIN/-----BEGIN/' "$GNUPGHOME/openpgp-revocs.d/$REV.rev" | gpg --batch --quiet --import
gpg --armor --export "$REV" > gpg_revoked.pub.asc

# Two encryption subkeys: the older one revoked (key compromised), the newer one valid.
"${G[@]}" --passphrase '' --quick-gen-key 'Fixture Rotated <rotated@fixture.example>' ed25519 sign,cert never
ROT=$(fpr_of rotated@fixture.example)
"${G[@]}" --passphrase '' --quick-add-key "$ROT" cv25519 encr never
"${G[@]}" --passphrase '' --faked-system-time '20240201T000000!' --quick-add-key "$ROT" rsa3072 encr never
printf 'key 1\nrevkey\ny\n2\n\ny\nsave\n' |
  "${G[@]}" --passphrase '' --faked-system-time '20240301T000000!' --command-fd 0 --edit-key "$ROT" >/dev/null 2>&1
gpg --armor --export "$ROT" > gpg_rotated.pub.asc
# ... and with the newer one revoked too: no valid encryption key left.
printf 'key 2\nrevkey\ny\n0\n\ny\nsave\n' |
  "${G[@]}" --passphrase '' --faked-system-time '20240301T000000!' --command-fd 0 --edit-key "$ROT" >/dev/null 2>&1
gpg --armor --export "$ROT" > gpg_all_revoked.pub.asc

# Signing only: no encryption subkey.
"${G[@]}" --passphrase '' --quick-gen-key 'Fixture Sign <sign@fixture.example>' ed25519 sign,cert never
gpg --armor --export sign@fixture.example > gpg_sign_only.pub.asc

# An encryption subkey on a curve pvesafe does not encrypt to (NIST P-256).
"${G[@]}" --passphrase '' --quick-gen-key 'Fixture P256 <p256@fixture.example>' nistp256 sign,cert never
P256=$(fpr_of p256@fixture.example)
"${G[@]}" --passphrase '' --quick-add-key "$P256" nistp256 encr never
gpg --armor --export "$P256" > gpg_nistp256.pub.asc

# Fingerprints as gpg reports them (primary, then encryption subkeys in order).
for k in cv rsa expired subexp revoked rotated sign p256; do
  echo "$k $(gpg --with-colons --list-keys "$k@fixture.example" | awk -F: '$1 == "fpr" {printf "%s ", $10}')"
done > fingerprints.txt
echo "fixtures written"
