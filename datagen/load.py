"""Stage 3: replace the tables in PostgreSQL, all in one transaction, with binary COPY.

Order inside the transaction: advisory lock, create what is missing, check what exists, empty the event
tables that reference these (their rows belong to the data being replaced), drop our keys, TRUNCATE, COPY
every table, add the keys back (the event tables' too), COMMIT. Any failure (or a kill) before COMMIT leaves the
previous data exactly as it was: PostgreSQL rolls the whole transaction back.
"""

from __future__ import annotations

import os
import re
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgpq
import polars as pl
import psycopg
from psycopg import sql

from datagen import manifest_store
from datagen.db import Target, connect, load_failed, redact
from datagen.errors import DatabaseError, RefusedError
from datagen.manifest import table_entries
from datagen.tables import CORE_TABLES, DEFAULT_LAYOUT, LAYOUTS, TABLES, TAP_EVENTS_VIEW, Column, Table, dependents

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
COPY_BATCH_ROWS = 65_536  # Arrow batch size: big enough to amortize per-call overhead, small enough for memory
# Ownership: datagen comments every table it creates and only ever replaces tables that carry such a comment
# (or day partitions named like its own and commented "datagen events ..."); --adopt takes a table over.
OWNER_PREFIX = "managed by datagen"
OWNER_COMMENT = f"{OWNER_PREFIX}: replaced by `just generate`"
EVENT_OWNER_COMMENT = f"{OWNER_PREFIX}: day partitions replaced by `just generate-events`"
PARTITION_PREFIX = "datagen events "  # the digest comment on every day partition (load_events.DIGEST_COMMENT)
# Tests set this to "<table>:<seconds>" to pause inside that table's COPY, so that a kill lands mid-load.
FAULT_ENV = "DATAGEN_TEST_PAUSE_IN_COPY"
# a range partition's bound, as pg_get_expr prints it
_BOUND = re.compile(r"FOR VALUES FROM \((-?\d+)\) TO \((-?\d+)\)")


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
        cur.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
            (schema, [t.name for t in tables]),
        )
        present = {r[0] for r in cur.fetchall()}
        counts = {}
        for t in tables:
            if t.name in present:
                cur.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                                         sql.Identifier(t.name)))
                row = cur.fetchone()
                counts[t.key] = _as_int(row[0]) if row else 0
        return counts


def confirm_replace(counts: dict[str, int], schema: str, *, yes: bool) -> None:
    """Ask before replacing rows; refuse without a terminal unless --yes."""
    total = sum(counts.values())
    if total == 0:
        return
    ask(f"Replace {len(counts)} tables in schema {schema} holding {total:,} rows"
        + (" (the event tables depend on them and are emptied too)" if any(TABLES[k].partitioned for k in counts)
           else "") + "?", yes=yes)


def ask(question: str, *, yes: bool) -> None:
    """Ask a y/N question on the terminal; without one, refuse unless --yes. Raises RefusedError on no."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise RefusedError(
            f"{question.rstrip('?')}: there is no terminal to confirm it; nothing was changed",
            hint="pass --yes to replace them (the old data stays until the new load commits)",
        )
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise RefusedError("not confirmed; nothing was changed")


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
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(schema),))
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            manifest_store.ensure(cur, schema)
            claim(cur, schema, tables + [t for t in dependents({t.key for t in tables}) if t.partitioned],
                  adopt=adopt)
            _create_missing(cur, schema, tables)
            for t in tables:
                _add_new_columns(cur, schema, t)
                check_columns(cur, schema, t)
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


def lock_key(schema: str) -> int:
    # one advisory lock per target schema: two loads into the same schema queue instead of interleaving
    return zlib.crc32(f"datagen:{schema}".encode()) - 2**31


def ddl(name: str, schema: str) -> sql.Composed:
    """A file of sql/ with {schema} bound to the target schema as an identifier."""
    text = (SQL_DIR / name).read_text(encoding="utf-8")
    return sql.SQL(text).format(schema=sql.Identifier(schema))


def _create_missing(cur: psycopg.Cursor[tuple[object, ...]], schema: str, tables: Sequence[Table]) -> None:
    cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = ANY(%s)", (schema, [t.name for t in tables]))
    present = {r[0] for r in cur.fetchall()}
    if len(present) == len(tables):
        return
    cur.execute(sql.SQL("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = %s AND c.relname = ANY(%s)"), (schema, [t.name for t in CORE_TABLES]))
    before = {r[0] for r in cur.fetchall()}
    cur.execute(ddl("core_tables.sql", schema))  # creates every missing core table: each gets our comment
    for t in CORE_TABLES:
        if t.name not in before:
            cur.execute(sql.SQL("COMMENT ON TABLE {}.{} IS {}").format(
                sql.Identifier(schema), sql.Identifier(t.name), sql.Literal(OWNER_COMMENT)))


def claim(cur: psycopg.Cursor[tuple[object, ...]], schema: str, tables: Sequence[Table], *, adopt: bool) -> None:
    """Refuse to replace a table of one of our names that datagen did not create; with adopt, take it over."""
    cur.execute("SELECT c.relname, coalesce(obj_description(c.oid, 'pg_class'), '') FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s) "
                "AND c.relkind IN ('r', 'p')", (schema, [t.name for t in tables]))
    for name, comment in cur.fetchall():
        if str(comment).startswith(OWNER_PREFIX):
            continue
        if not adopt:
            raise RefusedError(
                f"table {schema}.{name} was not created by datagen (it has no datagen comment), so datagen will not "
                "replace its rows; nothing was changed",
                hint=f"pass --adopt to let datagen take {schema}.{name} over (its rows will be replaced), or load "
                     "into another --schema")
        t = next(t for t in tables if t.name == name)
        cur.execute(sql.SQL("COMMENT ON TABLE {}.{} IS {}").format(
            sql.Identifier(schema), sql.Identifier(t.name),
            sql.Literal(EVENT_OWNER_COMMENT if t.partitioned else OWNER_COMMENT)))


def _columns(cur: psycopg.Cursor[tuple[object, ...]], schema: str, t: Table) -> dict[str, str]:
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (schema, t.name))
    return {str(name): str(typ) for name, typ in cur.fetchall()}


def _mismatch(found: dict[str, str], wanted: tuple[Column, ...]) -> str:
    missing = [c.name for c in wanted if c.name not in found]
    wrong = [f"{c.name} is {found[c.name]}, expected {c.pg_type}" for c in wanted
             if c.name in found and found[c.name] != c.pg_type]
    return "; ".join(([f"missing columns {', '.join(missing)}"] if missing else []) + wrong)


def _in_the_way(schema: str, t: Table, detail: str) -> DatabaseError:
    return DatabaseError(
        f"table {schema}.{t.name} is in the way: its columns do not match datagen's ({detail}); nothing was changed",
        hint=f"drop or rename {schema}.{t.name}, or load into another schema with --schema")


def _add_new_columns(cur: psycopg.Cursor[tuple[object, ...]], schema: str, t: Table) -> None:
    """A column datagen declares that an older datagen's table lacks (users.permissions, say) is added, in the
    load's transaction (the table is about to be refilled); a changed type is still refused by check_columns."""
    cur.execute("SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s", (schema, t.name))
    row = cur.fetchone()
    if row is None or row[0] != "r":  # a view or anything else of that name is check_columns' to refuse
        return
    found = _columns(cur, schema, t)
    for c in t.columns:
        if c.name not in found and c.nullable:
            cur.execute(sql.SQL("ALTER TABLE {}.{} ADD COLUMN {} {}").format(
                sql.Identifier(schema), sql.Identifier(t.name), sql.Identifier(c.name), sql.SQL(c.pg_type)))


def check_columns(cur: psycopg.Cursor[tuple[object, ...]], schema: str, t: Table,
                  layout: str = DEFAULT_LAYOUT) -> None:
    """A table of ours whose columns differ from the declaration (in layout) is in the way: refuse, change
    nothing."""
    detail = _mismatch(_columns(cur, schema, t), t.stored_columns(layout))
    if detail:
        raise _in_the_way(schema, t, detail)


def layout_found(cur: psycopg.Cursor[tuple[object, ...]], schema: str, t: Table, wanted: str) -> str | None:
    """The layout t is stored in (exactly its columns: an event table's day partitions must have exactly the
    parent's), the wanted one first; None when no layout of t's matches."""
    found = _columns(cur, schema, t)
    first = t.layout_of(wanted)
    for layout in (first, *(x for x in LAYOUTS if t.packed is not None and x != first)):
        if not _mismatch(found, t.stored_columns(layout)) and len(found) == len(t.stored_columns(layout)):
            return layout
    return None


def stored_layout(cur: psycopg.Cursor[tuple[object, ...]], schema: str, t: Table, wanted: str) -> str:
    """layout_found, where a table matching no layout of t's is in the way."""
    layout = layout_found(cur, schema, t, wanted)
    if layout is not None:
        return layout
    found = _columns(cur, schema, t)
    wanted_columns = t.stored_columns(t.layout_of(wanted))
    extra = [c for c in found if c not in {w.name for w in wanted_columns}]
    detail = "; ".join(x for x in (_mismatch(found, wanted_columns),
                                   f"extra columns {', '.join(extra)}" if extra else "") if x)
    raise _in_the_way(schema, t, detail)


def _drop_keys_and_truncate(cur: psycopg.Cursor[tuple[object, ...]], schema: str,
                            tables: Sequence[Table]) -> int:
    s = sql.Identifier(schema)
    for t in tables:
        for fk in t.foreign_keys:
            cur.execute(sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT IF EXISTS {}").format(
                s, sql.Identifier(t.name), sql.Identifier(t.fk_constraint(fk))))
    for t in tables:
        cur.execute(sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT IF EXISTS {}").format(
            s, sql.Identifier(t.name), sql.Identifier(t.pk_constraint())))
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
    arrow = frame.select(table.column_names).to_arrow()
    encoder = pgpq.ArrowToPostgresBinaryEncoder(arrow.schema)
    # FREEZE: the table was truncated (or created) in this transaction, so rows are written frozen and
    # all-visible. Without it the first read after the load (the next run's row count, validate, dbt) sets
    # hint bits on every page, which with data checksums (the embedded server's) is a full-page WAL image
    # per page: as much WAL as the data, measured, and the pages written again.
    stmt = sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT BINARY, FREEZE)").format(
        sql.Identifier(schema), sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names))
    pause = fault_pause(table.key)
    with cur.copy(stmt) as copy:
        copy.write(encoder.write_header())
        for batch in arrow.to_batches(max_chunksize=COPY_BATCH_ROWS):
            copy.write(encoder.write_batch(batch))
            if pause:
                copy.write(b"")
                time.sleep(pause)
                pause = 0.0
            if on_progress is not None:
                on_progress(table.key, batch.num_rows)
        copy.write(encoder.finish())


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
    present = {r[0] for r in _present(cur, schema)}
    deps = [t for t in dependents({t.key for t in tables}) if t.name in present]
    if any(not t.partitioned for t in deps):  # callers replace every core table that references these
        raise AssertionError(f"core tables {[t.key for t in deps if not t.partitioned]} reference replaced tables")
    if not keep_staging:
        drop_staging(cur, schema)  # a dead generate-events run's staging tables hold keys into the core tables
    s = sql.Identifier(schema)
    loaded = {t.key for t in tables}
    for t in reversed(deps):
        for fk in t.foreign_keys:
            if fk.parent not in loaded:
                continue
            cur.execute(sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT IF EXISTS {}").format(
                s, sql.Identifier(t.name), sql.Identifier(t.fk_constraint(fk))))
        for part in sorted(our_partitions(cur, schema, t)):
            remove_partition(cur, schema, t, part)
    return deps


def existing_partitions(cur: psycopg.Cursor[tuple[object, ...]], schema: str,
                        table: Table) -> dict[str, tuple[int, int, str]]:
    """Partitions of the table: name -> ([from, to) of their id range, their comment)."""
    cur.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), coalesce(obj_description(c.oid, 'pg_class'), '') "
        "FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = %s AND p.relname = %s", (schema, table.name))
    out = {}
    for name, bound, comment in cur.fetchall():
        m = _BOUND.search(str(bound))
        lo, hi = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        out[str(name)] = (lo, hi, str(comment))
    return out


def our_partitions(cur: psycopg.Cursor[tuple[object, ...]], schema: str,
                   table: Table) -> dict[str, tuple[int, int, str]]:
    """existing_partitions, refusing when one of them is not a day partition datagen made (never dropped)."""
    parts = existing_partitions(cur, schema, table)
    for name, (_, _, comment) in sorted(parts.items()):
        if not (table.day_of(name) and comment.startswith(PARTITION_PREFIX)):
            raise RefusedError(
                f"partition {schema}.{name} of {table.name} was not made by datagen, so datagen will not drop it; "
                "nothing was changed",
                hint=f"detach it first (ALTER TABLE {schema}.{table.name} DETACH PARTITION {schema}.{name}), or "
                     "use another --schema")
    return parts


def remove_partition(cur: psycopg.Cursor[tuple[object, ...]], schema: str, table: Table, name: str) -> None:
    """Detach a day partition (PostgreSQL checks nothing still references it) and drop it."""
    s = sql.Identifier(schema)
    cur.execute(sql.SQL("ALTER TABLE {}.{} DETACH PARTITION {}.{}").format(
        s, sql.Identifier(table.name), s, sql.Identifier(name)))
    cur.execute(sql.SQL("DROP TABLE {}.{}").format(s, sql.Identifier(name)))


def create_event_tables(cur: psycopg.Cursor[tuple[object, ...]], schema: str, layout: str) -> None:
    """The event tables that are missing, tap events in layout (sql/tap_events_typed.sql for typed)."""
    if layout == "typed":
        cur.execute(ddl("tap_events_typed.sql", schema))
    cur.execute(ddl("event_tables.sql", schema))
    tap = TABLES["tap_events"]
    if layout_found(cur, schema, tap, layout) == "typed":  # the view over the typed layout (a no-op if present)
        cur.execute(ddl("tap_events_view.sql", schema))


def switch_layout(cur: psycopg.Cursor[tuple[object, ...]], schema: str, t: Table, layout: str) -> None:
    """Replace the (emptied) partitioned table t with one in layout, keeping its comment and the foreign keys
    it had at this moment (generate --only has dropped the ones it adds back itself). PostgreSQL refuses to
    drop the table while objects other than datagen's view depend on it."""
    s, name = sql.Identifier(schema), sql.Identifier(t.name)
    cur.execute("SELECT con.conname FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s AND con.contype = 'f'", (schema, t.name))
    kept = {str(r[0]) for r in cur.fetchall()}
    cur.execute("SELECT obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s", (schema, t.name))
    row = cur.fetchone()
    comment = str(row[0]) if row and row[0] is not None else EVENT_OWNER_COMMENT
    _refuse_extras(cur, schema, t, layout)
    # who may read it and who owns it carry over to the new table (a dbt role's SELECT, say)
    cur.execute("SELECT pg_get_userbyid(c.relowner), a.privilege_type, a.is_grantable, "
                "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN LATERAL aclexplode(c.relacl) a ON true WHERE n.nspname = %s AND c.relname = %s",
                (schema, t.name))
    acl = cur.fetchall()
    try:
        cur.execute(sql.SQL("DROP VIEW IF EXISTS {}.{}").format(s, sql.Identifier(TAP_EVENTS_VIEW)))
        cur.execute(sql.SQL("DROP TABLE {}.{}").format(s, name))
    except psycopg.errors.DependentObjectsStillExist as exc:
        detail = "; ".join((exc.diag.message_detail or "").splitlines())
        raise RefusedError(
            f"{schema}.{t.name} cannot switch to the {layout} layout while other objects depend on it ({detail}); "
            "nothing was changed",
            hint=f"drop or recreate those objects after the switch, or keep events.{t.key}.layout as it was") from None
    create_event_tables(cur, schema, layout)
    cur.execute(sql.SQL("COMMENT ON TABLE {}.{} IS {}").format(s, name, sql.Literal(comment)))
    if acl:
        cur.execute(sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(s, name, sql.Identifier(str(acl[0][0]))))
    for _, privilege, grantable, grantee in acl:
        if privilege is None:
            continue
        to = sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(str(grantee))
        cur.execute(sql.SQL("GRANT {} ON TABLE {}.{} TO {}{}").format(
            sql.SQL(str(privilege)), s, name, to, sql.SQL(" WITH GRANT OPTION" if grantable else "")))
    for fk in t.foreign_keys:
        if t.fk_constraint(fk) not in kept:
            cur.execute(sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT {}").format(
                s, name, sql.Identifier(t.fk_constraint(fk))))


def _refuse_extras(cur: psycopg.Cursor[tuple[object, ...]], schema: str, t: Table, layout: str) -> None:
    """Indexes, triggers and policies someone added to t would not survive its switch: refuse, naming them."""
    cur.execute(
        "SELECT 'index ' || i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %(s)s AND c.relname = %(t)s AND i.relname <> %(pk)s "
        "UNION ALL SELECT 'trigger ' || g.tgname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s AND c.relname = %(t)s "
        "AND NOT g.tgisinternal "
        "UNION ALL SELECT 'policy ' || p.polname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s AND c.relname = %(t)s ORDER BY 1",
        {"s": schema, "t": t.name, "pk": t.pk_constraint()})
    extras = [str(r[0]) for r in cur.fetchall()]
    if extras:
        raise RefusedError(
            f"{schema}.{t.name} cannot switch to the {layout} layout: it would lose {', '.join(extras)}, which "
            "datagen did not create; nothing was changed",
            hint=f"drop them and recreate them after the switch, or keep events.{t.key}.layout as it was")


def drop_staging(cur: psycopg.Cursor[tuple[object, ...]], schema: str) -> None:
    """Drop the staging tables (`<partition>_load`) a generate-events run left behind; never a partition."""
    for t in TABLES.values():
        if not t.partitioned:
            continue
        cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relkind = 'r' AND NOT c.relispartition AND c.relname ~ %s",
                    (schema, t.staging_pattern))
        for (name,) in cur.fetchall():
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(str(name))))


def _present(cur: psycopg.Cursor[tuple[object, ...]], schema: str) -> list[tuple[object, ...]]:
    cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
                (schema,))
    return cur.fetchall()


def _add_keys(cur: psycopg.Cursor[tuple[object, ...]], schema: str, tables: Sequence[Table]) -> None:
    s = sql.Identifier(schema)
    for t in tables:
        cur.execute(sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
            s, sql.Identifier(t.name), sql.Identifier(t.pk_constraint()), sql.Identifier(t.primary_key)))
    _add_foreign_keys(cur, schema, tables, None)


def _add_foreign_keys(cur: psycopg.Cursor[tuple[object, ...]], schema: str, tables: Sequence[Table],
                      parents: set[str] | None) -> None:
    """Add the tables' foreign keys (only those into `parents`, when given)."""
    s = sql.Identifier(schema)
    for t in tables:
        for fk in t.foreign_keys:
            if parents is not None and fk.parent not in parents:
                continue
            parent = TABLES[fk.parent]
            cur.execute(sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {}.{} ({})").format(
                s, sql.Identifier(t.name), sql.Identifier(t.fk_constraint(fk)), sql.Identifier(fk.column),
                s, sql.Identifier(parent.name), sql.Identifier(fk.parent_column)))
