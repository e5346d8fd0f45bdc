"""Stage 5: prove that what is in PostgreSQL is exactly what the config, the seed and the manifest say.

The core tables are read back and run through the same catalogue as the frames before the load. The
event tables are read day partition by day partition, one partition per connection in memory, each run
through the partition checks against the core tables read back and fingerprinted. Tables and partitions
are then compared with the manifest the generate runs wrote: missing, extra and altered ones by name.
A shared advisory lock on the schema keeps a load from changing the tables while they are read.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl
import psycopg

from datagen import checks, events, manifest_store, readback
from datagen.catalog import existing_partitions, lock_key, stored_layout, tables_present
from datagen.checks import distributions
from datagen.config import Config, config_digest
from datagen.db import Target, connect, describe, redact
from datagen.errors import DatabaseError, UsageError
from datagen.generate import generate
from datagen.manifest import core_scale, fingerprint, read_manifest, scale_mismatch
from datagen.parquet_store import MANIFEST_FILE, Dataset
from datagen.tables import (
    CORE_TABLES,
    EVENT_TABLES,
    TABLES,
    Table,
    ancestors,
    cast_to_declared,
    same_day_groups,
    same_day_parents,
)
from datagen.tuning import READ_CONNECTIONS


@dataclass(frozen=True)
class Rule:
    """A check that compares the database with the manifest instead of running on frames."""

    name: str
    description: str


def manifest_rules(keys: list[str]) -> list[Rule]:
    out = []
    for key in keys:
        t = TABLES[key]
        what = "day partitions (rows, first id, fingerprint; none missing or extra)" if t.partitioned else \
            "rows, id span and content fingerprint"
        out.append(Rule(f"{key}.matches_manifest", f"{t.name}: {what} equal the manifest's"))
    return out


# Checks on how a table is stored that the typed frames cannot see (one per table with a packed column)
STORAGE_RULES = [Rule(f"{t.key}.{t.packed.column}_well_formed",
                      f"{t.name}.{t.packed.column} (contract layout) holds only the keys "
                      f"{', '.join(k for k, _ in t.packed.keys)}, each a number")
                 for t in EVENT_TABLES if t.packed is not None]


def catalogue_names() -> list[tuple[str, str]]:
    """Every check validate can run: (name, description), in report order."""
    keys = [t.key for t in CORE_TABLES + EVENT_TABLES]
    frame_checks = checks.catalogue() + checks.partition_catalogue()
    return ([(c.name, c.description) for c in frame_checks] + [(r.name, r.description) for r in STORAGE_RULES]
            + [(c.name, c.description) for c in distributions.CHECKS]
            + [(r.name, r.description) for r in manifest_rules(keys)])


DESCRIPTIONS = dict(catalogue_names())


@dataclass
class Finding:
    """One check's result over the whole database (partition checks: summed over partitions)."""

    name: str
    description: str
    severity: str = "error"
    status: str = "ok"  # ok, FAIL or skipped
    violations: int = 0
    sample: list[Any] = field(default_factory=list)
    where: list[str] = field(default_factory=list)  # partitions with violations
    runs: int = 0
    seconds: float = 0.0
    note: str = ""

    def add(self, violations: int, sample: list[Any], seconds: float, where: str | None = None) -> None:
        self.runs += 1
        self.seconds += seconds
        if violations:
            self.status = "FAIL"
            self.violations += violations
            self.sample += sample[: checks.SAMPLE_KEYS - len(self.sample)]
            if where and len(self.where) < checks.SAMPLE_KEYS:
                self.where.append(where)

    @property
    def passed(self) -> bool:
        return self.status != "FAIL"


@dataclass
class TableState:
    key: str
    name: str
    rows: int | None = None  # None: not read (not asked for, or its parents are missing)
    partitions: int = 0
    manifest_rows: int | None = None
    manifest_partitions: int | None = None
    present: bool = True


@dataclass
class Validation:
    schema: str
    target: str
    manifest_path: Path | None  # the JSON file compared with (--manifest); None: the schema's manifest table
    manifest: dict[str, Any] | None
    findings: list[Finding]
    tables: list[TableState]
    rows_read: int
    read_seconds: float  # reading and checking the event partitions
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.findings)


@dataclass(frozen=True)
class Options:
    schema: str
    manifest_path: Path | None  # --manifest: compare with this JSON file instead of the schema's manifest table
    tables: tuple[str, ...] | None
    checks: tuple[str, ...] | None  # fnmatch patterns
    connections: int = READ_CONNECTIONS


def selected(name: str, patterns: tuple[str, ...] | None) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def check_selection(opts: Options) -> None:
    """Usage errors before any database work: unknown tables, patterns that match no check."""
    if opts.tables:
        unknown = [t for t in opts.tables if t not in TABLES]
        if unknown:
            raise UsageError(f"--tables: unknown table {', '.join(unknown)}", hint=f"choose from {', '.join(TABLES)}")
    if opts.checks:
        names = [n for n, _ in catalogue_names()]
        empty = [p for p in opts.checks if not any(fnmatch.fnmatchcase(n, p) for n in names)]
        if empty:
            raise UsageError(f"--checks: {', '.join(empty)} matches no check",
                             hint="`just validate --list` prints every check; patterns take * and ?")
    if opts.manifest_path is not None and not opts.manifest_path.is_file():
        raise UsageError(f"--manifest: {opts.manifest_path} does not exist")


def validate(cfg: Config, target: Target, opts: Options,
             on_progress: Callable[[int], None] | None = None,
             on_total: Callable[[int], None] | None = None) -> Validation:
    check_selection(opts)
    t0 = time.perf_counter()
    warnings: list[str] = []
    manifest = read_manifest(opts.manifest_path) if opts.manifest_path is not None else None
    if opts.manifest_path is not None and manifest is None:
        raise UsageError(f"--manifest: {opts.manifest_path} is not a manifest (JSON, as `datagen status --export` "
                         "writes)")
    wanted = set(opts.tables or TABLES)
    try:
        with connect(target) as conn, conn.cursor() as cur:
            conn.autocommit = True
            lock_shared(cur, opts.schema, warnings)
            if opts.manifest_path is None:
                manifest = manifest_store.read(cur, opts.schema)  # under the shared lock: no load is half-way
                if manifest is None:
                    warnings.append(f"schema {opts.schema} has no manifest table (it was loaded before datagen "
                                    "recorded one): the comparison with the manifest is skipped; reload with "
                                    "`just generate` and `just generate-events` to record it")
            check_scale(manifest, cfg, f"schema {opts.schema}")
            if manifest is not None and manifest.get("seed") not in (None, cfg.seed):
                warnings.append(f"the manifest was written with seed {manifest.get('seed')}, the config has "
                                f"{cfg.seed}")
            present = {TABLES[k].name for k in tables_present(cur, opts.schema, list(TABLES.values()))}
            if not present:
                raise UsageError(f"schema {opts.schema} at {describe(target.conninfo)} holds no datagen table",
                                 hint="run `just generate` (and `just generate-events`) first, or pass --schema")
            partitions = {t.key: sorted(existing_partitions(cur, opts.schema, t)) for t in EVENT_TABLES
                          if t.name in present}
            layouts = {t.key: stored_layout(cur, opts.schema, t, cfg.events.tap_layout) for t in EVENT_TABLES
                       if t.name in present}
            for t in EVENT_TABLES:
                if t.key in layouts and layouts[t.key] != t.layout_of(cfg.events.tap_layout):
                    warnings.append(f"{opts.schema}.{t.name} is stored in the {layouts[t.key]} layout; the config "
                                    f"asks for {cfg.events.tap_layout} (events.{t.key}.layout), which the next "
                                    "whole-range `just generate-events` switches to")
            source = PostgresSource(target, opts.schema)
            try:
                return _run(cfg, source, opts, manifest, present, partitions, layouts, wanted, warnings, t0,
                            on_progress, on_total)
            finally:
                source.close()
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read schema {opts.schema} at {describe(target.conninfo)}: "
                            f"{redact(str(exc).strip().splitlines()[0])}") from None


def validate_parquet(cfg: Config, ds: Dataset, opts: Options,
                     on_progress: Callable[[int], None] | None = None,
                     on_total: Callable[[int], None] | None = None) -> Validation:
    """validate over a Parquet dataset (`--parquet PATH_OR_URL`): the same catalogue and manifest comparison,
    the manifest being the dataset's _datagen_manifest.json (or --manifest)."""
    check_selection(opts)
    t0 = time.perf_counter()
    warnings: list[str] = []
    if opts.manifest_path is not None:
        manifest = read_manifest(opts.manifest_path)
        if manifest is None:
            raise UsageError(f"--manifest: {opts.manifest_path} is not a manifest (JSON)")
    else:
        manifest = ds.read_manifest()
        if manifest is None:
            warnings.append(f"{ds.display} has no {MANIFEST_FILE}: the comparison with the manifest is skipped")
    check_scale(manifest, cfg, ds.display)
    if manifest is not None and manifest.get("seed") not in (None, cfg.seed):
        warnings.append(f"the manifest was written with seed {manifest.get('seed')}, the config has {cfg.seed}")
    present, partitions, layouts = parquet_contents(ds)
    return _run(cfg, ParquetSource(ds), opts, manifest, present, partitions, layouts, set(opts.tables or TABLES),
                warnings, t0, on_progress, on_total)


def parquet_contents(ds: Dataset) -> tuple[set[str], dict[str, list[str]], dict[str, str]]:
    """The tables a Parquet dataset holds, its event tables' day partitions (named as in PostgreSQL) and their
    layout (always typed); refuses a dataset with no datagen table."""
    present = {t.name for t in CORE_TABLES + EVENT_TABLES if ds.has_table(t)}
    if not present:
        raise UsageError(f"{ds.display} holds no datagen table",
                         hint="write one with `just generate --sink parquet --out PATH` first")
    partitions = {t.key: [t.partition_name(d) for d in ds.days(t)] for t in EVENT_TABLES if t.name in present}
    return present, partitions, {t.key: "typed" for t in EVENT_TABLES if t.name in present}


def check_scale(manifest: dict[str, Any] | None, cfg: Config, where: str, command: str = "validate") -> None:
    scale = scale_mismatch(manifest, cfg.scale, where)
    if scale is not None:
        raise UsageError(f"{scale}: its rows would fail every count", hint=f"{command} with --scale "
                         f"{core_scale(manifest):g}")


def lock_shared(cur: psycopg.Cursor[tuple[object, ...]], schema: str, warnings: list[str]) -> None:
    """Wait for a running load into the schema; keep loads out while reading (the loaders lock exclusively)."""
    cur.execute("SELECT pg_try_advisory_lock_shared(%s)", (lock_key(schema),))
    row = cur.fetchone()
    if not (row and row[0]):
        warnings.append(f"waited for a load into schema {schema} to finish")
        cur.execute("SELECT pg_advisory_lock_shared(%s)", (lock_key(schema),))


def _run(cfg: Config, source: Source, opts: Options, manifest: dict[str, Any] | None, present: set[str],
         partitions: dict[str, list[str]], layouts: dict[str, str], wanted: set[str], warnings: list[str], t0: float,
         on_progress: Callable[[int], None] | None, on_total: Callable[[int], None] | None) -> Validation:
    findings: dict[str, Finding] = {}

    def finding(name: str, description: str) -> Finding:
        if name not in findings:
            findings[name] = Finding(name, description)
        return findings[name]

    states = {t.key: TableState(t.key, t.name, present=t.name in present) for t in CORE_TABLES + EVENT_TABLES}
    man_tables = (manifest or {}).get("tables") or {}
    man_events = (manifest or {}).get("events") or {}

    # -- core tables: read back whole, the catalogue, the manifest ----------------------------------------
    core: dict[str, pl.DataFrame] = {}
    for t in CORE_TABLES:
        if t.name in present:
            core[t.key] = source.read_core(t)
            states[t.key].rows = core[t.key].height
    frames = readback.with_hidden(core)
    for t in CORE_TABLES:
        if t.key in wanted and t.name not in present:
            finding(f"{t.key}.present", f"{t.name} exists").add(1, [f"{source.where(t)} is missing"], 0.0)
    for o in checks.run_checks(frames, cfg):
        if o.check.tables[0] in wanted and selected(o.check.name, opts.checks):
            finding(o.check.name, o.check.description).add(o.violations, o.sample, o.seconds)
    for rule in manifest_rules([t.key for t in CORE_TABLES]):
        key = rule.name.split(".")[0]
        if key not in wanted or key not in core or not selected(rule.name, opts.checks):
            continue
        f = finding(rule.name, rule.description)
        entry = man_tables.get(key)
        states[key].manifest_rows = entry.get("rows") if entry else None
        if manifest is None:
            f.status, f.note = "skipped", "no manifest"
            continue
        tc = time.perf_counter()
        diffs = _core_diffs(core[key], key, entry)
        f.add(len(diffs), diffs, time.perf_counter() - tc)

    # -- event tables: partition by partition ---------------------------------------------------------
    ev_keys = [t.key for t in EVENT_TABLES if t.key in partitions  # with the same-day parents of those asked for
               and (t.key in wanted or any(t.key in same_day_parents(TABLES[k]) for k in wanted))]
    seen: dict[str, dict[str, tuple[int | None, int, str]]] = {t.key: {} for t in EVENT_TABLES}
    rows_read, read_s = 0, 0.0
    tap_aggs: list[distributions.Aggregate] = []
    tap_days: list[dt.date] = []
    if ev_keys and all(t.key in core for t in ancestors({t.key for t in EVENT_TABLES})):
        units = _units(partitions, ev_keys)
        same_config = manifest is not None and manifest.get("config_digest") == config_digest(cfg)
        spans = _expected_spans(events.Streams(cfg, generate(cfg)), units, man_events if same_config else {})
        if on_total:
            on_total(sum(spans[k].get(day, (0, 0))[1] for day, keys in units for k in keys))
        tr = time.perf_counter()
        for result in _read_partitions(source, opts, cfg, frames, spans, partitions, layouts, units, on_progress):
            if result.aggregate is not None:
                tap_aggs.append(result.aggregate)
                tap_days.append(result.day)
            rows_read += result.rows
            key = result.key
            states[key].rows = (states[key].rows or 0) + result.rows
            states[key].partitions += 1
            seen[key][result.name] = (result.first_id, result.rows, result.fingerprint)
            if key not in wanted:
                continue
            for o in result.outcomes:
                if selected(o.check.name, opts.checks):
                    finding(o.check.name, o.check.description).add(o.violations, o.sample, o.seconds, result.name)
            for rule in STORAGE_RULES:
                if result.malformed is not None and rule.name.startswith(f"{key}.") and selected(rule.name,
                                                                                               opts.checks):
                    n, first_bad, seconds = result.malformed
                    finding(rule.name, rule.description).add(n, [first_bad] if n else [], seconds, result.name)
            if result.outside and selected(f"{key}.ids_continuous", opts.checks):
                finding(f"{key}.ids_continuous", DESCRIPTIONS[f"{key}.ids_continuous"]).add(
                    result.rows, [f"{result.name}: not a day of events.range"], 0.0, result.name)
        read_s = time.perf_counter() - tr
    elif ev_keys:
        warnings.append("the event tables were not checked: a core table they join is missing")
    if tap_days and distributions.TABLE in wanted:
        _distribution_findings(cfg, frames, tap_aggs, tap_days, opts, finding)
    for key, names in partitions.items():
        for name in names:
            if TABLES[key].day_of(name) is None:
                seen[key][name] = (None, 0, "")  # not a partition datagen made: reported as extra
    for t in EVENT_TABLES:
        entry = man_events.get(t.key)
        st = states[t.key]
        if entry:
            st.manifest_rows, st.manifest_partitions = entry.get("rows"), len(entry.get("partitions") or {})
        if t.key not in wanted or not selected(f"{t.key}.matches_manifest", opts.checks):
            continue
        if t.name not in present and not entry:
            continue
        rule = manifest_rules([t.key])[0]
        f = finding(rule.name, rule.description)
        if manifest is None:
            f.status, f.note = "skipped", "no manifest"
            continue
        tc = time.perf_counter()
        diffs = _partition_diffs(seen[t.key], entry, layouts.get(t.key))
        f.add(len(diffs), diffs, time.perf_counter() - tc)
    return Validation(opts.schema, source.display, opts.manifest_path, manifest, list(findings.values()),
                      list(states.values()), rows_read, read_s, time.perf_counter() - t0, warnings)


def _distribution_findings(cfg: Config, frames: checks.Frames, aggs: list[distributions.Aggregate],
                           days: list[dt.date], opts: Options, finding: Callable[[str, str], Finding]) -> None:
    """The distribution checks on the tap-event partitions read (inside events.range), summed."""
    tc = time.perf_counter()
    verdicts = distributions.verdicts(distributions.combine(aggs), cfg, frames, days)
    seconds = (time.perf_counter() - tc) / len(verdicts)
    for c in distributions.CHECKS:
        if not selected(c.name, opts.checks):
            continue
        v, f = verdicts[c.name], finding(c.name, c.description)
        if v.note:
            f.status, f.note = "skipped", v.note
            continue
        f.add(len(v.violations), v.violations, seconds)


def _core_diffs(frame: pl.DataFrame, key: str, entry: dict[str, Any] | None) -> list[str]:
    if not entry:
        return [f"{TABLES[key].name}: not in the manifest"]
    ids = frame[TABLES[key].primary_key]
    got: dict[str, object] = {"rows": frame.height, "id_min": ids.min() if frame.height else None,
                              "id_max": ids.max() if frame.height else None, "fingerprint": fingerprint(frame, key)}
    return [f"{k} {got[k]} (manifest {entry.get(k)})" for k in got if got[k] != entry.get(k)]


def _partition_diffs(seen: dict[str, tuple[int | None, int, str]], entry: dict[str, Any] | None,
                     layout: str | None) -> list[str]:
    """Missing, extra and altered partitions by name; a layout other than the manifest's."""
    listed = {str(p["partition"]): p for p in ((entry or {}).get("partitions") or {}).values()}
    recorded = (entry or {}).get("layout")
    out = [f"stored in the {layout} layout (manifest {recorded})"] if recorded and layout and recorded != layout else []
    out += [f"{name}: missing" for name in sorted(set(listed) - set(seen))]
    out += [f"{name}: extra (not in the manifest)" for name in sorted(set(seen) - set(listed))]
    for name in sorted(set(seen) & set(listed)):
        first, rows, fp = seen[name]
        want = listed[name]
        what = [w for w, bad in (("rows", rows != want.get("rows")),
                                 ("first id", bool(rows) and first != want.get("first_id")),
                                 ("fingerprint", fp != want.get("fingerprint"))) if bad]
        if what:
            out.append(f"{name}: altered ({', '.join(what)}; {rows:,} rows, manifest {want.get('rows', 0):,})")
    return out


Unit = tuple[dt.date, tuple[str, ...]]


def _units(partitions: dict[str, list[str]], keys: list[str]) -> list[Unit]:
    """What one connection reads at a time: one day of a table; a day's sessions and page views together
    (page views join the sessions of their day). Partitions not named like datagen's are not read."""
    out: list[Unit] = []
    for group in same_day_groups():
        members = tuple(k for k in group if k in keys)
        days = {TABLES[k].day_of(n) for k in members for n in partitions.get(k, [])}
        out += [(day, members) for day in days if day is not None]
    return sorted(out)


Spans = dict[str, dict[dt.date, tuple[int, int]]]  # per table, per day: (first id, rows) the partition should hold


def _expected_spans(streams: events.Streams, units: list[Unit], man_events: dict[str, Any]) -> Spans:
    """What each partition read should hold: its rows re-planned for its day alone (the plan is the independent
    expectation) and its first id from the manifest, which records every partition's span (man_events: only a
    manifest written with this config's digest, so its first ids are this config's plan). A table with a day
    the manifest does not list has its whole range planned, to learn the first ids the prefix sums give. Days
    outside events.range, and days planned empty, get no span."""
    ev = streams.cfg.events
    spans: Spans = {k: {} for _, keys in units for k in keys}
    unlisted: set[str] = set()
    for day, keys in units:
        if not ev.start_date <= day <= ev.end_date:
            continue
        for key in keys:
            rows = streams.day_rows(key, day)
            listed = ((man_events.get(key) or {}).get("partitions") or {}).get(day.isoformat()) or {}
            if rows and listed.get("first_id") is not None:
                spans[key][day] = (int(listed["first_id"]), rows)
            elif rows:
                unlisted.add(key)
    if unlisted:
        plan = streams.plan(tuple(t.key for t in EVENT_TABLES if t.key in unlisted))
        for key in unlisted:
            spans[key] = {day: plan.all_spans[key][day] for day, keys in units
                          if key in keys and day in plan.all_spans[key]}
    return spans


@dataclass(frozen=True)
class PartResult:
    key: str
    name: str
    rows: int
    first_id: int | None
    fingerprint: str
    outcomes: list[checks.Outcome]
    outside: bool  # rows on a day that is not in the config's event range
    day: dt.date
    malformed: tuple[int, int | None, float] | None = None  # STORAGE_RULES: rows, the first one's id, seconds
    aggregate: distributions.Aggregate | None = None  # tap events inside events.range: the distribution counts


def _read_partitions(source: Source, opts: Options, cfg: Config, core: checks.Frames, spans: Spans,
                     partitions: dict[str, list[str]], layouts: dict[str, str], units: list[Unit],
                     on_progress: Callable[[int], None] | None) -> Iterator[PartResult]:
    """Each unit read, checked and fingerprinted by one of opts.connections threads (one connection each, on
    PostgreSQL); results in unit order."""
    existing = {k: set(v) for k, v in partitions.items()}
    device_industry = distributions.industries(core) if distributions.TABLE in partitions else None

    def job(unit: Unit) -> list[PartResult]:
        day, keys = unit
        frames = dict(core)
        out = []
        for key in keys:
            t = TABLES[key]
            name = t.partition_name(day)
            if name not in existing.get(key, set()):
                continue
            frame = source.read_part(t, name, layouts[key])
            frames[key] = frame
            span = spans[key].get(day)
            outcomes: list[checks.Outcome] = []
            if span is not None:
                frames[checks.PARTITION] = pl.DataFrame({"first_id": [span[0]], "rows": [span[1]], "day": [day]})
                outcomes = checks.run_checks(frames, cfg, partition=key)
            first = frame[t.primary_key].min() if frame.height else None
            bad = None
            if t.packed is not None and layouts[key] == "contract":
                tb = time.perf_counter()
                bad = (*source.malformed(t, name), time.perf_counter() - tb)
            in_range = cfg.events.start_date <= day <= cfg.events.end_date  # the days the report aggregates too
            agg = distributions.aggregate(frame, device_industry) \
                if key == distributions.TABLE and in_range and device_industry is not None else None
            out.append(PartResult(key, name, frame.height, int(first) if first is not None else None,  # type: ignore[arg-type]
                                  fingerprint(frame, key), outcomes, span is None and frame.height > 0, day, bad,
                                  agg))
            if on_progress:
                on_progress(frame.height)
        return out

    with ThreadPoolExecutor(max_workers=max(1, opts.connections)) as pool:
        for results in pool.map(job, units):
            yield from results


class Source(Protocol):
    """Where validate reads the tables from. read_part runs on several threads at once."""

    display: str

    def where(self, t: Table) -> str: ...
    def read_core(self, t: Table) -> pl.DataFrame: ...
    def read_part(self, t: Table, name: str, layout: str, columns: tuple[str, ...] | None = None
                  ) -> pl.DataFrame: ...
    def malformed(self, t: Table, name: str) -> tuple[int, int | None]: ...


class PostgresSource:
    """A PostgreSQL schema, read with ADBC, one connection per reading thread."""

    def __init__(self, target: Target, schema: str) -> None:
        self.display, self.target, self.schema = target.display, target, schema
        self._local = threading.local()
        self._opened: list[readback.Connection] = []
        self._guard = threading.Lock()

    def _conn(self) -> readback.Connection:
        if not hasattr(self._local, "conn"):
            self._local.conn = readback.open_connection(self.target)
            with self._guard:
                self._opened.append(self._local.conn)
        return self._local.conn

    def where(self, t: Table) -> str:
        return f"{self.schema}.{t.name}"

    def read_core(self, t: Table) -> pl.DataFrame:
        return readback.read(self._conn(), self.schema, t)

    def read_part(self, t: Table, name: str, layout: str, columns: tuple[str, ...] | None = None
                  ) -> pl.DataFrame:
        return readback.read(self._conn(), self.schema, t, name, layout, columns)

    def malformed(self, t: Table, name: str) -> tuple[int, int | None]:
        return readback.malformed(self._conn(), self.schema, t, name)

    def close(self) -> None:
        for c in self._opened:
            c.close()
        self._opened.clear()
        self._local = threading.local()


class ParquetSource:
    """A Parquet dataset (parquet_store): each table and day partition read from its files, one at a time."""

    def __init__(self, ds: Dataset) -> None:
        self.display, self.ds = ds.display, ds
        self._days: dict[str, dict[dt.date, list[str]]] = {}  # each table's folders, listed once
        self._guard = threading.Lock()

    def where(self, t: Table) -> str:
        return f"{self.ds.display.rstrip('/')}/{t.key}"

    def read_core(self, t: Table) -> pl.DataFrame:
        return self._read(t, [self.ds.core_file(t)])

    def read_part(self, t: Table, name: str, layout: str, columns: tuple[str, ...] | None = None
                  ) -> pl.DataFrame:
        day = t.day_of(name)
        assert day is not None
        with self._guard:
            if t.key not in self._days:
                self._days[t.key] = self.ds.days(t)
        return self._read(t, self._days[t.key].get(day, []), columns)

    def _read(self, t: Table, files: list[str], columns: tuple[str, ...] | None = None) -> pl.DataFrame:
        frames = [self.ds.read(f, columns) for f in files]
        try:
            frame = pl.concat(frames) if frames else pl.DataFrame(schema=t.polars_schema)
            if columns is not None:
                return readback.declared_columns(frame, t, columns)
            return cast_to_declared(frame.select([c.name for c in t.columns]), t)
        except pl.exceptions.PolarsError as exc:
            raise UsageError(f"{self.where(t)} does not read back as datagen declares it "
                             f"({str(exc).strip().splitlines()[0]})", hint="regenerate it") from None

    def malformed(self, t: Table, name: str) -> tuple[int, int | None]:
        return 0, None  # Parquet stores the typed columns only
