"""Benchmark: layouts for tap-event metrics that the dbt staging model can read unmodified, on a real PostgreSQL.

The staging model reads `metrics->>'volume_ml'`, `'temperature_c'`, `'pressure_psi'`, `'flow_rate_ml_per_sec'`,
`'duration_seconds'` and `metrics` itself from `raw.app_database_tap_events`. Candidates, on the same N synthetic
tap events (numpy, fixed seed), in one run:

  typed            13 typed columns, no `metrics` (the reference; the staging model cannot read it unmodified)
  jsonb            the legacy 9-column layout: `metrics` is a jsonb object of the non-null keys
  typed+jsonb      the 13 typed columns plus the jsonb `metrics`, both sent by the client
  typed+view       the typed table under another name, a view under the legacy name rebuilding `metrics`
                   with jsonb_strip_nulls(jsonb_build_object(...)); its load and disk are typed's
  typed+stored     the typed columns plus `metrics jsonb GENERATED ALWAYS AS (tap_metrics(...)) STORED`: the
                   server builds the object once per row at COPY time (tap_metrics: an IMMUTABLE SQL wrapper
                   of jsonb_strip_nulls(jsonb_build_object(...)), which is only STABLE itself)
  typed+virtual    PostgreSQL 18 only: `metrics ... GENERATED ALWAYS AS (jsonb_strip_nulls(jsonb_object(
                   text[], text[]))) VIRTUAL` (virtual columns may not call user-defined functions); if the
                   server refuses, the refusal is the result

Rows go in with binary COPY encoded by pgpq from Arrow (jsonb through pgpq's Jsonb string encoder); the JSON
strings are built once with Polars before timing. Per run and candidate: a fresh logged table without keys in a
scratch schema, a CHECKPOINT (untimed), then timed COPY plus commit; pg_total_relation_size; then the
staging-style read (count(*), the five `->>` with one cast, count(metrics), an md5 of the id), once untimed to
set hint bits and warm the cache, then once timed. The candidate order rotates between runs.

Usage:
  python benchmarks/experiments/bench_metrics_layout.py [--rows 1000000] [--runs 3] [--database-url URL] [--json PATH]
The URL defaults to $TEST_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/test; `--database-url
embedded` uses the embedded PostgreSQL 18 server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pgpq
import polars as pl
import psycopg
import pyarrow as pa
from pgpq import encoders as pgpq_encoders
from pgpq import schema as pgpq_schema
from psycopg import sql

# Run as a script from benchmarks/experiments/: the shared _common is one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import drop_schema

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
SEED = 20_240_601
BATCH_ROWS = 65_536

EVENT_TYPES = ("pour", "temperature", "pressure", "health_check", "cleaning")
EVENT_SHARES = (0.70, 0.12, 0.08, 0.07, 0.03)
STATUSES = ("success", "warning", "error")
STATUS_SHARES = (0.94, 0.04, 0.02)
DEVICE_CATEGORIES = ("kegerator", "tap_tower", "draft_system", "cold_plate")
METRIC_KEYS = ("volume_ml", "temperature_c", "pressure_psi", "flow_rate_ml_per_sec", "duration_seconds")

TYPED_COLUMNS = (
    "id", "device_id", "location_id", "timestamp", "event_type", "status", "device_category",
    *METRIC_KEYS, "created_at",
)
JSONB_COLUMNS = (
    "id", "device_id", "location_id", "timestamp", "event_type", "status", "metrics", "device_category", "created_at",
)
TYPED_DDL = """
    id integer NOT NULL, device_id integer NOT NULL, location_id integer NOT NULL,
    "timestamp" timestamp without time zone NOT NULL, event_type varchar(50), status varchar(50),
    device_category varchar(50), volume_ml integer, temperature_c real, pressure_psi real,
    flow_rate_ml_per_sec real, duration_seconds real, created_at timestamp without time zone
"""
JSONB_DDL = """
    id integer NOT NULL, device_id integer NOT NULL, location_id integer NOT NULL,
    "timestamp" timestamp without time zone NOT NULL, event_type varchar(50), status varchar(50),
    metrics jsonb, device_category varchar(50), created_at timestamp without time zone
"""
VIEW_SELECT = """
    SELECT id, device_id, location_id, "timestamp", event_type, status,
           jsonb_strip_nulls(jsonb_build_object(
               'volume_ml', volume_ml, 'temperature_c', temperature_c, 'pressure_psi', pressure_psi,
               'flow_rate_ml_per_sec', flow_rate_ml_per_sec, 'duration_seconds', duration_seconds)) AS metrics,
           device_category, created_at
    FROM {}
"""
STAGING_READ = (
    "SELECT count(*), sum((metrics->>'volume_ml')::numeric), count(metrics->>'temperature_c'), "
    "count(metrics->>'pressure_psi'), count(metrics->>'flow_rate_ml_per_sec'), count(metrics->>'duration_seconds'), "
    "count(metrics), sum(length(md5(id::text))) FROM {}")
TYPED_READ = (
    "SELECT count(*), sum(volume_ml::numeric), count(temperature_c), count(pressure_psi), "
    "count(flow_rate_ml_per_sec), count(duration_seconds), count(*) FILTER (WHERE volume_ml IS NOT NULL "
    "OR temperature_c IS NOT NULL OR pressure_psi IS NOT NULL), sum(length(md5(id::text))) FROM {}")
_METRIC_ARGS = ", ".join(f"{k} {t}" for k, t in zip(
    METRIC_KEYS, ("integer", "real", "real", "real", "real"), strict=True))
METRICS_FUNCTION = (
    "CREATE FUNCTION {}.tap_metrics(" + _METRIC_ARGS + ") RETURNS jsonb LANGUAGE sql IMMUTABLE PARALLEL SAFE "
    "RETURN jsonb_strip_nulls(jsonb_build_object(" + ", ".join(f"'{k}', {k}" for k in METRIC_KEYS) + "))")
STORED_COLUMN = ", metrics jsonb GENERATED ALWAYS AS ({}.tap_metrics(" + ", ".join(METRIC_KEYS) + ")) STORED"
VIRTUAL_COLUMN = (
    ", metrics jsonb GENERATED ALWAYS AS (jsonb_strip_nulls(jsonb_object(ARRAY["
    + ", ".join(f"'{k}'" for k in METRIC_KEYS) + "], ARRAY[" + ", ".join(f"{k}::text" for k in METRIC_KEYS)
    + "]))) VIRTUAL")
CANDIDATES = ("typed", "jsonb", "typed+jsonb", "typed+view", "typed+stored", "typed+virtual")

Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass
class LayoutResult:
    name: str
    load_s: list[float] = field(default_factory=list)
    disk_bytes: list[int] = field(default_factory=list)
    read_s: list[float] = field(default_factory=list)
    read_result: tuple[float, ...] = ()
    refused: str = ""  # the server's refusal, for a candidate it does not support


def build_frames(n: int) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    """The typed frame, the typed frame plus its `metrics` JSON strings, and the seconds spent building them."""
    rng = np.random.default_rng(SEED)
    device_id = rng.integers(1, 2_001, n, dtype=np.int32)
    start = np.datetime64("2024-01-01T00:00:00", "us")
    offsets = np.sort(rng.integers(0, 365 * 86_400 * 1_000_000, n, dtype=np.int64))
    volume = rng.integers(150, 651, n, dtype=np.int32)
    flow = np.round(rng.uniform(25.0, 75.0, n), 2)
    frame = pl.DataFrame({
        "id": np.arange(1, n + 1, dtype=np.int32),
        "device_id": device_id,
        "location_id": ((device_id - 1) // 4 + 1).astype(np.int32),
        "timestamp": start + offsets.astype("timedelta64[us]"),
        "event_type": pl.Series(EVENT_TYPES).gather(rng.choice(len(EVENT_TYPES), n, p=EVENT_SHARES)),
        "status": pl.Series(STATUSES).gather(rng.choice(len(STATUSES), n, p=STATUS_SHARES)),
        "device_category": pl.Series(DEVICE_CATEGORIES).gather(rng.integers(0, len(DEVICE_CATEGORIES), n)),
        "volume_ml": volume,
        "temperature_c": np.round(rng.normal(3.5, 0.8, n), 2).astype(np.float32),
        "pressure_psi": np.round(rng.normal(12.0, 1.5, n), 2).astype(np.float32),
        "flow_rate_ml_per_sec": flow.astype(np.float32),
        "duration_seconds": np.round(volume / flow, 2).astype(np.float32),
    })
    et = pl.col("event_type")
    pour = et == "pour"
    typed = frame.with_columns(
        pl.when(pour).then(pl.col("volume_ml")).alias("volume_ml"),
        pl.when(pour | (et == "temperature")).then(pl.col("temperature_c")).alias("temperature_c"),
        pl.when(et == "pressure").then(pl.col("pressure_psi")).alias("pressure_psi"),
        pl.when(pour).then(pl.col("flow_rate_ml_per_sec")).alias("flow_rate_ml_per_sec"),
        pl.when(pour).then(pl.col("duration_seconds")).alias("duration_seconds"),
        pl.col("timestamp").alias("created_at"),
    ).select(TYPED_COLUMNS)

    t0 = time.perf_counter()
    # A null metric yields a null fragment, which concat_str(ignore_nulls=True) skips: only present keys are kept.
    fragments = [pl.lit(f'"{k}":') + pl.col(k).cast(pl.String) for k in METRIC_KEYS]
    metrics = pl.lit("{") + pl.concat_str(fragments, separator=",", ignore_nulls=True) + pl.lit("}")
    both = typed.with_columns(metrics.alias("metrics"))
    json_s = time.perf_counter() - t0
    return typed, both, json_s


def make_encoder(arrow: pa.Table, jsonb_columns: Sequence[str] = ()) -> pgpq.ArrowToPostgresBinaryEncoder:
    if not jsonb_columns:
        return pgpq.ArrowToPostgresBinaryEncoder(arrow.schema)
    builders: dict[str, Any] = {}
    for f in arrow.schema:
        if f.name not in jsonb_columns:
            builders[f.name] = pgpq.ArrowToPostgresBinaryEncoder.infer_encoder(f)
        elif pa.types.is_large_string(f.type):
            builders[f.name] = pgpq_encoders.LargeStringEncoderBuilder.new_with_output(f, pgpq_schema.Jsonb())
        elif pa.types.is_string_view(f.type):
            builders[f.name] = pgpq_encoders.StringViewEncoderBuilder.new_with_output(f, pgpq_schema.Jsonb())
        else:
            builders[f.name] = pgpq_encoders.StringEncoderBuilder.new_with_output(f, pgpq_schema.Jsonb())
    return pgpq.ArrowToPostgresBinaryEncoder.new_with_encoders(arrow.schema, builders)


def _fresh_table(conn: Conn, table: sql.Composable, ddl: str) -> None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(table))
        cur.execute(sql.SQL("CREATE TABLE {} (" + ddl + ")").format(table))
    conn.commit()
    conn.execute("CHECKPOINT")
    conn.commit()


def timed_copy(conn: Conn, table: sql.Composable, arrow: pa.Table, jsonb_columns: Sequence[str] = ()) -> float:
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        table, sql.SQL(", ").join(sql.Identifier(c) for c in arrow.column_names))
    t0 = time.perf_counter()
    encoder = make_encoder(arrow, jsonb_columns)
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        copy.write(encoder.write_header())
        for batch in arrow.to_batches(max_chunksize=BATCH_ROWS):
            copy.write(encoder.write_batch(batch))
        copy.write(encoder.finish())
    conn.commit()
    return time.perf_counter() - t0


def table_size(conn: Conn, qualified: str) -> int:
    row = conn.execute("SELECT pg_total_relation_size(%s::regclass)", (qualified,)).fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def timed_read(conn: Conn, query: str, relation: sql.Composable) -> tuple[float, tuple[float, ...]]:
    stmt = sql.SQL(query).format(relation)
    conn.execute(stmt).fetchone()  # warm-up: sets hint bits after the load and fills the cache
    t0 = time.perf_counter()
    row = conn.execute(stmt).fetchone()
    elapsed = time.perf_counter() - t0
    conn.commit()
    return elapsed, tuple(float(v) for v in row) if row else ()


def _load(conn: Conn, schema: str, name: str, typed: pa.Table, both: pa.Table, result: LayoutResult) -> str:
    """Create candidate `name`'s table, COPY its rows (timed); return the relation the staging model reads."""
    s = sql.Identifier(schema)
    table_name = "typed_base" if name == "typed+view" else name.replace("+", "_")  # the view takes typed_view
    table = sql.SQL("{}.{}").format(s, sql.Identifier(table_name))
    ddl = {"typed": TYPED_DDL, "jsonb": JSONB_DDL, "typed+jsonb": TYPED_DDL + ", metrics jsonb",
           "typed+view": TYPED_DDL, "typed+stored": TYPED_DDL + STORED_COLUMN.replace("{}", schema),
           "typed+virtual": TYPED_DDL + VIRTUAL_COLUMN}[name]
    _fresh_table(conn, table, ddl)
    if name == "jsonb":
        result.load_s.append(timed_copy(conn, table, both.select(list(JSONB_COLUMNS)), jsonb_columns=("metrics",)))
    elif name == "typed+jsonb":
        result.load_s.append(timed_copy(conn, table, both, jsonb_columns=("metrics",)))
    else:
        result.load_s.append(timed_copy(conn, table, typed))
    result.disk_bytes.append(table_size(conn, f"{schema}.{table_name}"))
    if name != "typed+view":
        return f"{schema}.{table_name}"
    view = sql.SQL("{}.{}").format(s, sql.Identifier("typed_view"))
    conn.execute(sql.SQL("CREATE VIEW {} AS " + VIEW_SELECT).format(view, table))
    conn.commit()
    return f"{schema}.typed_view"


def run(args: argparse.Namespace) -> dict[str, Any]:
    n: int = args.rows
    t0 = time.perf_counter()
    typed, both, json_s = build_frames(n)
    gen_s = time.perf_counter() - t0
    typed_arrow, both_arrow = typed.to_arrow(), both.to_arrow()
    avg_json = float(both.select(pl.col("metrics").str.len_bytes().mean()).item())
    print(f"built {n:,} rows in {gen_s:.2f} s (of which JSON strings {json_s:.2f} s, mean {avg_json:.1f} bytes); "
          f"event shares: {typed['event_type'].value_counts(normalize=True, sort=True).rows()}")

    schema = f"bench_metrics_{os.getpid()}"
    s = sql.Identifier(schema)
    results = {k: LayoutResult(k) for k in CANDIDATES}
    facts: dict[str, Any] = {}
    try:
        with psycopg.connect(args.database_url) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
            conn.execute(sql.SQL(METRICS_FUNCTION).format(s))
            conn.commit()
            for name in ("server_version", "jit", "max_parallel_workers_per_gather", "shared_buffers", "wal_level"):
                row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                facts[name] = row[0] if row else None
            conn.commit()
            for i in range(args.runs):
                order = CANDIDATES[i % len(CANDIDATES):] + CANDIDATES[:i % len(CANDIDATES)]
                for name in order:
                    r = results[name]
                    if r.refused:
                        continue
                    try:
                        relation = _load(conn, schema, name, typed_arrow, both_arrow, r)
                    except psycopg.Error as exc:
                        conn.rollback()
                        r.refused = str(exc).splitlines()[0]
                        print(f"{name}: refused by the server: {r.refused}")
                        continue
                    query = TYPED_READ if name == "typed" else STAGING_READ
                    secs, r.read_result = timed_read(conn, query, sql.SQL(relation))
                    r.read_s.append(secs)
                print(f"run {i + 1}/{args.runs}: " + ", ".join(
                    f"{k} load {v.load_s[-1]:.2f} s read {v.read_s[-1]:.3f} s"
                    for k, v in results.items() if v.load_s and v.read_s))
    finally:
        drop_schema(args.database_url, schema)

    return {"rows": n, "runs": args.runs, "json_build_s": json_s, "mean_json_bytes": avg_json, "server": facts,
            "results": results}


def _check_reads(results: dict[str, LayoutResult]) -> str:
    ref = results["jsonb"].read_result
    worst = 0.0
    for r in results.values():
        if not r.read_result:
            continue
        for a, b in zip(r.read_result, ref, strict=True):
            worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    return f"read results agree across layouts (max relative difference {worst:.1e})" if worst < 1e-9 else (
        f"WARNING: read results differ across layouts (max relative difference {worst:.1e})")


def report(out: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n = out["rows"]
    results: dict[str, LayoutResult] = out["results"]
    med = {k: {"load_s": statistics.median(r.load_s), "disk_bytes": statistics.median(r.disk_bytes),
               "read_s": statistics.median(r.read_s)} for k, r in results.items() if r.read_s}
    ref = med["jsonb"]
    lines = ["| candidate | staging reads it unmodified | load rows/s (median) | load vs jsonb | disk MiB | "
             "staging read s per 1M rows | read vs jsonb |", "|---|---|---:|---:|---:|---:|---:|"]
    for k, r in results.items():
        if r.refused:
            lines.append(f"| {k} | refused: `{r.refused}` | | | | | |")
            continue
        m = med[k]
        lines.append(f"| {k} | {'no (typed columns)' if k == 'typed' else 'yes'} | {n / m['load_s']:,.0f} | "
                     f"{ref['load_s'] / m['load_s']:.2f}x | {m['disk_bytes'] / 2**20:.1f} | "
                     f"{m['read_s'] * 1e6 / n:.3f} | {m['read_s'] / ref['read_s']:.2f}x |")
    lines.append("")
    lines.append(f"- {_check_reads({k: v for k, v in results.items() if k != 'typed'})}")
    return "\n".join(lines), {"medians": med}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_URL,
                    help="a URL, or 'embedded' for the embedded PostgreSQL 18 server")
    ap.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args()
    if args.database_url == "embedded":
        from datagen import embedded

        args.database_url = embedded.ensure_server()
    out = run(args)
    table, summary = report(out)
    srv = out["server"]
    print(f"\nPostgreSQL {srv.get('server_version')} (jit={srv.get('jit')}, "
          f"max_parallel_workers_per_gather={srv.get('max_parallel_workers_per_gather')}, "
          f"shared_buffers={srv.get('shared_buffers')}); {os.cpu_count()} cores; Python {platform.python_version()}; "
          f"{out['rows']:,} rows, median of {out['runs']} runs; jsonb via pgpq binary COPY (Jsonb string encoder)\n")
    print(table)
    if args.json is not None:
        payload = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {"node": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
            "server": srv, "rows": out["rows"], "runs": out["runs"], "jsonb_copy_format": "binary (pgpq Jsonb)",
            "json_build_s": out["json_build_s"], "mean_json_bytes": out["mean_json_bytes"],
            "layouts": {k: asdict(r) for k, r in out["results"].items()}, **summary,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
