"""Seeded random streams: one independent, reproducible stream per purpose.

rng(seed, "pkg", name, version, path) gives the same stream for the same parts on any machine
(SHA-256 of the parts seeds Python's Mersenne Twister); streams for different parts are
independent, so files can be generated in any order and in parallel.
"""
import hashlib
import random


def rng(seed, *parts):
    key = "|".join(str(p) for p in (seed,) + parts).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:16], "big"))


def lognormal(r, median, sigma, lo, hi):
    """A size drawn around `median` with the long tail of real file sizes, clamped to [lo, hi]."""
    return int(min(hi, max(lo, r.lognormvariate(0.0, sigma) * median)))


def name(r, syllables=(2, 4)):
    """A pronounceable lowercase name (package, binary, module names)."""
    parts = (
        "ka ko ki ta to ti na no ni ra ro ri la lo li ma mo mi sa so si pa po pe de da do ve va vo "
        "ex in un re pro con ser ter tor ver gen bin net sys dev mod ant ent al er or ly ize ate"
    )
    parts = parts.split()
    return "".join(r.choice(parts) for _ in range(r.randint(*syllables)))
