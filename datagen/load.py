"""Stage 3: replace the tables in PostgreSQL, all in one transaction, with binary COPY.

Order inside the transaction: advisory lock, create what is missing, check what exists, empty the event
tables that reference these (their rows belong to the data being replaced), drop our keys, TRUNCATE, COPY
every table, add the keys back (the event tables' too), COMMIT. Any failure (or a kill) before COMMIT leaves the
previous data exactly as it was: PostgreSQL rolls the whole transaction back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from datagen import catalog, ddl, manifest_store
from datagen.copy_format import pgpq_tuples, write_copy
from datagen.db import Target, connect, load_failed, redact
from datagen.errors import DatabaseError
from datagen.manifest import table_entries
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES, Table, dependents
from datagen.tuning import COPY_BATCH_ROWS

# Tests set this to "<table>:<seconds>" to pause inside that table's COPY, so that a kill lands mid-load.
FAULT_ENV = "DATAGEN_TEST_PAUSE_IN_COPY"


@dataclass(frozen=True)
class LoadResult:
    rows: dict[str, int]
    copy_seconds: dict[str, float]
    constraint_seconds: float
    total_seconds: float
    replaced_rows: int


def existing_rows(target: Target, schema: str, tables: Sequence[Table]) -> dict[str, int]:
    """Row counts of the tables that already exist in the schema (missing tables are left out)."""
    try:
        return _existing_rows(target, schema, tables)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read the existing tables in schema {schema}; nothing was changed: "
                            f"{redact(str(exc).strip().splitlines()[0])}") from None


def _existing_rows(target: Target, schema: str, tables: Sequence[Table]) -> dict[str, int]:
    with connect(target) as conn, conn.cursor() as cur:
        present = catalog.tables_present(cur, schema, tables)
        counts = {}
        for t in tables:
            if t.key in present:
                cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                                         sql.Identifier(t.name)))
                row = cur.fetchone()
                counts[t.key] = _as_int(row[0]) if row else 0
        return counts


def load(
    frames: dict[str, pl.DataFrame],
    target: Target,
    *,
    schema: str,
    on_progress: Callable[[str, int], None] | None = None,
    before_commit: Callable[[psycopg.Cursor[tuple[object, ...]]], None] | None = None,
    adopt: bool = False,
    run: dict[str, Any] | None = None,
) -> LoadResult:
    """Replace the given tables with the frames in one transaction; returns per-table timings.

    before_commit: more work for the same transaction, after the new keys exist and before the event tables'
    foreign keys into the replaced tables are added back (generate --only swaps event partitions in there).
    Its caller holds the schema's advisory lock (generate-events takes it for the whole run), and the staging
    tables it prepared are kept.
    The manifest table (manifest_store) gets the new tables' rows, loses the emptied event tables', and with run
    records the run, all in the same transaction."""
    tables = [TABLES[k] for k in frames]
    t0 = time.perf_counter()
    rows: dict[str, int] = {}
    copy_s: dict[str, float] = {}
    try:
        with connect(target) as conn, conn.transaction(), conn.cursor() as cur:
            if before_commit is None:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (catalog.lock_key(schema),))
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            manifest_store.ensure(cur, schema)
            catalog.claim(cur, schema, tables + [t for t in dependents({t.key for t in tables}) if t.partitioned],
                  adopt=adopt)
            catalog.create_missing(cur, schema, tables)
            for t in tables:
                catalog.add_new_columns(cur, schema, t)
                catalog.check_columns(cur, schema, t)
            emptied = _detach_dependents(cur, schema, tables, keep_staging=before_commit is not None)
            manifest_store.forget(cur, schema, [t.key for t in emptied])
            replaced = _drop_keys_and_truncate(cur, schema, tables)
            for t in tables:
                ts = time.perf_counter()
                _copy(cur, schema, t, frames[t.key], on_progress)
                copy_s[t.key] = time.perf_counter() - ts
                rows[t.key] = frames[t.key].height
            manifest_store.put_tables(cur, schema, table_entries(frames))
            tc = time.perf_counter()
            _add_keys(cur, schema, tables)
            if before_commit is not None:
                before_commit(cur)
            _add_foreign_keys(cur, schema, emptied, {t.key for t in tables})
            constraint_s = time.perf_counter() - tc
            if run is not None:
                manifest_store.put_run(cur, schema, run)
    except psycopg.errors.ForeignKeyViolation as exc:
        raise DatabaseError(f"a key check failed while adding constraints; nothing was changed: "
                            f"{redact(str(exc).splitlines()[0])}") from None
    except psycopg.Error as exc:
        raise load_failed(exc, target) from None
    return LoadResult(rows=rows, copy_seconds=copy_s, constraint_seconds=constraint_s,
                      total_seconds=time.perf_counter() - t0, replaced_rows=replaced)


def _as_int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _drop_keys_and_truncate(cur: psycopg.Cursor[tuple[object, ...]], schema: str,
                            tables: Sequence[Table]) -> int:
    s = sql.Identifier(schema)
    for t in tables:
        for fk in t.foreign_keys:
            cur.execute(ddl.drop_constraint(t, t.fk_constraint(fk), schema))
    for t in tables:
        cur.execute(ddl.drop_constraint(t, t.pk_constraint(), schema))
    total = 0
    for t in tables:
        cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(s, sql.Identifier(t.name)))
        row = cur.fetchone()
        total += _as_int(row[0]) if row else 0
    cur.execute(sql.SQL("TRUNCATE {}").format(
        sql.SQL(", ").join(sql.SQL("{}.{}").format(s, sql.Identifier(t.name)) for t in tables)))
    return total


def _copy(cur: psycopg.Cursor[tuple[object, ...]], schema: str, table: Table, frame: pl.DataFrame,
          on_progress: Callable[[str, int], None] | None) -> None:
    # FREEZE: the table was truncated (or created) in this transaction, so rows are written frozen and
    # all-visible. Without it the first read after the load (the next run's row count, validate, dbt) sets
    # hint bits on every page, which with data checksums (the embedded server's) is a full-page WAL image
    # per page: as much WAL as the data, measured, and the pages written again.
    stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT BINARY, FREEZE)").format(
        sql.Identifier(schema), sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names))
    pause = fault_pause(table.key)
    def tuples() -> Iterator[bytes]:
        nonlocal pause
        for chunk, rows in pgpq_tuples(frame.select(table.column_names), COPY_BATCH_ROWS):
            yield chunk
            if pause:
                yield b""
                time.sleep(pause)
                pause = 0.0
            if on_progress is not None:
                on_progress(table.key, rows)

    with cur.copy(stmt) as copy:
        write_copy(copy, tuples())


def fault_pause(table: str) -> float:
    spec = os.environ.get(FAULT_ENV, "")
    name, _, seconds = spec.partition(":")
    return float(seconds or 0) if name == table else 0.0


def _detach_dependents(cur: psycopg.Cursor[tuple[object, ...]], schema: str, tables: Sequence[Table], *,
                       keep_staging: bool = False) -> list[Table]:
    """Empty the event tables that reference the tables being replaced: their rows belong to the old data.

    Their foreign keys into those tables are dropped here and added back (on empty tables: instant) after
    the new keys exist; their day partitions are detached and dropped, children first.
    """
    present = catalog.tables_present(cur, schema, [*CORE_TABLES, *EVENT_TABLES])
    deps = [t for t in dependents({t.key for t in tables}) if t.key in present]
    if any(not t.partitioned for t in deps):  # callers replace every core table that references these
        raise AssertionError(f"core tables {[t.key for t in deps if not t.partitioned]} reference replaced tables")
    if not keep_staging:
        catalog.drop_staging(cur, schema)  # a dead generate-events run's staging tables hold keys into the core tables
    loaded = {t.key for t in tables}
    for t in reversed(deps):
        for fk in t.foreign_keys:
            if fk.parent not in loaded:
                continue
            cur.execute(ddl.drop_constraint(t, t.fk_constraint(fk), schema))
        for part in sorted(catalog.our_partitions(cur, schema, t)):
            catalog.remove_partition(cur, schema, t, part)
    return deps


def _add_keys(cur: psycopg.Cursor[tuple[object, ...]], schema: str, tables: Sequence[Table]) -> None:
    for t in tables:
        cur.execute(ddl.add_primary_key(t, schema))
    _add_foreign_keys(cur, schema, tables, None)


def _add_foreign_keys(cur: psycopg.Cursor[tuple[object, ...]], schema: str, tables: Sequence[Table],
                      parents: set[str] | None) -> None:
    """Add the tables' foreign keys (only those into `parents`, when given)."""
    for t in tables:
        for fk in t.foreign_keys:
            if parents is None or fk.parent in parents:
                cur.execute(ddl.add_foreign_key(t, fk, schema))
