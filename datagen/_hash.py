"""The package's two 64-bit mixes, side by side. They differ on purpose and neither may change: each is frozen
into something outside the code (the generated data, the recorded fingerprints). tests/test_hash.py pins both."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]


def mix_for_draws(x: U64) -> U64:
    """splitmix64's finalizer: feeds builders._common.hash_uniform's draws, so any change moves the generated data."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return np.asarray(x ^ (x >> np.uint64(31)), dtype=np.uint64)


def mix_for_fingerprints(h: U64) -> U64:
    """Feeds manifest.fingerprint's second sum, so any change moves every recorded and pinned fingerprint."""
    # splitmix64's multipliers with other shifts (31, 29) and no increment: unlike mix_for_draws, and it must stay so
    with np.errstate(over="ignore"):
        h = h * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(29)
        return np.asarray(h, dtype=np.uint64)
