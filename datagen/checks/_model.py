"""What a check is and what it returns; the frames it reads."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from datagen.config import Config

# Table key -> frame. Partition checks also get PARTITION: one row (first_id, rows, day) naming the partition.
Frames = dict[str, pl.DataFrame]
PARTITION = "_partition"
SAMPLE_KEYS = 5
LIVE_STATUSES = ("active", "trial")
MIX_SIGMAS = 5.0  # a share drawn at random passes within 5 standard deviations (+1 row) of the config


def mix_tolerance(draws: float, p: float) -> float:
    """How far a count of `draws` random picks at share p may lie from draws * p: MIX_SIGMAS sigma, plus one."""
    return MIX_SIGMAS * math.sqrt(max(draws * p * (1 - p), 0.0)) + 1


@dataclass(frozen=True)
class Check:
    name: str
    severity: str  # "error": stops the load
    description: str
    tables: tuple[str, ...]
    run: Callable[[Frames, Config], pl.Series]  # offending keys (empty when the check passes)


@dataclass(frozen=True)
class Outcome:
    check: Check
    violations: int
    sample: list[object]
    seconds: float

    @property
    def passed(self) -> bool:
        return self.violations == 0
