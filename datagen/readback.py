"""Stage 4: tables read back out of PostgreSQL into Polars, conformed to the declarations.

Rows stream out with binary COPY TO STDOUT through the ADBC PostgreSQL driver, which decodes them into
Arrow record batches in C++ (psycopg hands rows to Python one at a time: measured 0.23M rows/s against
ADBC's 0.75M on a tap-event partition, docs/decisions.md "Read-back"). Numeric columns travel as text and
are parsed back into their declared decimals, so a frame read back equals the frame that was loaded and
has the same fingerprint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
import pyarrow as pa

from datagen.db import Target, describe, redact
from datagen.errors import DatabaseError, RefusedError
from datagen.tables import DEFAULT_LAYOUT, Column, Table, cast_to_declared

Connection = Any  # adbc_driver_postgresql.dbapi.Connection (the driver ships no type hints)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def select_sql(schema: str, table: Table, relation: str | None = None, layout: str = DEFAULT_LAYOUT,
               columns: tuple[str, ...] | None = None) -> str:
    """The declared columns of table (or of one of its partitions; only `columns`, in declared order, when given),
    numerics as text. In the contract layout
    the packed columns are taken out of the jsonb column on the server, typed, so the frame is the same in
    both layouts (and so is its fingerprint)."""
    packed = dict(table.packed.keys) if table.packed is not None and table.layout_of(layout) == "contract" else {}

    def expr(c: Column) -> str:
        if c.name in packed:  # through numeric (what jsonb stores): a stray 350.5 reads as 351, never an error
            assert table.packed is not None
            value = f"{_quote(table.packed.column)}->{_literal(c.name)}"
            return (f"CASE WHEN jsonb_typeof({value}) = 'number' THEN ({_quote(table.packed.column)}->>"
                    f"{_literal(c.name)})::numeric::{c.pg_type} END AS {_quote(c.name)}")
        if c.pg_type.startswith("numeric"):
            return f"{_quote(c.name)}::text AS {_quote(c.name)}"
        return _quote(c.name)

    cols = ", ".join(expr(c) for c in table.columns if columns is None or c.name in columns)
    return f"SELECT {cols} FROM {_quote(schema)}.{_quote(relation or table.name)}"


def malformed_sql(schema: str, table: Table, relation: str) -> str:
    """Rows (count, first id) whose packed jsonb holds a key that is not one of the packed columns, or a value
    that is not a number (a JSON null, a string): the typed read cannot see those, the staging model's
    raw_metrics does."""
    assert table.packed is not None
    keys = "{" + ",".join(k for k, _ in table.packed.keys) + "}"
    col = _quote(table.packed.column)
    return (f"SELECT count(*)::bigint, min({_quote(table.primary_key)})::bigint FROM {_quote(schema)}."
            f"{_quote(relation)} WHERE {col} - {_literal(keys)}::text[] <> '{{}}'::jsonb OR jsonb_typeof({col}) "
            f"<> 'object' OR jsonb_path_exists({col}, '$.* ? (@.type() != \"number\")')")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def open_connection(target: Target) -> Connection:
    """An ADBC connection to the target (libpq underneath: the same URL, PG* variables and socket paths)."""
    import adbc_driver_postgresql.dbapi as adbc  # imported on first use: it costs 0.1 s at every start

    try:
        return adbc.connect(target.conninfo or "postgresql://")
    except adbc.Error as exc:
        raise DatabaseError(f"cannot connect to PostgreSQL at {describe(target.conninfo)} (from {target.source}) "
                            f"to read the tables back: {redact(str(exc).strip().splitlines()[0])}") from None


@contextmanager
def connect(target: Target) -> Iterator[Connection]:
    conn = open_connection(target)
    try:
        yield conn
    finally:
        conn.close()


def malformed(conn: Connection, schema: str, table: Table, relation: str) -> tuple[int, int | None]:
    """malformed_sql's answer: (rows, the first one's id)."""
    import adbc_driver_postgresql.dbapi as adbc

    try:
        with conn.cursor() as cur:
            cur.execute(malformed_sql(schema, table, relation))
            row = cur.fetchone()
    except adbc.Error as exc:
        raise DatabaseError(f"cannot read {schema}.{relation} back: "
                            f"{redact(str(exc).strip().splitlines()[0])}") from None
    assert row is not None
    return int(row[0]), (int(row[1]) if row[1] is not None else None)


def read(conn: Connection, schema: str, table: Table, relation: str | None = None,
         layout: str = DEFAULT_LAYOUT, columns: tuple[str, ...] | None = None) -> pl.DataFrame:
    """One table (or partition), stored in layout, as a frame with the declared columns and dtypes (only
    `columns`, when given: what a profile reads of a large table)."""
    import adbc_driver_postgresql.dbapi as adbc

    try:
        with conn.cursor() as cur:
            cur.execute(select_sql(schema, table, relation, layout, columns))
            batches = list(cur.fetch_record_batch())
    except adbc.Error as exc:
        raise DatabaseError(f"cannot read {schema}.{relation or table.name} back: "
                            f"{redact(str(exc).strip().splitlines()[0])}") from None
    arrow = pa.Table.from_batches(batches) if batches else None
    frame = pl.from_arrow(arrow) if arrow is not None else pl.DataFrame(schema=table.polars_schema)
    assert isinstance(frame, pl.DataFrame)
    try:
        return cast_to_declared(frame, table) if columns is None else declared_columns(frame, table, columns)
    except pl.exceptions.PolarsError as exc:  # someone changed a column's type: say which table
        raise DatabaseError(f"{schema}.{relation or table.name} does not read back as datagen declares it "
                            f"({str(exc).strip().splitlines()[0]})",
                            hint="its columns were changed after the load; regenerate it") from None


def declared_columns(frame: pl.DataFrame, table: Table, columns: tuple[str, ...]) -> pl.DataFrame:
    """The named columns of frame, in declared order, with their declared dtypes."""
    return frame.select([pl.col(c.name).cast(c.dtype) for c in table.columns if c.name in columns])


def with_hidden(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Add the internal columns the checks use that the raw tables do not store. accounts._churn_at, when an
    account churned, is when its subscription was canceled: the canceled row's updated_at."""
    out = dict(frames)
    if "accounts" in out and "subscriptions" in out:
        churn = (out["subscriptions"].filter(pl.col("status") == "canceled")
                 .group_by("customer_id").agg(pl.col("updated_at").min().alias("_churn_at"))
                 .rename({"customer_id": "id"}))
        out["accounts"] = out["accounts"].join(churn, on="id", how="left", maintain_order="left").with_columns(
            _churn_at=pl.when(pl.col("status") == "churned").then(pl.col("_churn_at")))
    return out


def check_parents(target: Target, schema: str, frames: dict[str, pl.DataFrame], why: dict[str, str], *,
                  present: set[str], consequence: str, missing_hint: Callable[[str], str],
                  differ_hint: Callable[[str], str]) -> None:
    """The one check that the tables a stage builds on hold what this config and seed generate: each table of
    frames must be present (its key in present) and read back to the same fingerprint; else RefusedError
    naming the table, why the stage needs it (why), what would go wrong (consequence) and the fix (the hints)."""
    from datagen.manifest import fingerprint
    from datagen.tables import TABLES

    for key in frames:
        if key not in present:
            raise RefusedError(f"{why[key]}, and schema {schema} has no {TABLES[key].name} rows; nothing was changed",
                               hint=missing_hint(key))
    with connect(target) as conn:
        for key, frame in frames.items():
            have, want = fingerprint(read(conn, schema, TABLES[key]), key), fingerprint(frame, key)
            if have != want:
                raise RefusedError(
                    f"{why[key]}, but {schema}.{TABLES[key].name} is not what this config and seed generate "
                    f"(fingerprint {have}, this config {want}), so {consequence}; nothing was changed",
                    hint=differ_hint(key))
