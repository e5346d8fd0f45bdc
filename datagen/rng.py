"""One root of randomness: the config seed, split into child streams by stable string keys.

A table's stream depends only on (seed, table[, partition]), so changing one table's parameters or adding
a table leaves every other table's bytes unchanged.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _key_words(key: str) -> tuple[int, ...]:
    # sha256 rather than hash(): Python's str hash is salted per process.
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))


def stream(seed: int, *key: str | int) -> np.random.Generator:
    """A generator for (seed, *key): same inputs, same numbers, on any machine with the locked numpy."""
    words: tuple[int, ...] = ()
    for part in key:
        words += _key_words(str(part))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy=seed, spawn_key=words)))


def key_word(seed: int, key: str) -> int:
    """A 64-bit word for (seed, key), for counter-based draws (builders._common.hash_uniform)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little")
