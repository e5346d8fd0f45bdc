"""Benchmark: tap-event metrics stored as one jsonb column versus as typed columns, on a real PostgreSQL.

Three layouts of the same N synthetic tap events (numpy, fixed seed, vectorized) are compared:

  A  typed        13 typed columns (integer, timestamp, varchar(50), real); metrics are five nullable columns.
  B  jsonb        the legacy 9-column layout; `metrics` is a jsonb object holding only the non-null keys.
  C  typed+view   layout A plus a view that rebuilds `metrics` with jsonb_strip_nulls(jsonb_build_object(...)).
                  Its load and disk cost are A's; only the read is measured.

Both tables are loaded with binary COPY encoded by pgpq from a Polars frame's Arrow data (batches of 65,536 rows).
The jsonb column goes through pgpq too: `LargeStringEncoderBuilder.new_with_output(field, pgpq.schema.Jsonb())`
writes each JSON string as a binary jsonb value (version byte 1 + text), so no CSV fallback is needed. The JSON
strings are built once with Polars (concat_str of the non-null "key":value fragments) before timing; that one-off
client cost is reported separately.

Per run and layout: a fresh normal (logged) table without keys or indexes in a scratch schema
(bench_metrics_<pid>), a CHECKPOINT (untimed), then timed: COPY plus commit. Then pg_total_relation_size and a
staging-style read (count, sum of volume_ml, avg of temperature_c and pressure_psi as numeric; via metrics->>'key'
for B and C), run once untimed to set hint bits and warm the cache, then once timed. The layout order alternates
between runs. The scratch schema is dropped at the end, also on error. Server settings are left at their defaults.

Usage:
  python benchmarks/bench_metrics_layout.py [--rows 1000000] [--runs 3] [--database-url URL] [--json PATH]
The URL defaults to $TEST_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
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
READ_TYPED = ("SELECT count(*), sum(volume_ml::numeric), avg(temperature_c::numeric), avg(pressure_psi::numeric) "
              "FROM {}")
READ_JSONB = ("SELECT count(*), sum((metrics->>'volume_ml')::numeric), avg((metrics->>'temperature_c')::numeric), "
              "avg((metrics->>'pressure_psi')::numeric) FROM {}")

Conn = psycopg.Connection[tuple[Any, ...]]


@dataclass
class LayoutResult:
    name: str
    load_s: list[float] = field(default_factory=list)
    disk_bytes: list[int] = field(default_factory=list)
    read_s: list[float] = field(default_factory=list)
    read_result: tuple[float, ...] = ()


def build_frames(n: int) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    """The typed frame, the jsonb-layout frame and the seconds spent building the JSON strings."""
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
    legacy = typed.with_columns(metrics.alias("metrics")).select(JSONB_COLUMNS)
    json_s = time.perf_counter() - t0
    return typed, legacy, json_s


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


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def run(args: argparse.Namespace) -> dict[str, Any]:
    n: int = args.rows
    t0 = time.perf_counter()
    typed, legacy, json_s = build_frames(n)
    gen_s = time.perf_counter() - t0
    typed_arrow, legacy_arrow = typed.to_arrow(), legacy.to_arrow()
    avg_json = float(legacy.select(pl.col("metrics").str.len_bytes().mean()).item())
    print(f"built {n:,} rows in {gen_s:.2f} s (of which JSON strings {json_s:.2f} s, mean {avg_json:.1f} bytes); "
          f"event shares: {typed['event_type'].value_counts(normalize=True, sort=True).rows()}")

    schema = f"bench_metrics_{os.getpid()}"
    s = sql.Identifier(schema)
    t_typed, t_jsonb, v_view = (sql.SQL("{}.{}").format(s, sql.Identifier(x)) for x in ("typed", "jsonb", "typed_v"))
    results = {k: LayoutResult(k) for k in ("typed", "jsonb", "typed+view")}
    facts: dict[str, Any] = {}
    try:
        with psycopg.connect(args.database_url) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
            conn.commit()
            for name in ("server_version", "jit", "max_parallel_workers_per_gather", "shared_buffers", "wal_level"):
                row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                facts[name] = row[0] if row else None
            conn.commit()
            for i in range(args.runs):
                order = ("typed", "jsonb") if i % 2 == 0 else ("jsonb", "typed")
                for layout in order:
                    if layout == "typed":
                        _fresh_table(conn, t_typed, TYPED_DDL)
                        r = results["typed"]
                        r.load_s.append(timed_copy(conn, t_typed, typed_arrow))
                        r.disk_bytes.append(table_size(conn, f"{schema}.typed"))
                        secs, r.read_result = timed_read(conn, READ_TYPED, t_typed)
                        r.read_s.append(secs)
                        conn.execute(sql.SQL("CREATE VIEW {} AS " + VIEW_SELECT).format(v_view, t_typed))
                        conn.commit()
                        v = results["typed+view"]
                        v.load_s.append(r.load_s[-1])
                        v.disk_bytes.append(r.disk_bytes[-1])
                        secs, v.read_result = timed_read(conn, READ_JSONB, v_view)
                        v.read_s.append(secs)
                    else:
                        _fresh_table(conn, t_jsonb, JSONB_DDL)
                        r = results["jsonb"]
                        r.load_s.append(timed_copy(conn, t_jsonb, legacy_arrow, jsonb_columns=("metrics",)))
                        r.disk_bytes.append(table_size(conn, f"{schema}.jsonb"))
                        secs, r.read_result = timed_read(conn, READ_JSONB, t_jsonb)
                        r.read_s.append(secs)
                print(f"run {i + 1}/{args.runs}: " + ", ".join(
                    f"{k} load {v.load_s[-1]:.2f} s read {v.read_s[-1]:.3f} s" for k, v in results.items()))
    finally:
        drop_schema(args.database_url, schema)

    return {"rows": n, "runs": args.runs, "json_build_s": json_s, "mean_json_bytes": avg_json, "server": facts,
            "results": results}


def _check_reads(results: dict[str, LayoutResult]) -> str:
    ref = results["typed"].read_result
    worst = 0.0
    for r in results.values():
        for a, b in zip(r.read_result, ref, strict=True):
            worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    return f"read results agree across layouts (max relative difference {worst:.1e})" if worst < 1e-9 else (
        f"WARNING: read results differ across layouts (max relative difference {worst:.1e})")


def report(out: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    n = out["rows"]
    results: dict[str, LayoutResult] = out["results"]
    med = {k: {"load_s": statistics.median(r.load_s), "disk_bytes": statistics.median(r.disk_bytes),
               "read_s": statistics.median(r.read_s)} for k, r in results.items()}
    lines = ["| layout | load rows/s (median) | load s | disk MiB | read s |", "|---|---:|---:|---:|---:|"]
    for k, m in med.items():
        load = f"{n / m['load_s']:,.0f}" if k != "typed+view" else f"= typed ({n / m['load_s']:,.0f})"
        lines.append(f"| {k} | {load} | {m['load_s']:.2f} | {m['disk_bytes'] / 2**20:.1f} | {m['read_s']:.3f} |")
    ratios = {
        "jsonb/typed load time": med["jsonb"]["load_s"] / med["typed"]["load_s"],
        "jsonb/typed disk": med["jsonb"]["disk_bytes"] / med["typed"]["disk_bytes"],
        "jsonb/typed read time": med["jsonb"]["read_s"] / med["typed"]["read_s"],
        "view/typed read time": med["typed+view"]["read_s"] / med["typed"]["read_s"],
        "view/jsonb read time": med["typed+view"]["read_s"] / med["jsonb"]["read_s"],
    }
    lines.append("")
    lines.extend(f"- {k}: {v:.2f}x" for k, v in ratios.items())
    lines.append(f"- {_check_reads(results)}")
    return "\n".join(lines), {"medians": med, "ratios": ratios}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_URL)
    ap.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args()

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
