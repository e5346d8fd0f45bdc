"""The checks that follow from a table's declaration alone: keys, id ranges and runs, foreign keys, denormalized
copies, required and optional columns, the partition's day."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from datagen.checks._kernels import increasing, no_rows, off_run, positions
from datagen.checks._model import MIX_SIGMAS, PARTITION, Check, Frames, mix_tolerance
from datagen.config import Config
from datagen.tables import TABLES, Table


def _pk_unique(t: Table) -> Check:
    def run(f: Frames, _: Config) -> pl.Series:
        ids = f[t.key][t.primary_key]
        if ids.null_count() == 0 and increasing(ids if increasing(ids) else ids.sort()):
            return ids.head(0)  # strictly increasing once sorted: unique without hashing
        return ids.filter(ids.is_duplicated() | ids.is_null()).unique(maintain_order=True)
    return Check(f"{t.key}.pk_unique", "error", f"{t.key}.{t.primary_key} is unique and not null", (t.key,), run)


def _ids_in_range(t: Table) -> Check:
    def run(f: Frames, cfg: Config) -> pl.Series:
        lo, hi = cfg.id_range(t.id_range_key)
        ids = f[t.key][t.primary_key]
        if ids.len() == ids.null_count() or (ids.min() >= lo and ids.max() <= hi):  # type: ignore[operator]
            return ids.head(0)
        return ids.filter((ids < lo) | (ids > hi))
    return Check(f"{t.key}.ids_in_range", "error", f"{t.key} ids inside id_ranges.{t.id_range_key}", (t.key,), run)


def _ids_gap_free(t: Table) -> Check:
    def run(f: Frames, cfg: Config) -> pl.Series:
        lo, _ = cfg.id_range(t.id_range_key)
        ids = f[t.key][t.primary_key]
        return off_run(ids, lo, ids.len())
    return Check(f"{t.key}.ids_sequential", "error",
                 f"{t.key} ids run from the start of their range without gaps", (t.key,), run)


def foreign_key(t: Table, column: str, parent: str, parent_column: str) -> Check:
    def run(f: Frames, _: Config) -> pl.Series:
        pos = positions(f[parent][parent_column], f[t.key][column])
        if pos is not None:
            return no_rows(f[t.key][t.primary_key], pos < 0)
        child = f[t.key].select(t.primary_key, column)
        orphans = child.join(f[parent].select(parent_column), left_on=column, right_on=parent_column, how="anti")
        return orphans[t.primary_key]
    return Check(f"{t.key}.{column}_fk", "error", f"every {t.key}.{column} exists in {parent}.{parent_column}",
                 (t.key, parent), run)


def _copy_agrees(t: Table, column: str, via: str, parent_col: str) -> Check:
    parent = next(fk.parent for fk in t.foreign_keys if fk.column == via)

    parent_pk = TABLES[parent].primary_key

    def run(f: Frames, _: Config) -> pl.Series:
        pos = positions(f[parent][parent_pk], f[t.key][via])
        if pos is not None and f[parent][parent_col].null_count() == 0 and f[t.key][column].null_count() == 0:
            found = pos >= 0  # inner-join semantics: orphans are the foreign-key check's to report
            expected = f[parent][parent_col].to_numpy()[np.where(found, pos, 0)]
            return no_rows(f[t.key][t.primary_key], found & (f[t.key][column].to_numpy() != expected))
        p = f[parent].select(pl.col(parent_pk).alias(via), pl.col(parent_col).alias("_expected"))
        joined = f[t.key].select(t.primary_key, via, column).join(p, on=via, how="inner")
        return joined.filter(pl.col(column) != pl.col("_expected"))[t.primary_key]
    return Check(f"{t.key}.{column}_matches_{parent}", "error",
                 f"{t.key}.{column} equals its {parent} row's {parent_col}", (t.key, parent), run)


def _optional_nulls(t: Table) -> Check:
    """Each optional column's NULL share within MIX_SIGMAS sigma of data_quality.null_rates.optional_fields."""
    columns = t.optional_columns

    def run(f: Frames, cfg: Config) -> pl.Series:
        frame, p = f[t.key], cfg.optional_null_rate
        n, bad = frame.height, []
        nulls = [frame[c].null_count() for c in columns]  # each column knows its count: no pass over the rows
        for column, got in zip(columns, nulls, strict=True):
            want = n * p
            tolerance = mix_tolerance(n, p)
            if abs(got - want) > tolerance:
                bad.append(f"{column}: {got:,} NULLs of {n:,}, config {want:,.1f} +- {tolerance:,.1f}")
        return pl.Series("column", bad, dtype=pl.String)
    return Check(f"{t.key}.optional_nulls", "error", f"NULL share of each optional column ({', '.join(columns)}) "
                 f"within {MIX_SIGMAS:g} sigma of data_quality.null_rates.optional_fields", (t.key,), run)


def _required_filled(t: Table) -> Check:
    """No NULL in a column that is neither optional nor NULL by meaning (data_quality required_fields is 0)."""
    columns = [c.name for c in t.columns if c.required]

    def run(f: Frames, _: Config) -> pl.Series:
        nulls = [f[t.key][c].null_count() for c in columns]
        return pl.Series("column", [f"{c}: {n:,} NULLs" for c, n in zip(columns, nulls, strict=True) if n],
                         dtype=pl.String)
    return Check(f"{t.key}.required_filled", "error", f"no NULL in {t.key}'s required columns (all but the optional "
                 "ones and those NULL by meaning)", (t.key,), run)


def _ids_continuous(t: Table) -> Check:
    def run(f: Frames, _: Config) -> pl.Series:
        return off_run(f[t.key][t.primary_key], f[PARTITION]["first_id"][0], f[PARTITION]["rows"][0])
    return Check(f"{t.key}.ids_continuous", "error",
                 f"{t.key} ids of a partition are the planned run (prefix sums from the range start)", (t.key,), run)


def _on_partition_day(t: Table) -> Check:
    def run(f: Frames, _: Config) -> pl.Series:
        day = f[PARTITION]["day"][0]
        frame = f[t.key]
        times = frame[t.time_column]
        if times.dtype == pl.Datetime and getattr(times.dtype, "time_zone", None) is None:
            start = dt.datetime.combine(day, dt.time())
            if times.len() == times.null_count() or (
                    times.min() >= start and times.max() < start + dt.timedelta(days=1)):  # type: ignore[operator]
                return frame[t.primary_key].head(0)  # every time inside the day (NULLs are no day at all)
        return frame.filter(pl.col(t.time_column).dt.date() != day)[t.primary_key]
    return Check(f"{t.key}.on_partition_day", "error", f"{t.key}.{t.time_column} falls on its partition's day",
                 (t.key,), run)


def core_checks(t: Table) -> list[Check]:
    """What t's declaration implies of a core table."""
    out = [_pk_unique(t), _ids_in_range(t), _ids_gap_free(t), _required_filled(t)]
    out += [_optional_nulls(t)] if t.optional_columns else []
    out += [foreign_key(t, fk.column, fk.parent, fk.parent_column) for fk in t.foreign_keys]
    return out + [_copy_agrees(t, col, via, pc) for col, via, pc in t.copies]


def partition_checks(t: Table) -> list[Check]:
    """What t's declaration implies of each of its partitions."""
    out = [_pk_unique(t), _ids_in_range(t), _ids_continuous(t), _required_filled(t)]
    out += [_optional_nulls(t)] if t.optional_columns else []
    out += [foreign_key(t, fk.column, fk.parent, fk.parent_column) for fk in t.foreign_keys]
    out += [_copy_agrees(t, col, via, pc) for col, via, pc in t.copies]
    if t.rows_on_own_day:
        out.append(_on_partition_day(t))
    return out
