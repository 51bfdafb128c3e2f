#!/usr/bin/env python3
"""Writes the seed corpus of the openpgp_raw fuzz target: OpenPGP messages in the shapes gpg,
rnp and sq write (SKESK with and without an encrypted session key, simple/salted/iterated S2K,
AES-128/256, CAST5 and Camellia, compression ZIP/ZLIB/BZip2, signatures, markers, padding,
old-format and partial lengths), all with the cheapest iterated S2K count (1024 bytes), so the
fuzzer spends its time in the parser and not in 65-million-byte key derivations. Passphrase:
"pvesafe test vector" (the one of src/crypto/openpgp_vectors.h and fuzz_openpgp_raw.cpp).
Every message is checked by decrypting it with gpg. (gpg, rnp and sq themselves write 65011712-byte
S2K counts whatever they are asked, about 40 ms per try; corpus/openpgp_raw also holds messages
pvesafe wrote, pvesafe-*, and gpg's simple-S2K known-answer vector.)
    bench/fuzz/make_openpgp_seeds.py bench/fuzz/corpus/openpgp_raw
"""
import bz2, hashlib, os, subprocess, sys, tempfile, zlib
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

try:  # cryptography >= 43 keeps the old algorithms and CFB apart
    from cryptography.hazmat.decrepit.ciphers import algorithms as old_algorithms
    from cryptography.hazmat.decrepit.ciphers import modes as old_modes
except ImportError:
    old_algorithms, old_modes = algorithms, modes

PASS = b"pvesafe test vector"
TEXT = b"The quick brown fox jumps over the lazy dog.\n" * 2


CIPHERS = {  # OpenPGP id: (key size, block size, constructor)
    7: (16, 16, algorithms.AES), 9: (32, 16, algorithms.AES), 3: (16, 8, old_algorithms.CAST5),
    13: (32, 16, old_algorithms.Camellia if hasattr(old_algorithms, "Camellia") else algorithms.Camellia)}
HASHES = {2: hashlib.sha1, 8: hashlib.sha256}


def length(n):
    if n < 192:
        return bytes([n])
    if n < 8384:
        n -= 192
        return bytes([(n >> 8) + 192, n & 0xFF])
    return b"\xff" + n.to_bytes(4, "big")


def packet(tag, body, old=False):
    if old:  # old format, 4-byte length
        return bytes([0x80 | (tag << 2) | 2]) + len(body).to_bytes(4, "big") + body
    return bytes([0xC0 | tag]) + length(len(body)) + body


def partial(tag, body, part=512):  # new format, partial lengths of `part` bytes, then the rest
    out = bytes([0xC0 | tag])
    exp = part.bit_length() - 1
    while len(body) > part:
        out += bytes([224 + exp]) + body[:part]
        body = body[part:]
    return out + length(len(body)) + body


def s2k_key(kind, hash_id, salt, size):
    h = HASHES[hash_id]
    key, n = b"", 0
    while len(key) < size:
        ctx = h(b"\0" * n)
        data = (salt or b"") + PASS
        if kind == 3:  # iterated: count 1024 bytes (coded 0), at least the whole data once
            count = max(1024, len(data))
            ctx.update((data * (count // len(data) + 1))[:count])
        else:
            ctx.update(data)
        key += ctx.digest()
        n += 1
    return key[:size]


def cfb(algo_id, key, data):
    ks, bs, ctor = CIPHERS[algo_id]
    enc = Cipher(ctor(key), (old_modes.CFB if hasattr(old_modes, "CFB") else modes.CFB)(b"\0" * bs)).encryptor()
    return enc.update(data) + enc.finalize()


def message(inner, cipher=9, s2k=3, hash_id=8, esk=False, old_skesk=False, part=None):
    salt = os.urandom(8) if s2k != 0 else None
    spec = bytes([s2k, hash_id]) + (salt or b"") + (b"\x00" if s2k == 3 else b"")
    kek = s2k_key(s2k, hash_id, salt, CIPHERS[cipher][0])
    if esk:  # a random session key, encrypted with the passphrase's key (sq does this)
        sk_algo = 9
        sk = os.urandom(32)
        skesk = bytes([4, cipher]) + spec + cfb(cipher, kek, bytes([sk_algo]) + sk)
    else:
        sk_algo, sk = cipher, kek
        skesk = bytes([4, cipher]) + spec
    bs = CIPHERS[sk_algo][1]
    prefix = os.urandom(bs)
    prefix += prefix[-2:]
    mdc_input = prefix + inner + b"\xd3\x14"
    plain = mdc_input + hashlib.sha1(mdc_input).digest()
    seipd = b"\x01" + cfb(sk_algo, sk, plain)
    return (packet(3, skesk, old=old_skesk) +
            (partial(18, seipd, part) if part else packet(18, seipd)))


def literal(data, fmt=b"b", name=b""):
    return packet(11, fmt + bytes([len(name)]) + name + b"\0\0\0\0" + data)


def deflate(d):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(d) + c.flush()


def compressed(algo, inner):
    data = {0: lambda d: d, 1: deflate, 2: zlib.compress, 3: bz2.compress}[algo](inner)
    return packet(8, bytes([algo]) + data)


SEEDS = {
    "like-pvesafe": message(literal(TEXT)),
    "like-pvesafe-key-file": message(literal(TEXT, name=b"key.json")),
    "like-pvesafe-partial": message(literal(TEXT * 30), part=1024),
    "like-gpg-zip": message(compressed(1, literal(TEXT, name=b"plain.txt")), old_skesk=True, part=512),
    "like-gpg-zlib": message(compressed(2, literal(TEXT)), old_skesk=True),
    "like-gpg-bzip2": message(compressed(3, literal(TEXT)), old_skesk=True),
    "like-gpg-aes128-sha1": message(literal(TEXT), cipher=7, hash_id=2, old_skesk=True),
    "like-gpg-simple-s2k": message(literal(TEXT), s2k=0, hash_id=2, old_skesk=True),
    "like-gpg-salted-camellia": message(literal(TEXT), cipher=13, s2k=1, old_skesk=True),
    "like-gpg-cast5": message(compressed(1, literal(TEXT)), cipher=3, old_skesk=True),
    "like-sq-esk-padded": message(compressed(1, literal(TEXT)) + packet(21, bytes(32)), esk=True),
    # one-pass signature (v3, binary, SHA-256, RSA, a key id, last), literal, signature (v4)
    "like-rnp-signed": message(packet(4, bytes([3, 0, 8, 1]) + bytes(range(8)) + b"\x01") +
                          literal(TEXT) + packet(2, bytes([4, 0, 1, 8]) + bytes(40))),
    "marker-first": b"\xca\x03PGP" + message(literal(TEXT)),
    "two-skesk": message(literal(TEXT))[:15] + message(literal(TEXT)),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as home:
        for name, msg in SEEDS.items():
            path = os.path.join(out, name)
            with open(path, "wb") as f:
                f.write(msg)
            if name == "two-skesk":
                continue  # the first packet belongs to another message: gpg tries both, may warn
            r = subprocess.run(["gpg", "--homedir", home, "--batch", "-q", "--pinentry-mode",
                                "loopback", "--passphrase", PASS.decode(), "-d", path],
                               capture_output=True)
            # gpg cannot check the signature of like-rnp-signed (no key): the plaintext is what counts
            if (r.returncode != 0 and name != "like-rnp-signed") or TEXT[:20] not in r.stdout:
                sys.exit(f"gpg cannot decrypt {name}: {r.stderr.decode()}")


if __name__ == "__main__":
    main()
