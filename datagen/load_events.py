"""Stage 3 for the event streams: stream partitions into PostgreSQL and swap them in, in one transaction.

Loader threads, one connection each, take the days in plan order; each has its day's next parts built,
checked, fingerprinted and encoded on the build threads a bounded window ahead (memory stays flat) while it
COPYs the day into its own staging table with its id-range CHECK, then adds the primary key and foreign keys
into the core tables, and commits.
Only at the end does one transaction detach and drop the replaced day partitions and attach the staged
ones (PostgreSQL reuses the validated keys; page views' keys into sessions are checked on attach). A failure
or a kill at any moment leaves every visible table exactly as it was; staging tables left behind are
dropped by the next run.
"""

from __future__ import annotations

import datetime as dt
import functools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from datagen import copy_format, ddl, events, executors, manifest_store, readback
from datagen.builders import Part
from datagen.catalog import (
    check_columns,
    claim,
    create_event_tables,
    drop_staging,
    lock_key,
    our_partitions,
    relations,
    remove_partition,
    stored_layout,
    switch_layout,
)
from datagen.checks import Outcome
from datagen.copy_format import write_copy
from datagen.db import Target, connect, describe, load_failed, redact
from datagen.ddl import EVENT_OWNER_COMMENT
from datagen.errors import DatabaseError, RefusedError
from datagen.generate import Generated
from datagen.load import fault_pause
from datagen.manifest import combine, core_scale, fingerprint, scale_mismatch
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES, Table, ancestors
from datagen.tuning import (
    BUILD_WORKERS,
    COPY_BATCH_ROWS,
    COPY_CONNECTIONS,
    LOADER_JOIN_S,
    PREFETCH,
    STAGING_INDEX_WORKERS,
    STAGING_SORT_MEMORY,
)

if TYPE_CHECKING:
    from distributed import Client

Cursor = psycopg.Cursor[tuple[object, ...]]


@dataclass(frozen=True)
class Encoded:
    """A partition ready to copy: its tuples and what the summary and manifest need (the frame is gone)."""

    part: Part
    fingerprint: str
    outcomes: list[Outcome]
    body: bytes | memoryview  # binary COPY tuples, no header or trailer


@dataclass
class EventLoad:
    rows: dict[str, int]
    partitions: dict[str, dict[dt.date, tuple[int, int, str]]]  # table -> day -> (first_id, rows, fingerprint)
    outcomes: list[Outcome]
    copy_seconds: float
    swap_seconds: float
    replaced_partitions: int
    total_seconds: float


def encode(built: events.Built, batch_rows: int, layout: str) -> Encoded:
    """The partition's binary COPY tuples in layout (copy_format.tuples), ready for a loader."""
    body = copy_format.tuples(built.frame, TABLES[built.part.table], layout, row_layout=built.layout,
                              batch_rows=batch_rows)
    return Encoded(built.part, built.fingerprint, built.outcomes, body)


def load_days(plan: events.Plan) -> list[list[Part]]:
    """The days to load, in plan order (parents first, then by day), each as its parts with rows in block
    order. Parts without rows are left out: nothing to build, check or copy. Loaders take the days in this
    order, and each builds its own day's next parts ahead (_stage_all); the order changes no byte of any
    table, since each part's rows depend only on the part."""
    days: list[list[Part]] = []
    for table in plan.parts:
        by_day: dict[dt.date, list[Part]] = {}
        for p in plan.parts[table]:
            if p.rows:
                by_day.setdefault(p.day, []).append(p)
        days.extend(by_day.values())
    return days


DIGEST_COMMENT = "datagen events {}"  # on every partition: how its rows were made (events.content_digest)


def prepare(target: Target, schema: str, gen: Generated, plan: events.Plan, *, full_range: bool,
            yes: bool, confirm: Callable[[str], None], gen_digest: str, layout: str, parents: bool = True,
            adopt: bool = False, scale: float = 1.0) -> int:
    """Checks before any data is built: parents present and equal to this config's, the tables ours, the
    existing partitions consistent with this plan and stored in layout (a whole-range run may switch it).
    Returns how many partitions the run will replace."""
    try:
        with connect(target) as conn, conn.cursor() as cur:
            if parents:
                _check_core(cur, target, schema, gen, set(plan.parts), scale)
            present = relations(cur, schema, [TABLES[t].name for t in plan.parts])
            replaced = 0
            switched: list[str] = []
            for key in plan.parts:
                t = TABLES[key]
                if t.name not in present:
                    continue
                if present[t.name].kind != "p":
                    raise DatabaseError(f"table {schema}.{t.name} is in the way: it is not the partitioned table "
                                        "datagen creates; nothing was changed",
                                        hint=f"drop or rename {schema}.{t.name}, or use another --schema")
                if not adopt:
                    claim(cur, schema, [t], adopt=False)  # read-only here: refuses a table datagen did not make
                replaced += len(_to_replace(cur, schema, t, plan, full_range=full_range, digest=gen_digest,
                                            layout=layout))
                found = stored_layout(cur, schema, t, layout)
                if found != t.layout_of(layout):
                    switched.append(f"{t.key} from the {found} to the {t.layout_of(layout)} layout")
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read schema {schema} at {describe(target.conninfo)}; nothing was changed: "
                            f"{redact(str(exc).strip().splitlines()[0])}") from None
    if replaced or switched:
        what = "every day" if full_range else f"{plan.window[0]} to {plan.window[1]}"
        also = f", switching {' and '.join(switched)}" if switched else ""
        confirm(f"Replace {replaced} existing day partitions ({what}) of {', '.join(plan.parts)} in schema {schema}"
                f"{also}?")
    return replaced


def _check_core(cur: Cursor, target: Target, schema: str, gen: Generated, tables: set[str], cfg_scale: float) -> None:
    """Every core table must exist (`just generate` ran), and those the event tables depend on (foreign keys,
    derived_from; for tap events accounts, locations and devices) must hold what this config and seed
    generate: events join them. The manifest, written in the same transaction as the rows, records their
    fingerprints; the tables are read back (readback.check_parents) only when it does not hold this config's,
    to name the table that differs (or for a schema loaded before manifests)."""
    kinds = relations(cur, schema, [t.name for t in CORE_TABLES])
    missing = [t.name for t in CORE_TABLES if t.name not in kinds]
    if missing:
        raise RefusedError(f"schema {schema} has no {', '.join(missing)}: events reference the core entities; "
                           "nothing was changed", hint="run `just generate` first (same --config and --schema)")
    parents = ancestors(tables)
    for t in parents:
        check_columns(cur, schema, t)
    fix = "run `just generate` with the same --config first, then `just generate-events`"
    manifest = manifest_store.read(cur, schema)
    recorded = (manifest or {}).get("tables", {})
    if all(recorded.get(t.key, {}).get("fingerprint") == fingerprint(gen.frames[t.key], t.key) for t in parents):
        return
    scale = scale_mismatch(manifest, cfg_scale, f"schema {schema}")
    if scale is not None:
        raise RefusedError(f"{scale}; nothing was changed", hint=f"pass --scale {core_scale(manifest):g}, or run "
                           f"`just generate --scale {cfg_scale:g}` first")
    readback.check_parents(target, schema, {t.key: gen.frames[t.key] for t in parents},
                           {t.key: f"the event tables are built on {t.key}" for t in parents},
                           present={t.key for t in parents}, consequence="events would not match their parents",
                           missing_hint=lambda _: fix, differ_hint=lambda _: fix)


def _to_replace(cur: Cursor, schema: str, table: Table, plan: events.Plan, *, full_range: bool,
                digest: str, layout: str) -> list[str]:
    """Existing partitions this run removes; refuses when the others do not fit this plan (a window next to
    days of the other layout among them)."""
    found, asked = stored_layout(cur, schema, table, layout), table.layout_of(layout)
    # an empty table (`just generate` empties them) switches for a window too: no day of the other layout is left
    if found != asked and not full_range and our_partitions(cur, schema, table):
        raise RefusedError(
            f"{schema}.{table.name} is stored in the {found} layout but events.{table.key}.layout is {asked}: a window "
            "cannot be added next to days of the other layout; nothing was changed",
            hint=f"set events.{table.key}.layout: {found} in the config, or load the whole event range "
                 f"(`just generate-events` without --start/--end) to switch every day to the {asked} layout")
    existing = our_partitions(cur, schema, table)
    if full_range:
        return sorted(existing)
    window = {table.partition_name(d) for d in plan.days}
    spans = plan.all_spans[table.key]
    for name, (lo, hi, comment) in sorted(existing.items()):
        if name in window:
            continue
        day = table.day_of(name)
        want = spans.get(day) if day else None
        if want is None or (lo, hi) != (want[0], want[0] + want[1]) or comment != DIGEST_COMMENT.format(digest):
            raise RefusedError(
                f"partition {schema}.{name} (ids {lo:,} to {hi - 1:,}) was not generated from this config and seed, "
                f"so a window cannot be added next to it; nothing was changed",
                hint="regenerate the whole event range: `just generate-events` without --start/--end")
    return sorted(n for n in existing if n in window)


@dataclass
class _Unit:
    """One day of one table, built part by part and streamed by one loader connection into its own staging
    table."""

    table: Table
    day: dt.date
    first_id: int
    planned_rows: int  # the day's rows in the plan: the partition is [first_id, first_id + planned_rows)
    digest: str  # events.content_digest, recorded as the partition's comment
    parts: list[Part]
    layout: str  # events.tap_events.layout
    rows: int = 0
    fingerprints: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    error: BaseException | None = None
    submitted: int = 0  # parts handed to the build pool so far

    @property
    def staging(self) -> str:
        return self.table.staging_name(self.day)


class _Stopped(Exception):
    """Another loader failed: this one rolls its day back and stops."""


Make = Callable[[Part], Encoded]


def load_events(streams: events.Streams, plan: events.Plan, target: Target, *, schema: str, full_range: bool,
                workers: int = BUILD_WORKERS, connections: int = COPY_CONNECTIONS, batch_rows: int = COPY_BATCH_ROWS,
                on_progress: Callable[[str, int], None] | None = None,
                make: Make | None = None,
                replacing_core: Callable[[Callable[[Cursor], None]], object] | None = None,
                adopt: bool = False, run: dict[str, Any] | None = None, client: Client | None = None) -> EventLoad:
    """Generate and load the plan's partitions; the visible change is one transaction at the end.

    make: returns a part ready to copy instead of building it (the benchmark's ceiling reads them from a file);
    it runs on the build threads.
    replacing_core: `generate --only`: a function that replaces core tables in one transaction and runs the
    swap it is given inside it (load.load with before_commit; it records the run). The staging tables then get
    no foreign keys into the core tables (they would point at the rows being replaced); the keys on the
    partitioned tables check the attached days against the new rows in that transaction.
    run: recorded in the manifest table with the swap (manifest_store), when the swap has its own transaction.
    client: a Dask cluster's: each day is staged by a task on a worker (stage_unit) instead of the loader threads.
    """
    t0 = time.perf_counter()
    layout = streams.cfg.events.tap_layout
    result = EventLoad({k: 0 for k in plan.parts}, {k: {} for k in plan.parts}, [], 0.0, 0.0, 0, 0.0)
    units: list[_Unit] = []
    try:
        with connect(target) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                # one run per schema at a time: a second waits here (session lock, held until we disconnect)
                cur.execute("SELECT pg_advisory_lock(%s)", (lock_key(schema),))
                ours = [TABLES[k] for k in plan.parts]
                claim(cur, schema, ours, adopt=adopt)
                before = set(relations(cur, schema, [t.name for t in EVENT_TABLES]))
                create_event_tables(cur, schema, layout)
                for t in EVENT_TABLES:  # the ones just created are ours
                    if t.name not in before:
                        cur.execute(ddl.comment(t, schema, EVENT_OWNER_COMMENT))
                drop_staging(cur, schema)
                # what prepare() saw may have changed while it asked: check again, now that no run can interfere
                if replacing_core is None:
                    _check_core(cur, target, schema, streams.gen, set(plan.parts), streams.cfg.scale)
                for key in plan.parts:
                    _to_replace(cur, schema, TABLES[key], plan, full_range=full_range, digest=streams.digest,
                                layout=layout)
            try:
                tc = time.perf_counter()
                build = make or functools.partial(_make, streams, batch_rows)
                if client is not None:
                    units = _stage_on_cluster(client, streams, target, schema, load_days(plan), plan, result,
                                              on_progress, batch_rows, layout, core_keys=replacing_core is None)
                else:
                    units = _stage_all(target, schema, build, load_days(plan), plan, result, connections,
                                       workers, on_progress, streams.digest, layout, core_keys=replacing_core is None)
                result.copy_seconds = time.perf_counter() - tc
                ts = time.perf_counter()

                def swap(cur: Cursor) -> None:
                    manifest_store.ensure(cur, schema)
                    result.replaced_partitions = _swap(cur, schema, plan, units, full_range=full_range,
                                                       digest=streams.digest, layout=layout)
                    if run is not None and replacing_core is None:
                        manifest_store.put_run(cur, schema, run)
                if replacing_core is None:
                    with conn.transaction(), conn.cursor() as cur:
                        swap(cur)
                else:
                    replacing_core(swap)
                result.swap_seconds = time.perf_counter() - ts
            finally:
                with conn.cursor() as cur:
                    drop_staging(cur, schema)  # after a failure: what the loaders committed, unattached
    except psycopg.errors.ForeignKeyViolation as exc:
        raise DatabaseError(f"a foreign key check failed while loading or swapping partitions; nothing was changed: "
                            f"{redact(str(exc).splitlines()[0])}",
                            hint="regenerate the whole event range (`just generate-events` without --start/--end "
                                 "or --tables); if the core tables changed, run `just generate` first") from None
    except psycopg.Error as exc:
        raise load_failed(exc, target) from None
    for u in units:
        result.partitions[u.table.key][u.day] = (u.first_id, u.rows, combine(u.fingerprints))
    result.total_seconds = time.perf_counter() - t0
    return result


def _make(streams: events.Streams, batch_rows: int, part: Part) -> Encoded:
    return encode(events.build_passed(streams, part), batch_rows, streams.cfg.events.tap_layout)


def _stage_all(target: Target, schema: str, make: Make, days: list[list[Part]], plan: events.Plan,
               result: EventLoad, connections: int, workers: int, on_progress: Callable[[str, int], None] | None,
               digest: str, layout: str, *, core_keys: bool = True) -> list[_Unit]:
    """Stream every day of every table into a committed staging table. `connections` loader threads each keep
    one connection (and one malloc arena) for the whole run and take the days in order; each loader has its
    next PREFETCH parts built by the `workers` build threads while it copies (and the next day's first parts
    while a day's keys are added), so no loader waits on another's day. Returns the units in plan order
    (parents first, then by day)."""
    units = _units_of(days, plan, digest, layout)
    work: queue.Queue[_Unit | None] = queue.Queue()
    for unit in units.values():
        work.put(unit)
    for _ in range(connections):
        work.put(None)
    stop = threading.Event()
    lock = threading.Lock()

    def copied(part: Part) -> None:
        with lock:
            result.rows[part.table] += part.rows
            if on_progress is not None:
                on_progress(part.table, part.rows)

    def failed() -> BaseException | None:
        return next((u.error for u in units.values() if u.error is not None and not isinstance(u.error, _Stopped)),
                    None)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="datagen-build")
    loaders = [threading.Thread(target=_loader, args=(target, schema, work, pool, make, stop, copied, core_keys),
                                name=f"datagen-copy-{i}", daemon=True) for i in range(connections)]
    started: list[threading.Thread] = []
    try:
        for th in loaders:
            th.start()
            started.append(th)
        for th in loaders:
            while th.is_alive():
                th.join(timeout=LOADER_JOIN_S)  # a short wait keeps Ctrl-C responsive
    finally:
        stop.set()  # after a failure or an interrupt: the other loaders roll their days back
        for th in started:
            th.join()
        pool.shutdown(wait=True, cancel_futures=True)
    if (err := failed()) is not None:
        raise err
    short = [u for u in units.values() if u.rows != u.planned_rows]
    if short:  # a loader died outside its day (it records no error): never swap in a partial window
        raise AssertionError(f"{len(short)} day(s) were not loaded, first {short[0].table.key} {short[0].day}")
    order = {table: i for i, table in enumerate(plan.parts)}
    done = sorted(units.values(), key=lambda u: (order[u.table.key], u.day))
    result.outcomes.extend(o for u in done for o in u.outcomes)
    return done


def _units_of(days: list[list[Part]], plan: events.Plan, digest: str, layout: str) -> dict[tuple[str, dt.date], _Unit]:
    units: dict[tuple[str, dt.date], _Unit] = {}
    for parts in days:
        first, planned = plan.all_spans[parts[0].table][parts[0].day]
        units[(parts[0].table, parts[0].day)] = _Unit(TABLES[parts[0].table], parts[0].day, first, planned, digest,
                                                      parts, layout)
    return units


def _stage_on_cluster(c: Client, streams: events.Streams, target: Target, schema: str, days: list[list[Part]],
                      plan: events.Plan, result: EventLoad, on_progress: Callable[[str, int], None] | None,
                      batch_rows: int, layout: str, *, core_keys: bool) -> list[_Unit]:
    """_stage_all on a Dask cluster: one task per day (stage_unit), results gathered as they complete."""
    units = _units_of(days, plan, streams.digest, layout)
    task = functools.partial(stage_unit, target=target, schema=schema, batch_rows=batch_rows, core_keys=core_keys)
    for key, rows, fps, outcomes in executors.map_unordered(c, streams, task, list(units.values()), "copy"):
        unit = units[key]
        unit.rows, unit.fingerprints, unit.outcomes = rows, fps, executors.outcomes_of(outcomes)
        result.rows[unit.table.key] += rows
        if on_progress is not None:
            on_progress(unit.table.key, rows)
    order = {table: i for i, table in enumerate(plan.parts)}
    done = sorted(units.values(), key=lambda u: (order[u.table.key], u.day))
    result.outcomes.extend(o for u in done for o in u.outcomes)
    return done


def stage_unit(streams: events.Streams, unit: _Unit, *, target: Target, schema: str, batch_rows: int,
               core_keys: bool) -> tuple[tuple[str, dt.date], int, list[str], list[executors.OutcomeRow]]:
    """One day built and copied into its committed staging table on a connection of its own (a Dask task).
    A staging table an earlier attempt left (its worker died after the commit) is dropped first, so a retry
    stages the same rows again."""
    executors.wait_if_asked()
    make = functools.partial(_make, streams, batch_rows)
    with connect(target) as conn, ThreadPoolExecutor(max_workers=1) as pool:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema),
                                                                    sql.Identifier(unit.staging)))
        ahead: deque[Future[Encoded]] = deque()
        _prefetch(pool, make, unit, ahead)
        _load_unit(conn, schema, unit, ahead, pool, make, threading.Event(), lambda _p: None, lambda: None,
                   core_keys=core_keys)
    executors.wait_if_asked("after")
    return (unit.table.key, unit.day), unit.rows, unit.fingerprints, executors.outcome_rows(unit.outcomes)


def _prefetch(pool: ThreadPoolExecutor, make: Make, unit: _Unit | None, ahead: deque[Future[Encoded]]) -> None:
    """Keep the unit's next PREFETCH parts building."""
    while unit is not None and unit.submitted < len(unit.parts) and len(ahead) < PREFETCH:
        ahead.append(pool.submit(make, unit.parts[unit.submitted]))
        unit.submitted += 1


def _loader(target: Target, schema: str, work: queue.Queue[_Unit | None], pool: ThreadPoolExecutor, make: Make,
            stop: threading.Event, copied: Callable[[Part], None], core_keys: bool) -> None:
    """Load days from the work queue on one connection until it is empty; stop at the first failure anywhere."""
    conn: psycopg.Connection[tuple[object, ...]] | None = None
    unit = work.get()
    ahead: deque[Future[Encoded]] = deque()
    _prefetch(pool, make, unit, ahead)
    try:
        while unit is not None:
            following: list[tuple[_Unit | None, deque[Future[Encoded]]]] = []  # filled once the day is copied
            try:
                if stop.is_set():
                    raise _Stopped()
                if conn is None:
                    conn = connect(target)
                _load_unit(conn, schema, unit, ahead, pool, make, stop, copied,
                           functools.partial(_take_next, work, pool, make, following), core_keys=core_keys)
            except BaseException as exc:  # the main thread raises it once every loader has stopped
                unit.error = exc
                stop.set()
                for f in (*ahead, *(f for _, fs in following for f in fs)):
                    f.cancel()
                return
            unit, ahead = following[0]
    finally:
        if conn is not None:
            conn.close()


def _take_next(work: queue.Queue[_Unit | None], pool: ThreadPoolExecutor, make: Make,
               into: list[tuple[_Unit | None, deque[Future[Encoded]]]]) -> None:
    """A day is copied: take the next one and start building it while that day's keys are added."""
    unit, ahead = work.get(), deque[Future[Encoded]]()
    _prefetch(pool, make, unit, ahead)
    into.append((unit, ahead))


def _load_unit(conn: psycopg.Connection[tuple[object, ...]], schema: str, unit: _Unit,
               ahead: deque[Future[Encoded]], pool: ThreadPoolExecutor, make: Make, stop: threading.Event,
               copied: Callable[[Part], None], after_copy: Callable[[], None], *,
               core_keys: bool = True) -> None:
    """COPY one day into its staging table, then add its primary key and foreign keys into the core tables
    (so ATTACH later only links them: no scan, no second validation), and commit. Without core_keys the
    foreign keys are left to the attach (the core tables are being replaced in the same transaction).
    A part that fails its checks, or a failure elsewhere (stop), rolls the day back."""
    s, t, stg = sql.Identifier(schema), unit.table, sql.Identifier(unit.staging)
    final = t.partition_name(unit.day)
    with conn.transaction(), conn.cursor() as cur:
        # a bigger sort budget keeps the primary-key build in memory; no parallel index workers, since the
        # loaders already keep every core busy
        cur.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(STAGING_SORT_MEMORY)))
        cur.execute(sql.SQL("SET LOCAL max_parallel_maintenance_workers = {}").format(
            sql.Literal(STAGING_INDEX_WORKERS)))
        # from the declaration, not LIKE the parent: a run that switches layouts stages the new one
        columns = t.stored_columns(unit.layout)
        cur.execute(ddl.create_table(t, schema, unit.layout, relation=unit.staging))
        # the partition bound as a CHECK on the empty table: COPY tests each row as it arrives (cheaper than
        # a second scan) and ATTACH, seeing a valid constraint that implies the bound, skips its own scan
        cur.execute(sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} CHECK ({} >= {} AND {} < {})").format(
            s, stg, sql.Identifier(f"{final}_id_range"), sql.Identifier(t.primary_key),
            sql.Literal(unit.first_id), sql.Identifier(t.primary_key), sql.Literal(unit.first_id + unit.planned_rows)))
        # FREEZE: the table was created in this transaction, so rows are written frozen (no later hint-bit
        # or anti-wraparound rewrite of a table that may hold hundreds of millions of rows)
        stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT BINARY, FREEZE)").format(
            s, stg, sql.SQL(", ").join(sql.Identifier(c.name) for c in columns))
        pause = fault_pause(t.key)

        def bodies() -> Iterator[bytes | memoryview]:
            nonlocal pause
            while ahead:
                enc = ahead.popleft().result()
                _prefetch(pool, make, unit, ahead)
                if stop.is_set():
                    raise _Stopped()
                part = enc.part
                if not all(o.passed for o in enc.outcomes):  # make checks each part (events.build_passed)
                    raise AssertionError(f"{part.table} {part.day} block {part.block}: handed to the loader unchecked")
                yield enc.body
                unit.rows += part.rows
                unit.fingerprints.append(enc.fingerprint)
                unit.outcomes.extend(enc.outcomes)
                del enc  # let the buffer go before waiting for the next one
                copied(part)
                if pause:
                    yield b""
                    time.sleep(pause)
                    pause = 0.0

        with cur.copy(stmt) as copy:
            write_copy(copy, bodies())
        if unit.rows != unit.planned_rows:  # the plan and the builders disagree: a bug, never user input
            raise AssertionError(f"{t.key} {unit.day}: planned {unit.planned_rows} rows, copied {unit.rows}")
        after_copy()
        cur.execute(ddl.add_primary_key(t, schema, relation=unit.staging, constraint=f"{unit.staging}_pkey"))
        cur.execute(ddl.comment(t, schema, DIGEST_COMMENT.format(unit.digest), relation=unit.staging))
        for fk in t.foreign_keys:
            if TABLES[fk.parent].partitioned or not core_keys:
                continue  # its rows are in a staging table too (or about to be replaced): checked when attached
            cur.execute(ddl.add_foreign_key(t, fk, schema, relation=unit.staging,
                                            constraint=f"{final}_{fk.column}_fkey"))


def _swap(cur: Cursor, schema: str, plan: events.Plan, units: list[_Unit], *, full_range: bool, digest: str,
          layout: str) -> int:
    """Detach and drop the replaced partitions (children first), switch a table stored in the other layout
    (whole range only: _to_replace refuses a window), attach the staged ones (parents first). The manifest
    table follows each step: the partitions' rows go and come with them, then each table's row is summed up."""
    s = sql.Identifier(schema)
    removed = 0
    for key in reversed(list(plan.parts)):
        t = TABLES[key]
        if full_range:
            manifest_store.forget(cur, schema, [key], partitions_only=True)
        for name in _to_replace(cur, schema, t, plan, full_range=full_range, digest=digest, layout=layout):
            remove_partition(cur, schema, t, name)
            manifest_store.drop_partition(cur, schema, name)
            removed += 1
        if stored_layout(cur, schema, t, layout) != t.layout_of(layout):
            switch_layout(cur, schema, t, t.layout_of(layout))
    for u in units:  # units are in plan order: parents first
        t, final = u.table, u.table.partition_name(u.day)
        cur.execute(sql.SQL("ALTER TABLE {}.{} ATTACH PARTITION {}.{} FOR VALUES FROM ({}) TO ({})").format(
            s, sql.Identifier(t.name), s, sql.Identifier(u.staging), sql.Literal(u.first_id),
            sql.Literal(u.first_id + u.planned_rows)))
        cur.execute(sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(
            s, sql.Identifier(u.staging), sql.Identifier(final)))
        cur.execute(sql.SQL("ALTER INDEX {}.{} RENAME TO {}").format(
            s, sql.Identifier(f"{u.staging}_pkey"), sql.Identifier(f"{final}_pkey")))
        manifest_store.put_partition(cur, schema, t.key, u.day, u.first_id, u.rows, combine(u.fingerprints),
                                     t.layout_of(layout))
    for key in plan.parts:
        manifest_store.summarize_events(cur, schema, key, range_rows=plan.range_rows[key],
                                        layout=TABLES[key].layout_of(layout))
    return removed
