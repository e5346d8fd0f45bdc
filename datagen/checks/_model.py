"""What a check is and what it returns; the frames it reads."""

from __future__ import annotations

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
