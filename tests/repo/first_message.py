#!/usr/bin/env python3
"""Copies the first OpenPGP message of a pack (its first chunk) to a file, by packet lengths:

    first_message.py PACK OUT

A chunk message is one session key packet (PKESK or SKESK) and one SEIPD packet, in new packet
format with fixed or partial body lengths (RFC 9580 section 4.2). Written from the RFC for the
tests that hand a single chunk to gpg, sq or rnp.
"""
import sys


def packet_end(buf, at):
    assert buf[at] & 0xC0 == 0xC0, "not a new-format packet"
    pos = at + 1
    while True:
        l0 = buf[pos]
        if l0 < 192:
            return pos + 1 + l0
        if l0 < 224:
            return pos + 2 + ((l0 - 192) << 8) + buf[pos + 1] + 192
        if l0 == 255:
            return pos + 5 + int.from_bytes(buf[pos + 1:pos + 5], "big")
        pos += 1 + (1 << (l0 & 0x1F))  # a partial body part; the length of the next follows


data = open(sys.argv[1], "rb").read()
end = packet_end(data, packet_end(data, 0))
open(sys.argv[2], "wb").write(data[:end])
