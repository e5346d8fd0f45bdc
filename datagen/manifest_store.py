"""The manifest in the database: `<schema>._datagen_manifest`, written in the transaction that commits the data.

One row per table (rows, id span, fingerprint; event tables also their layout and the rows of the whole event
range), one per day partition (rows, first id, fingerprint, layout), and one per run (datagen version, seed,
config digest, command and options, start and end, rows per table). The loaders write the rows of what they
replace or attach at the very statements that change the catalog, inside the same transaction, so the data and
its manifest are both old or both new whatever happens. Readers get the same dict the JSON export holds
(manifest.MANIFEST_VERSION), which validate compares with what it reads back.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from datagen import catalog
from datagen.errors import RefusedError
from datagen.manifest import MANIFEST_VERSION, combine
from datagen.tables import TABLES

Cursor = psycopg.Cursor[tuple[object, ...]]
TABLE = "_datagen_manifest"
COMMENT = "managed by datagen: the manifest of this schema (tables, day partitions, runs)"

_DDL = """CREATE TABLE {schema}.{table} (
    kind         text NOT NULL CHECK (kind IN ('table', 'partition', 'run')),
    name         text NOT NULL,   -- the table or partition name; a run's id
    table_key    text,            -- accounts ... feature_usage (runs: NULL)
    day          date,            -- partitions: their day
    rows         bigint,
    first_id     bigint,
    last_id      bigint,
    fingerprint  text,
    layout       text,            -- event tables and partitions: events.<table>.layout
    range_rows   bigint,          -- event tables: rows of the whole event range
    run          jsonb,           -- runs: what was run, by which datagen, when
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name)
)"""


def exists(cur: Cursor, schema: str) -> bool:
    return TABLE in catalog.relations(cur, schema, [TABLE])


def ensure(cur: Cursor, schema: str) -> None:
    """The manifest table, created when missing; a same-named table datagen did not create is refused (even
    with --adopt: it would be read as the record of the data)."""
    rel = catalog.relations(cur, schema, [TABLE]).get(TABLE)
    if rel is not None:
        if rel.kind != "r" or rel.comment != COMMENT:
            raise RefusedError(f"{schema}.{TABLE} is in the way: datagen keeps its manifest in a table of that name, "
                               "and this one was not created by datagen; nothing was changed",
                               hint=f"drop or rename {schema}.{TABLE} (--adopt does not take it over)")
        return
    s, t = sql.Identifier(schema), sql.Identifier(TABLE)
    cur.execute(sql.SQL(_DDL).format(schema=s, table=t))
    cur.execute(sql.SQL("COMMENT ON TABLE {}.{} IS {}").format(s, t, sql.Literal(COMMENT)))


def forget(cur: Cursor, schema: str, keys: Iterable[str], *, partitions_only: bool = False) -> None:
    """Remove the rows of these tables (and their partitions): they were emptied."""
    keys = list(keys)
    if not keys:
        return
    kinds = ["partition"] if partitions_only else ["table", "partition"]
    cur.execute(sql.SQL("DELETE FROM {}.{} WHERE kind = ANY(%s) AND table_key = ANY(%s)").format(
        sql.Identifier(schema), sql.Identifier(TABLE)), (kinds, keys))


def put_tables(cur: Cursor, schema: str, entries: dict[str, dict[str, Any]]) -> None:
    """Core tables as loaded: key -> {rows, id_min, id_max, fingerprint}."""
    if not entries:
        return
    forget(cur, schema, entries)
    cur.executemany(sql.SQL("INSERT INTO {}.{} (kind, name, table_key, rows, first_id, last_id, fingerprint) "
                            "VALUES ('table', %s, %s, %s, %s, %s, %s)").format(
        sql.Identifier(schema), sql.Identifier(TABLE)),
        [(TABLES[k].name, k, e["rows"], e["id_min"], e["id_max"], e["fingerprint"]) for k, e in entries.items()])


def drop_partition(cur: Cursor, schema: str, name: str) -> None:
    cur.execute(sql.SQL("DELETE FROM {}.{} WHERE kind = 'partition' AND name = %s").format(
        sql.Identifier(schema), sql.Identifier(TABLE)), (name,))


def put_partition(cur: Cursor, schema: str, key: str, day: dt.date, first_id: int, rows: int, fp: str,
                  layout: str) -> None:
    name = TABLES[key].partition_name(day)
    drop_partition(cur, schema, name)
    cur.execute(sql.SQL("INSERT INTO {}.{} (kind, name, table_key, day, rows, first_id, last_id, fingerprint, layout) "
                        "VALUES ('partition', %s, %s, %s, %s, %s, %s, %s, %s)").format(
        sql.Identifier(schema), sql.Identifier(TABLE)),
        (name, key, day, rows, first_id, first_id + rows - 1, fp, layout))


def summarize_events(cur: Cursor, schema: str, key: str, *, range_rows: int, layout: str) -> None:
    """The event table's row from its partitions' rows (rows, id span, the combined fingerprint)."""
    s, t = sql.Identifier(schema), sql.Identifier(TABLE)
    cur.execute(sql.SQL("SELECT rows, first_id, last_id, fingerprint FROM {}.{} WHERE kind = 'partition' "
                        "AND table_key = %s").format(s, t), (key,))
    parts = cur.fetchall()
    cur.execute(sql.SQL("DELETE FROM {}.{} WHERE kind = 'table' AND table_key = %s").format(s, t), (key,))
    rows = sum(int(str(p[0])) for p in parts)
    lo = min((int(str(p[1])) for p in parts if p[0]), default=None)
    hi = max((int(str(p[2])) for p in parts if p[0]), default=None)
    cur.execute(sql.SQL("INSERT INTO {}.{} (kind, name, table_key, rows, first_id, last_id, fingerprint, layout, "
                        "range_rows) VALUES ('table', %s, %s, %s, %s, %s, %s, %s, %s)").format(s, t),
                (TABLES[key].name, key, rows, lo, hi, combine([str(p[3]) for p in parts]), layout, range_rows))


def put_run(cur: Cursor, schema: str, run: dict[str, Any]) -> None:
    """The run, ending now (the commit follows)."""
    run = {**run, "ended_at": dt.datetime.now(dt.UTC).isoformat()}
    started = str(run.get("started_at", ""))
    cur.execute(sql.SQL("INSERT INTO {}.{} (kind, name, run) VALUES ('run', %s, %s)").format(
        sql.Identifier(schema), sql.Identifier(TABLE)), (f"{started} {uuid.uuid4().hex[:8]}", Jsonb(run)))


def read(cur: Cursor, schema: str) -> dict[str, Any] | None:
    """The manifest as a dict (the JSON export's shape), or None when the schema has no manifest table."""
    if not exists(cur, schema):
        return None
    cur.execute(sql.SQL("SELECT kind, name, table_key, day, rows, first_id, last_id, fingerprint, layout, range_rows, "
                        "run FROM {}.{} ORDER BY kind, name").format(sql.Identifier(schema), sql.Identifier(TABLE)))
    tables: dict[str, Any] = {}
    events: dict[str, Any] = {}
    runs: list[dict[str, Any]] = []
    parts: dict[str, dict[str, Any]] = {}
    for kind, name, key, day, rows, first_id, last_id, fp, layout, range_rows, run in cur.fetchall():
        if kind == "run":
            runs.append(run if isinstance(run, dict) else json.loads(str(run)))
        elif kind == "partition":
            parts.setdefault(str(key), {})[str(day)] = {"partition": name, "first_id": first_id, "rows": rows,
                                                         "fingerprint": fp, "layout": layout}
        elif key in TABLES and TABLES[str(key)].partitioned:
            events[str(key)] = {"table": name, "rows": rows, "range_rows": range_rows, "layout": layout,
                                "first_id": first_id, "last_id": last_id, "fingerprint": fp}
        else:
            tables[str(key)] = {"table": name, "rows": rows, "id_min": first_id, "id_max": last_id,
                                "fingerprint": fp}
    for key, days in parts.items():
        events.setdefault(key, {"table": TABLES[key].name, "rows": None, "range_rows": None, "layout": None})
        events[key]["partitions"] = dict(sorted(days.items()))
    for entry in events.values():
        entry.setdefault("partitions", {})
    runs.sort(key=lambda r: str(r.get("started_at", "")))
    last = runs[-1] if runs else {}
    return {"manifest_version": MANIFEST_VERSION, "schema": schema, "seed": last.get("seed"),
            "config_digest": last.get("config_digest"), "tables": tables, "events": events, "runs": runs}
