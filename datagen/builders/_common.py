"""Vectorized helpers the builders share: shares, bounded counts, ids, timestamps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from datagen._hash import mix_for_draws
from datagen.config import Config, CountShape, largest_remainder
from datagen.config.scale import at_limit
from datagen.errors import ConfigError
from datagen.tables import Table

DAY = 86_400
MONTH_DAYS = 30.4375  # a mean month: what monthly rates are per
MONTH = MONTH_DAYS * DAY
I64 = npt.NDArray[np.int64]


def epoch(ts: dt.datetime) -> int:
    """Seconds since 1970-01-01 for a naive timestamp (all timestamps are naive, UTC-free)."""
    return int((ts - dt.datetime(1970, 1, 1)).total_seconds())


def to_datetime(seconds: I64) -> pl.Series:
    return pl.Series(seconds.astype(np.int64) * 1_000_000, dtype=pl.Int64).cast(pl.Datetime("us"))


def pick(rng: np.random.Generator, shares: Sequence[tuple[str, float]], n: int) -> npt.NDArray[np.int64]:
    """Independent draws of category indices with the given shares."""
    p = np.array([s for _, s in shares], dtype=np.float64)
    return rng.choice(len(shares), size=n, p=p / p.sum()).astype(np.int64)


def exact(rng: np.random.Generator, shares: Sequence[tuple[str, float]], n: int) -> npt.NDArray[np.int64]:
    """Category indices whose counts match the shares exactly (largest remainder), in random order."""
    counts = largest_remainder(n, {str(i): s for i, (_, s) in enumerate(shares)})
    idx = np.repeat(np.arange(len(shares), dtype=np.int64), [counts[str(i)] for i in range(len(shares))])
    return rng.permutation(idx)


def weighted(u: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Index into weights for each uniform draw u (inverse CDF), so one draw picks one weighted category."""
    cum = np.cumsum(weights.astype(np.float64))
    return np.minimum(np.searchsorted(cum / cum[-1], u, side="right"), len(cum) - 1).astype(np.int64)


def counts_in_range(rng: np.random.Generator, lo: npt.NDArray[np.int64], hi: npt.NDArray[np.int64],
                    shape: CountShape) -> npt.NDArray[np.int64]:
    """One count per row inside [lo, hi], uniform or skewed toward lo (see config count_shapes)."""
    u = rng.random(lo.shape[0])
    if shape.shape == "skewed":
        u = u**shape.skew
    return np.asarray(np.minimum(lo + np.floor((hi - lo + 1) * u).astype(np.int64), hi), dtype=np.int64)


def allocate_ids(cfg: Config, table: str, n: int) -> npt.NDArray[np.int64]:
    """Sequential ids from the start of the table's configured range; refuses a plan that does not fit."""
    lo, hi = cfg.id_range(table)
    if n > hi - lo + 1:
        raise ConfigError(
            f"id_ranges.{table}",
            f"the plan needs {n:,} {table} but the range [{lo}, {hi}] holds {hi - lo + 1:,}",
            hint=at_limit(cfg, table) or f"widen id_ranges.{table} (or write auto), or lower the per-size ranges "
                 "or skew in accounts.count_shapes (`just generate --dry-run` shows the plan)",
        )
    return np.arange(lo, lo + n, dtype=np.int64)


def index_within(group_sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """0..k-1 for each group of an expanded frame (rows repeated by group_sizes)."""
    total = int(group_sizes.sum())
    starts = np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)
    return np.arange(total, dtype=np.int64) - starts


def after(rng: np.random.Generator, parent: I64, max_days: float, end: int, *, min_seconds: int = 1) -> I64:
    """A moment strictly after each parent moment, at most max_days later and never after end."""
    span = np.minimum(np.int64(max_days * DAY), end - parent)
    span = np.maximum(span, min_seconds)
    offset = min_seconds + np.floor(rng.random(parent.shape[0]) * (span - min_seconds + 1)).astype(np.int64)
    return np.asarray(np.minimum(parent + offset, end), dtype=np.int64)


def grown(u: npt.NDArray[np.float64], span_seconds: npt.NDArray[np.int64] | float, rate: float, *,
          later: bool) -> npt.NDArray[np.float64]:
    """Uniform draws u in [0, 1) mapped to a fraction of a span over which a density grows at `rate` per month
    (toward the span's end when later, toward its start otherwise): the inverse CDF of a truncated exponential.
    At rate 0 the fraction is u itself, so a zero rate leaves the data as it was."""
    if rate <= 0.0:
        return u
    grow = np.log1p(rate) * np.asarray(span_seconds, dtype=np.float64) / MONTH  # log of the growth over the span
    grow = np.maximum(grow, 1e-12)
    if later:
        return np.asarray(np.log1p(u * np.expm1(grow)) / grow)
    return np.asarray(-np.log1p(u * np.expm1(-grow)) / grow)


def labels(names: Sequence[str], idx: npt.NDArray[np.int64]) -> pl.Series:
    """Category labels for indices, as a String series (gathers from a small lookup; indices as uint32, Polars'
    own index type, which it would otherwise convert to first)."""
    return pl.Series(list(names), dtype=pl.String).gather(pl.Series(np.asarray(idx, dtype=np.uint32)))


def slug(expr: pl.Expr) -> pl.Expr:
    """Lowercase letters and digits only: 'Copper Tavern 2' -> 'coppertavern2'."""
    return expr.str.to_lowercase().str.replace_all(r"[^a-z0-9]", "")


def dedupe(expr: pl.Expr, sep: str = " ") -> pl.Expr:
    """Make values unique by appending 2, 3, ... to the second and later copies (in row order)."""
    k = expr.cum_count().over(expr)
    return pl.when(k > 1).then(pl.concat_str([expr, pl.lit(sep), k.cast(pl.String)])).otherwise(expr)


def hash_uniform(seed: int, key: str, *columns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """A uniform in [0, 1) that depends only on (seed, key, the row's values): a counter-based draw.

    For draws that several partitions must agree on (a stadium's event day is the same for every device
    block that holds one of its taps), where a partition's own stream would differ.
    """
    from datagen.rng import key_word  # local: rng imports nothing from builders, keep it that way

    with np.errstate(over="ignore"):
        h = np.full(columns[0].shape, np.uint64(key_word(seed, key)), dtype=np.uint64)
        for col in columns:
            h = mix_for_draws(h ^ col.astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def with_nulls(frame: pl.DataFrame, table: Table, rate: float, rng: np.random.Generator) -> pl.DataFrame:
    """The table's optional columns (tables.Column.optional) NULL at `rate` each, independently, drawn from
    rng: the table's own "nulls" stream, so no other table's bytes move. Nothing is drawn when rate is 0."""
    columns = table.optional_columns
    if not columns or rate <= 0.0 or frame.height == 0:
        return frame
    draws = rng.random((len(columns), frame.height))
    return frame.with_columns([pl.when(pl.Series(draws[i] < rate)).then(None).otherwise(pl.col(c)).alias(c)
                               for i, c in enumerate(columns)])
