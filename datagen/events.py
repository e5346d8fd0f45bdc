"""Stage 1 for the event streams: the partition plan and the partitions themselves. No database.

A partition is one day of one table (tap events: one day of one block of devices). Counts are drawn
first, for every day from the start of the event range, and each partition's first id is the prefix sum
of the counts before it. So any window's ids are exactly its slice of one sequence, and a partition's
rows depend only on (seed, table, day[, block]): not on the window, the order, or the number of workers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from datagen import checks
from datagen.builders import feature_usage, page_views, tap_events, user_sessions
from datagen.builders._common import with_nulls
from datagen.builders._people import People, people
from datagen.config import Config
from datagen.errors import ConfigError, UsageError
from datagen.generate import Generated
from datagen.manifest import fingerprint
from datagen.rng import stream
from datagen.tables import EVENT_TABLES, TABLES, conform


@dataclass(frozen=True)
class Part:
    """One unit of generation: rows first_id .. first_id + rows - 1 of table, all on day."""

    table: str
    day: dt.date
    block: int
    first_id: int
    rows: int
    sessions_first_id: int = 0  # page views: the first session id of the same day


@dataclass(frozen=True)
class Plan:
    window: tuple[dt.date, dt.date]
    parts: dict[str, list[Part]]  # per table, in id order, only the window's days
    range_rows: dict[str, int]  # rows over the whole event range (what the id range must hold)
    window_rows: dict[str, int]
    all_spans: dict[str, dict[dt.date, tuple[int, int]]]  # every day of the range: (first_id, rows) if rows

    @property
    def days(self) -> list[dt.date]:
        lo, hi = self.window
        return [lo + dt.timedelta(days=i) for i in range((hi - lo).days + 1)]

    def day_spans(self, table: str) -> dict[dt.date, tuple[int, int]]:
        """(first_id, rows) of each window day of table; days without rows are left out."""
        spans: dict[dt.date, tuple[int, int]] = {}
        for p in self.parts[table]:
            first, rows = spans.get(p.day, (p.first_id, 0))
            spans[p.day] = (first, rows + p.rows)
        return {d: s for d, s in spans.items() if s[1] > 0}


class Streams:
    """Everything a partition needs from the core entities, computed once per run."""

    def __init__(self, cfg: Config, gen: Generated) -> None:
        self.cfg = cfg
        self.gen = gen
        self.taps: tap_events.Context = tap_events.context(cfg, gen.full["devices"], gen.full["accounts"])
        self.people: People = people(cfg, gen.full["users"], gen.full["accounts"], gen.full["locations"],
                                     gen.full["devices"])
        self.digest = content_digest(cfg, gen)

    # -- counting ----------------------------------------------------------------------------------
    def _blocks(self, table: str) -> int:
        return self.taps.blocks if table == "tap_events" else 1

    def count(self, table: str, day: dt.date, block: int) -> int:
        if table == "tap_events":
            return tap_events.count(self.cfg, self.taps, day, block)
        if table == "user_sessions":
            return user_sessions.build(self.cfg, self.people, day, 1).height
        return feature_usage.build(self.cfg, self.people, day, 1).height

    def plan(self, tables: tuple[str, ...], start: dt.date | None = None, end: dt.date | None = None) -> Plan:
        """Count every partition of the event range; keep the window's. Refuses a range the id ranges can't hold."""
        ev = self.cfg.events
        lo, hi = start or ev.start_date, end or ev.end_date
        for name, d in (("--start", lo), ("--end", hi)):
            if not ev.start_date <= d <= ev.end_date:
                raise UsageError(f"{name} {d} is outside the event range {ev.start_date} to {ev.end_date} "
                                 "(events.range in the config)",
                                 hint="pick dates inside events.range, or widen it in the config")
        if hi < lo:
            raise UsageError(f"--start {lo} is after --end {hi}")
        parts: dict[str, list[Part]] = {}
        all_spans: dict[str, dict[dt.date, tuple[int, int]]] = {}
        range_rows: dict[str, int] = {}
        window_rows: dict[str, int] = {}
        for table in tables:
            first_id, _ = self.cfg.id_range(TABLES[table].id_range_key)
            next_id, keep = first_id, []
            spans = all_spans[table] = {}
            next_session = self.cfg.id_range("user_sessions")[0]
            for i in range(ev.days):
                day = ev.start_date + dt.timedelta(days=i)
                sessions, day_first = 0, next_id
                for block in range(self._blocks(table)):
                    if table == "page_views":
                        frame = user_sessions.build(self.cfg, self.people, day, 1)
                        n, sessions = int(frame["page_views"].sum()), frame.height
                    else:
                        n = self.count(table, day, block)
                    if lo <= day <= hi:
                        keep.append(Part(table, day, block, next_id, n, next_session))
                    next_id += n
                next_session += sessions
                if next_id > day_first:
                    spans[day] = (day_first, next_id - day_first)
            parts[table] = keep
            range_rows[table] = next_id - first_id
            window_rows[table] = sum(p.rows for p in keep)
            _check_fits(self.cfg, table, range_rows[table])
        return Plan((lo, hi), parts, range_rows, window_rows, all_spans)

    # -- building ----------------------------------------------------------------------------------
    def build(self, part: Part) -> pl.DataFrame:
        cfg, p = self.cfg, part
        if p.table == "tap_events":
            frame = tap_events.build(cfg, self.taps, p.day, p.block, p.first_id)
        elif p.table == "user_sessions":
            frame = user_sessions.build(cfg, self.people, p.day, p.first_id)
        elif p.table == "page_views":
            sessions = user_sessions.build(cfg, self.people, p.day, p.sessions_first_id)
            frame = page_views.build(cfg, self.people, sessions, p.day, p.first_id)
        else:
            frame = feature_usage.build(cfg, self.people, p.day, p.first_id)
        if frame.height != p.rows:  # the plan and the builder disagree: a bug, never user input
            raise AssertionError(f"{p.table} {p.day} block {p.block}: planned {p.rows} rows, built {frame.height}")
        # optional columns NULL at data_quality's rate, from the partition's own stream (tap events have none)
        return with_nulls(frame, TABLES[p.table], cfg.optional_null_rate,
                          stream(cfg.seed, p.table, "nulls", p.day.isoformat(), p.block))

    def build_conformed(self, part: Part) -> pl.DataFrame:
        """The partition as loaded: declared columns only."""
        return conform(self.build(part), TABLES[part.table])

    def parents(self, part: Part, frame: pl.DataFrame) -> checks.Frames:
        """The frames the partition checks join against: the core entities (as built) and, for page views,
        the sessions of the same day."""
        frames = dict(self.gen.full)
        frames[part.table] = frame
        frames[checks.PARTITION] = pl.DataFrame({"first_id": [part.first_id], "rows": [part.rows],
                                                 "day": [part.day]})
        if part.table == "page_views":
            frames["user_sessions"] = user_sessions.build(self.cfg, self.people, part.day, part.sessions_first_id)
        return frames


def content_digest(cfg: Config, gen: Generated) -> str:
    """What a day's event rows depend on besides the day: the seed, the event settings (not the range, which
    only moves ids), the hours and roles, the end of time, and the core rows. Stored on every partition, so a
    window is only ever put next to days made the same way."""
    ev = dataclasses.replace(cfg.events, start_date=dt.date.min, end_date=dt.date.min)
    parts = [repr((cfg.seed, ev, cfg.business_hours, cfg.peak_hours, [r.name for r in cfg.roles], cfg.end))]
    parts += [fingerprint(gen.frames[k], k) for k in ("accounts", "locations", "devices", "users")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _check_fits(cfg: Config, table: str, rows: int) -> None:
    lo, hi = cfg.id_range(TABLES[table].id_range_key)
    if rows > hi - lo + 1:
        ev = cfg.events
        raise ConfigError(
            f"id_ranges.{table}",
            f"the event range {ev.start_date} to {ev.end_date} needs {rows:,} {table} ids but [{lo:,}, {hi:,}] "
            f"holds {hi - lo + 1:,}",
            hint=f"widen id_ranges.{table} to at least [{lo}, {lo + rows - 1}] or shorten events.range "
                 "(`just generate-events --dry-run` shows the counts)",
        )


@dataclass(frozen=True)
class Built:
    part: Part
    frame: pl.DataFrame
    fingerprint: str
    outcomes: list[checks.Outcome]
    layout: npt.NDArray[np.int32] | None = None  # per-row binary layout, when the builder gives one


def build_checked(streams: Streams, part: Part) -> Built:
    """Build a partition, run the partition checks against its parents, and fingerprint it."""
    full = streams.build(part)
    layout = full["_layout"].to_numpy() if "_layout" in full.columns else None
    frame = conform(full, TABLES[part.table])
    outcomes = checks.run_checks(streams.parents(part, frame), streams.cfg, partition=part.table)
    return Built(part, frame, fingerprint(frame, part.table), outcomes, layout)


def event_tables(only: tuple[str, ...] | None) -> tuple[str, ...]:
    keys = tuple(t.key for t in EVENT_TABLES)
    if not only:
        return keys
    unknown = [t for t in only if t not in keys]
    if unknown:
        raise UsageError(f"--tables: unknown event table {', '.join(unknown)}", hint=f"choose from {', '.join(keys)}")
    if "page_views" in only or "user_sessions" in only:
        # page views reference sessions, and their ids follow the sessions': they are replaced together
        only = ("user_sessions", "page_views", *only)
    return tuple(k for k in keys if k in only)


def iter_parts(plan: Plan) -> Iterator[Part]:
    for table in plan.parts:
        yield from plan.parts[table]
