"""Stage 1: build every core table as a Polars frame from the config and its seed. No database."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from datagen import builders, inputs
from datagen.builders._common import with_nulls
from datagen.config import Config
from datagen.rng import stream
from datagen.tables import CORE_TABLES, conform, parents_of


@dataclass(frozen=True)
class Generated:
    """Frames as loaded (declared columns only) and as built (with internal `_` columns for children)."""

    frames: dict[str, pl.DataFrame]
    full: dict[str, pl.DataFrame]
    seconds: float


def generate(cfg: Config, *, on_table: Callable[[str, int], None] | None = None) -> Generated:
    """Build the core tables in hierarchical order, each by its registered builder from its declared parents and
    inputs, drawing from its own random stream."""
    t0 = time.perf_counter()
    full: dict[str, pl.DataFrame] = {}
    for t in CORE_TABLES:
        entry = builders.CORE[t.key]
        parents = {key: full[key] for key, _ in parents_of(t)} | inputs.prepare(entry.inputs)
        full[t.key] = entry.build(cfg, parents, stream(cfg.seed, t.key))
        if on_table is not None:
            on_table(t.key, full[t.key].height)
    # optional columns NULL at data_quality's rate, in the frames as loaded (the builders above read `full`)
    frames = {t.key: with_nulls(conform(full[t.key], t), t, cfg.optional_null_rate, stream(cfg.seed, t.key, "nulls"))
              for t in CORE_TABLES}
    return Generated(frames=frames, full=full, seconds=time.perf_counter() - t0)
