"""Every partition check fails on an event partition corrupted for it, and names the offending key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

from datagen import events
from datagen.checks import PARTITION, Frames, partition_catalogue, run_checks
from datagen.config import Config
from datagen.generate import Generated
from datagen.tables import EVENT_TABLES, TABLES

EARLY = dt.datetime(2000, 1, 1)
NO_SUCH_ID = 99_999_999


@pytest.fixture(scope="module")
def partitions(cfg: Config, default_gen: Generated) -> dict[str, Frames]:
    """Per event table: its first partition of the default range with the frames its checks join."""
    streams = events.Streams(cfg, default_gen)
    plan = streams.plan(events.event_tables(None), cfg.events.start_date, cfg.events.start_date)
    out = {}
    for table, parts in plan.parts.items():
        part = parts[0]
        out[table] = streams.parents(part, streams.build_conformed(part))
    return out


def _first(f: Frames, table: str) -> int:
    return int(f[table][TABLES[table].primary_key][0])


def _set(f: Frames, table: str, row: int, **values: object) -> Frames:
    pk = TABLES[table].primary_key
    frame = f[table]
    exprs = [pl.when(pl.col(pk) == row).then(pl.lit(v, dtype=frame.schema[c])).otherwise(pl.col(c)).alias(c)
             for c, v in values.items()]
    return {**f, table: frame.with_columns(exprs)}


Mutation = Callable[[Frames, int], tuple[Frames, object]]  # (frames, first id) -> (corrupted, expected key)


def _other(f: Frames, parent: str, column: str, current: object) -> object:
    return f[parent].filter(pl.col(column) != current)[column][0]


MUTATIONS: dict[str, Mutation] = {}
for t in EVENT_TABLES:
    pk = t.primary_key
    MUTATIONS[f"{t.key}.pk_unique"] = lambda f, i, t=t: ({**f, t.key: pl.concat([f[t.key], f[t.key].head(1)])}, i)
    MUTATIONS[f"{t.key}.ids_in_range"] = (
        lambda f, i, t=t, pk=pk: (_set(f, t.key, i + 1, **{pk: 999_999_999}), 999_999_999))
    MUTATIONS[f"{t.key}.ids_continuous"] = lambda f, i, t=t, pk=pk: (_set(f, t.key, i + 1, **{pk: NO_SUCH_ID}), i + 1)
    for fk in t.foreign_keys:
        MUTATIONS[f"{t.key}.{fk.column}_fk"] = (
            lambda f, i, t=t, c=fk.column: (_set(f, t.key, i, **{c: NO_SUCH_ID}), i))
    for col, via, parent_col in t.copies:
        parent = next(fk.parent for fk in t.foreign_keys if fk.column == via)
        MUTATIONS[f"{t.key}.{col}_matches_{parent}"] = (
            lambda f, i, t=t, c=col, p=parent, pc=parent_col: (
                _set(f, t.key, i, **{c: _other(f, p, pc, f[t.key][c][0])}), i))
    if t.key != "page_views":
        MUTATIONS[f"{t.key}.on_partition_day"] = (
            lambda f, i, t=t: (_set(f, t.key, i, **{t.time_column: dt.datetime(2025, 6, 30, 12)}), i))
MUTATIONS["tap_events.within_device_life"] = lambda f, i: (_set(f, "tap_events", i, timestamp=EARLY), i)
MUTATIONS["user_sessions.within_user_life"] = lambda f, i: (_set(f, "user_sessions", i, start_time=EARLY), i)
MUTATIONS["feature_usage.within_user_life"] = lambda f, i: (_set(f, "feature_usage", i, timestamp=EARLY), i)
MUTATIONS["page_views.within_session"] = lambda f, i: (_set(f, "page_views", i, timestamp=EARLY), i)
for _t, _required, _optional in (("tap_events", "event_type", None), ("user_sessions", "duration_seconds", "browser"),
                                 ("page_views", "time_on_page_seconds", "page_title"),
                                 ("feature_usage", "timestamp", "feature_name")):
    MUTATIONS[f"{_t}.required_filled"] = (
        lambda f, i, t=_t, c=_required: (_set(f, t, i, **{c: None}), f"{c}: 1 NULLs"))
    if _optional:  # the whole column NULL: far off the configured share (the sample starts with the column)
        MUTATIONS[f"{_t}.optional_nulls"] = (
            lambda f, i, t=_t, c=_optional: ({**f, t: f[t].with_columns(pl.lit(None, dtype=f[t].schema[c]).alias(c))},
                                             c))


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_partition_check_fails_on_its_corruption(name: str, cfg: Config, partitions: dict[str, Frames]) -> None:
    table = name.split(".")[0]
    frames = partitions[table]
    clean = {o.check.name: o for o in run_checks(frames, cfg, partition=table)}
    assert clean[name].passed
    corrupted, key = MUTATIONS[name](frames, _first(frames, table))
    outcome = next(o for o in run_checks(corrupted, cfg, partition=table) if o.check.name == name)
    assert outcome.violations >= 1
    assert key in outcome.sample or (name.endswith(".optional_nulls")
                                     and any(str(s).startswith(f"{key}: ") for s in outcome.sample)), outcome.sample


def test_every_partition_check_has_a_mutation(partitions: dict[str, Frames]) -> None:
    assert {c.name for c in partition_catalogue()} == set(MUTATIONS)
    assert all(PARTITION in f for f in partitions.values())
