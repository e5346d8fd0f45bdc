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
from datagen.builders import EVENTS, EventInputs, Part, prepare_event_inputs
from datagen.builders._common import with_nulls
from datagen.config import Config
from datagen.config.scale import at_limit
from datagen.errors import ConfigError, UsageError, ValidationFailed
from datagen.generate import Generated
from datagen.manifest import fingerprint
from datagen.rng import stream
from datagen.tables import EVENT_TABLES, TABLES, ancestors, conform, same_day_parents


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
    """Everything a partition needs from the core entities, computed once per run, and the registered partition
    builders (builders.EVENTS) run with the random stream of each partition."""

    def __init__(self, cfg: Config, gen: Generated) -> None:
        self.cfg = cfg
        self.gen = gen
        self.inputs: EventInputs = prepare_event_inputs(cfg, gen.full)
        self.digest = content_digest(cfg, gen)

    def _blocks(self, table: str) -> int:
        blocks = EVENTS[table].blocks
        return 1 if blocks is None else blocks(self.inputs)

    def _rng(self, part: Part) -> np.random.Generator:
        return stream(self.cfg.seed, *EVENTS[part.table].stream_key(part))

    def same_day(self, part: Part) -> dict[str, pl.DataFrame]:
        """The same day's partitions of the event tables part's table references, as built (page views: the
        day's sessions, with their ids)."""
        first = dict(part.same_day_first)
        out: dict[str, pl.DataFrame] = {}
        # a same-day parent has one partition a day and no same-day parent itself (tests/test_registry.py)
        for key in same_day_parents(TABLES[part.table]):
            if key not in first:
                raise AssertionError(f"{part.table} {part.day}: the part does not say where {key}'s ids start")
            parent = Part(key, part.day, 0, first[key], 0)
            out[key] = EVENTS[key].build(self.cfg, self.inputs, parent, self.same_day(parent), self._rng(parent))
        return out

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
        starts: dict[str, list[int]] = {}  # per table, its next id at the start of each day of the range
        for table in _with_same_day_parents(tables):
            t = TABLES[table]
            first_id, _ = self.cfg.id_range(t.id_range_key)
            next_id, keep = first_id, []
            spans = all_spans[table] = {}
            starts[table] = []
            entry = EVENTS[table]
            for i in range(ev.days):
                day = ev.start_date + dt.timedelta(days=i)
                day_first = next_id
                starts[table].append(next_id)
                same_first = tuple((key, starts[key][i]) for key in same_day_parents(t))
                for block in range(self._blocks(table)):
                    probe = Part(table, day, block, next_id, 0, same_first)
                    n = entry.count(self.cfg, self.inputs, probe, self.same_day(probe), self._rng(probe))
                    if lo <= day <= hi:
                        keep.append(dataclasses.replace(probe, rows=n))
                    next_id += n
                if next_id > day_first:
                    spans[day] = (day_first, next_id - day_first)
            parts[table] = keep
            range_rows[table] = next_id - first_id
            window_rows[table] = sum(p.rows for p in keep)
            _check_fits(self.cfg, table, range_rows[table])
        asked = [k for k in parts if k in tables]
        return Plan((lo, hi), {k: parts[k] for k in asked}, {k: range_rows[k] for k in asked},
                    {k: window_rows[k] for k in asked}, {k: all_spans[k] for k in asked})

    def day_rows(self, table: str, day: dt.date) -> int:
        """The rows of table on day, counted from that day's partitions alone (no first id: that takes the
        prefix sum over every day before)."""
        same_first = tuple((key, 1) for key in same_day_parents(TABLES[table]))
        rows = 0
        for block in range(self._blocks(table)):
            probe = Part(table, day, block, 0, 0, same_first)
            rows += EVENTS[table].count(self.cfg, self.inputs, probe, self.same_day(probe), self._rng(probe))
        return rows

    # -- building ----------------------------------------------------------------------------------
    def build(self, part: Part) -> pl.DataFrame:
        cfg, p = self.cfg, part
        frame = EVENTS[p.table].build(cfg, self.inputs, p, self.same_day(p), self._rng(p))
        _as_planned(p, frame.height)
        # optional columns NULL at data_quality's rate, from the partition's own stream (tap events have none)
        return with_nulls(frame, TABLES[p.table], cfg.optional_null_rate,
                          stream(cfg.seed, p.table, "nulls", p.day.isoformat(), p.block))

    def build_slices(self, part: Part, max_rows: int) -> Iterator[tuple[Part, pl.DataFrame]]:
        """The partition as consecutive slices of about max_rows rows (the builder's slices, else the whole
        partition), each with the Part of its own rows; their concatenation is build(part)."""
        slices = EVENTS[part.table].slices
        if slices is None:
            yield part, self.build(part)
            return
        if TABLES[part.table].optional_columns:  # NULLs are drawn per partition (build): not per slice
            raise AssertionError(f"{part.table}: a table with optional columns cannot be built in slices")
        done = 0
        for frame in slices(self.cfg, self.inputs, part, self.same_day(part), self._rng(part), max_rows):
            rows = frame.height
            yield dataclasses.replace(part, first_id=part.first_id + done, rows=rows), frame
            del frame
            done += rows
        _as_planned(part, done)

    def build_conformed(self, part: Part) -> pl.DataFrame:
        """The partition as loaded: declared columns only."""
        return conform(self.build(part), TABLES[part.table])

    def parents(self, part: Part, frame: pl.DataFrame) -> checks.Frames:
        """The frames the partition checks join against: the core entities (as built) and the same day's
        partitions of the event tables it references (page views: the day's sessions)."""
        frames = dict(self.gen.full)
        frames[part.table] = frame
        frames[checks.PARTITION] = pl.DataFrame({"first_id": [part.first_id], "rows": [part.rows],
                                                 "day": [part.day]})
        frames.update(self.same_day(part))
        return frames


def _as_planned(part: Part, built: int) -> None:
    if built != part.rows:  # the plan and the builder disagree: a bug, never user input
        raise AssertionError(f"{part.table} {part.day} block {part.block}: planned {part.rows} rows, built {built}")


def _with_same_day_parents(tables: tuple[str, ...]) -> list[str]:
    """tables and the event tables they are built from on the same day, parents first (declared order)."""
    wanted = set(tables)
    for t in reversed(EVENT_TABLES):  # children after parents, so one pass from the end reaches every parent
        if t.key in wanted:
            wanted.update(same_day_parents(t))
    return [t.key for t in EVENT_TABLES if t.key in wanted]


def content_digest(cfg: Config, gen: Generated) -> str:
    """What a day's event rows depend on besides the day: the seed, the event settings (not the range, which
    only moves ids), the hours and roles, the end of time, and the core rows. Stored on every partition, so a
    window is only ever put next to days made the same way."""
    ev = dataclasses.replace(cfg.events, start_date=dt.date.min, end_date=dt.date.min)
    parts = [repr((cfg.seed, ev, cfg.business_hours, cfg.peak_hours, [r.name for r in cfg.roles], cfg.end))]
    parts += [fingerprint(gen.frames[t.key], t.key) for t in ancestors({t.key for t in EVENT_TABLES})]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _check_fits(cfg: Config, table: str, rows: int) -> None:
    lo, hi = cfg.id_range(TABLES[table].id_range_key)
    if rows > hi - lo + 1:
        ev = cfg.events
        raise ConfigError(
            f"id_ranges.{table}",
            f"the event range {ev.start_date} to {ev.end_date} needs {rows:,} {table} ids but [{lo:,}, {hi:,}] "
            f"holds {hi - lo + 1:,}",
            hint=at_limit(cfg, table) or f"widen id_ranges.{table} to at least [{lo}, {lo + rows - 1}] (or write "
                 "auto), or shorten events.range (`just generate-events --dry-run` shows the counts)",
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
    return _checked(streams, part, streams.build(part))


def _checked(streams: Streams, part: Part, full: pl.DataFrame) -> Built:
    layout = full["_layout"].to_numpy() if "_layout" in full.columns else None
    frame = conform(full, TABLES[part.table])
    outcomes = checks.run_checks(streams.parents(part, frame), streams.cfg, partition=part.table)
    return Built(part, frame, fingerprint(frame, part.table), outcomes, layout)


def build_passed(streams: Streams, part: Part) -> Built:
    """build_checked, refusing a partition that fails a check: what the loader is handed is checked."""
    return _refuse_failed(build_checked(streams, part))


def _refuse_failed(built: Built) -> Built:
    part = built.part
    bad = [o for o in built.outcomes if not o.passed]
    if bad:
        raise ValidationFailed("\n".join(
            [f"partition {part.table} {part.day} block {part.block} failed its checks; nothing was written:"]
            + [f"  {o.check.name}: {o.violations:,} violation(s); sample keys: {', '.join(map(str, o.sample))}"
               for o in bad]))
    return built


def build_passed_slices(streams: Streams, part: Part, max_rows: int) -> Iterator[Built]:
    """build_passed a slice at a time (Streams.build_slices): each slice checked against its parents and its
    own run of ids, refused like a partition; only one slice's frames are alive at a time."""
    for piece, frame in streams.build_slices(part, max_rows):
        yield _refuse_failed(_checked(streams, piece, frame))
        del frame


def merged(slices: list[list[checks.Outcome]]) -> list[checks.Outcome]:
    """One partition's outcomes from its slices' (the same checks, in the same order): violations and seconds
    add up, samples are the first ones found."""
    out = []
    for same in zip(*slices, strict=True):
        sample = [k for o in same for k in o.sample][:checks.SAMPLE_KEYS]
        out.append(checks.Outcome(same[0].check, sum(o.violations for o in same), sample,
                                  sum(o.seconds for o in same)))
    return out


def event_tables(only: tuple[str, ...] | None) -> tuple[str, ...]:
    keys = tuple(t.key for t in EVENT_TABLES)
    if not only:
        return keys
    unknown = [t for t in only if t not in keys]
    if unknown:
        raise UsageError(f"--tables: unknown event table {', '.join(unknown)}", hint=f"choose from {', '.join(keys)}")
    # a table built from another's same day (page views from sessions) takes its ids from it: replaced together
    wanted = set(only)
    while True:
        linked = {t.key for t in EVENT_TABLES for p in same_day_parents(t) if t.key in wanted or p in wanted}
        linked |= {p for t in EVENT_TABLES if t.key in wanted for p in same_day_parents(t)}
        if linked <= wanted:
            return tuple(k for k in keys if k in wanted)
        wanted |= linked


def iter_parts(plan: Plan) -> Iterator[Part]:
    for table in plan.parts:
        yield from plan.parts[table]
