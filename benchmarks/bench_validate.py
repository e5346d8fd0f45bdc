"""Benchmark: `validate` on tap events (read-back plus every check) against read-back ceilings, in one run.

For each volume N (default 1M and 10M; `--rows 1M,10M,100M` for the full series) it loads the first days of
2024 onward that hold N tap events (_common.windows picks them, as for bench_events.py), then measures on the
same PostgreSQL:

- e2e: `python -m datagen validate --tables tap_events` as a user runs it (a fresh process: read the core back
  and check it, count each day's rows from that day's own stream and take its first id from the manifest, which
  the loads just wrote with this config's digest, read every day partition on tuning.READ_CONNECTIONS
  connections, all checks, fingerprints, the manifest comparison), wall time and peak RSS; and its own timing
  of the partition phase (read + checks + fingerprints);
- ceiling (read): the same partitions read into Arrow through ADBC on as many connections, no checks: what
  reading back costs with validation taken away;
- ceiling (server): the server writing the same partitions with binary COPY TO '/dev/null' on as many
  connections, no client at all: what PostgreSQL itself can emit (needs a superuser; skipped otherwise).

Usage: python benchmarks/bench_validate.py [--rows 1M,10M,100M] [--database-url URL] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
from _common import (
    DATAGEN,
    add_database_argument,
    default_raw,
    drop_event_tables,
    event_config,
    machine,
    parse_rows,
    run,
    windows,
    write_config,
)
from _results import add_to_section, commit
from psycopg import sql

from datagen import catalog, readback, tuning
from datagen.db import Target, resolve
from datagen.tables import TABLES

SCHEMA = "bench_validate"


def _datagen(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run `python -m datagen ARGS --no-progress`; wall seconds, peak RSS (MiB), stdout."""
    ran = run([*DATAGEN, *args, "--no-progress"], env)
    return ran.seconds, ran.peak_rss_mb, ran.stdout


def _read_ceiling(target: Target, names: list[str]) -> float:
    """Each thread keeps one connection, as validate does."""
    local, opened = threading.local(), []

    def job(name: str) -> int:
        if not hasattr(local, "conn"):
            local.conn = readback.open_connection(target)
            opened.append(local.conn)
        return int(readback.read(local.conn, SCHEMA, TABLES["tap_events"], name).height)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(tuning.READ_CONNECTIONS) as pool:
        list(pool.map(job, names))
    seconds = time.perf_counter() - t0
    for conn in opened:
        conn.close()
    return seconds


def _server_ceiling(url: str, names: list[str]) -> float | None:
    def job(name: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("COPY {}.{} TO '/dev/null' (FORMAT binary)").format(
                sql.Identifier(SCHEMA), sql.Identifier(name)))
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(tuning.READ_CONNECTIONS) as pool:
            list(pool.map(job, names))
        return time.perf_counter() - t0
    except psycopg.Error as exc:
        print(f"server ceiling skipped: {exc}", file=sys.stderr)
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1M,10M", help="volumes, e.g. 1M,10M,100M (default 1M,10M)")
    add_database_argument(ap)
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = ap.parse_args()
    target = resolve(args.database_url)
    url = target.conninfo
    raw = default_raw()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_validate_") as tmp:
        env = {**os.environ, "DATABASE_URL": url, "DATAGEN_HOME": tmp}
        for w in windows(raw, [parse_rows(r) for r in args.rows.split(",")]):
            rows = w.rows
            cfg_path = write_config(Path(tmp) / f"events_{w.target}.yaml", event_config(raw, w.start, w.end))
            common = ["--config", str(cfg_path), "--schema", SCHEMA]
            drop_event_tables(url, SCHEMA)
            _datagen(["generate", *common, "--yes"], env)
            _datagen(["generate-events", *common, "--tables", "tap_events", "--yes"], env)
            with psycopg.connect(url) as conn, conn.cursor() as cur:
                names = sorted(catalog.existing_partitions(cur, SCHEMA, TABLES["tap_events"]))
            server_s = _server_ceiling(url, names)
            read_s = _read_ceiling(target, names)
            e2e_s, rss, out = _datagen(["validate", *common, "--tables", "tap_events", "--json"], env)
            rep = json.loads(out)
            if not rep["passed"] or rep["event_rows_read"] != rows:
                raise SystemExit(f"validate did not pass on {rows:,} rows: {out[:2000]}")
            phase_s = rep["event_seconds"]
            r = {"rows": rows, "days": f"{w.start}..{w.end}", "partitions": len(names), "e2e_s": e2e_s,
                 "e2e_rows_s": rows / e2e_s, "phase_s": phase_s, "phase_rows_s": rows / phase_s,
                 "read_ceiling_rows_s": rows / read_s, "e2e_peak_rss_mb": rss,
                 "server_ceiling_rows_s": rows / server_s if server_s else None}
            r["ratio_read"] = r["phase_rows_s"] / r["read_ceiling_rows_s"]
            r["ratio_server"] = r["phase_rows_s"] / r["server_ceiling_rows_s"] if server_s else None
            results.append(r)
            print(json.dumps(r), flush=True)
        drop_event_tables(url, SCHEMA)
    host = machine()
    command = f"`python benchmarks/bench_validate.py --rows {args.rows}`"

    def fmt(v: float | None, spec: str) -> str:
        return "n/a" if v is None else format(v, spec)
    lines = [f"| {dt.date.today()} | {host} | {command} | {r['rows']:,} ({r['partitions']} days) | "
             f"{r['e2e_rows_s']:,.0f} | {r['phase_rows_s']:,.0f} | {r['read_ceiling_rows_s']:,.0f} | "
             f"{r['ratio_read']:.2f}x | {fmt(r['server_ceiling_rows_s'], ',.0f')} | {fmt(r['ratio_server'], '.2f')}x | "
             f"{r['e2e_peak_rss_mb']:,.0f} MB |" for r in results]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"machine": host, "command": command, "results": results}, indent=2))
    if not args.no_record:
        table = ("| date | machine | command | rows | e2e rows/s | read + checks rows/s | read ceiling rows/s "
                 "| vs read ceiling | server ceiling rows/s | vs server ceiling | e2e peak RSS |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|\n")
        add_to_section("## Validate: tap events read back and checked",
                       "e2e: `validate --tables tap_events` in a fresh process (core read back and checked, each "
                       "day's rows counted from its own stream, first ids from the manifest, partitions read on "
                       f"{tuning.READ_CONNECTIONS} connections, every partition check, fingerprints, manifest "
                       "comparison). Read + checks: validate's own timing of the partition phase. Read ceiling: the "
                       f"same partitions read into Arrow through ADBC on {tuning.READ_CONNECTIONS} connections, no "
                       "checks. Server ceiling: binary COPY TO '/dev/null' of the same partitions on "
                       f"{tuning.READ_CONNECTIONS} connections, no client.\n",
                       f"\nRun {dt.date.today()}, commit {commit()}:\n\n" + table + "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
