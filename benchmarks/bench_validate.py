"""Benchmark: `validate` on tap events (read-back plus every check) against read-back ceilings, in one run.

For each volume N (default 1M and 10M; `--rows 1M,10M,100M` for the full series) it loads the first days of
2024 onward that hold N tap events (bench_events picks them), then measures on the same PostgreSQL:

- e2e: `python -m datagen validate --tables tap_events` as a user runs it (a fresh process: read the core back,
  count the plan, read every day partition on 2 connections, all checks, fingerprints, the manifest comparison),
  wall time and peak RSS; and its own timing of the partition phase (read + checks + fingerprints);
- ceiling (read): the same partitions read into Arrow through ADBC on 2 connections, no checks: what
  reading back costs with validation taken away;
- ceiling (server): the server writing the same partitions with binary COPY TO '/dev/null' on 2 connections,
  no client at all: what PostgreSQL itself can emit (needs a superuser; skipped otherwise).

Usage: python benchmarks/bench_validate.py [--rows 1M,10M,100M] [--database-url URL] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import yaml
from _results import add_to_section, commit
from bench_events import _config, _rows, _windows
from psycopg import sql

from datagen import readback
from datagen.config import DEFAULT_CONFIG
from datagen.db import Target, resolve
from datagen.load import existing_partitions
from datagen.tables import EVENT_TABLES, TABLES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SCHEMA = "bench_validate"
CONNECTIONS = 2


def _datagen(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run `python -m datagen ARGS`; wall seconds, peak RSS bytes, stdout."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "datagen", *args, "--no-progress"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) not in (0,):
        raise SystemExit(f"datagen {' '.join(args)} failed (status {status})")
    return seconds, usage.ru_maxrss * 1024, out


def _partitions(url: str) -> list[str]:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        return sorted(existing_partitions(cur, SCHEMA, TABLES["tap_events"]))


def _read_ceiling(target: Target, names: list[str]) -> float:
    """Each thread keeps one connection, as validate does."""
    local, opened = threading.local(), []

    def job(name: str) -> int:
        if not hasattr(local, "conn"):
            local.conn = readback.open_connection(target)
            opened.append(local.conn)
        return int(readback.read(local.conn, SCHEMA, TABLES["tap_events"], name).height)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CONNECTIONS) as pool:
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
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            list(pool.map(job, names))
        return time.perf_counter() - t0
    except psycopg.Error as exc:
        print(f"server ceiling skipped: {exc}", file=sys.stderr)
        return None


def _drop(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for t in reversed(EVENT_TABLES):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{} CASCADE").format(sql.Identifier(SCHEMA),
                                                                               sql.Identifier(t.name)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1M,10M", help="volumes, e.g. 1M,10M,100M (default 1M,10M)")
    ap.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL"))
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = ap.parse_args()
    target = resolve(args.database_url)
    url = target.conninfo
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_validate_") as tmp:
        env = {**os.environ, "DATABASE_URL": url, "DATAGEN_HOME": tmp}
        for target_rows, start, end, rows in _windows(raw, [_rows(r) for r in args.rows.split(",")]):
            cfg_path = Path(tmp) / f"events_{target_rows}.yaml"
            cfg_path.write_text(yaml.safe_dump(_config(raw, start, end), sort_keys=False), encoding="utf-8")
            common = ["--config", str(cfg_path), "--schema", SCHEMA]
            _drop(url)
            _datagen(["generate", *common, "--yes"], env)
            _datagen(["generate-events", *common, "--tables", "tap_events", "--yes"], env)
            names = _partitions(url)
            server_s = _server_ceiling(url, names)
            read_s = _read_ceiling(target, names)
            e2e_s, rss, out = _datagen(["validate", *common, "--tables", "tap_events", "--json"], env)
            rep = json.loads(out)
            if not rep["passed"] or rep["event_rows_read"] != rows:
                raise SystemExit(f"validate did not pass on {rows:,} rows: {out[:2000]}")
            phase_s = rep["event_seconds"]
            r = {"rows": rows, "days": f"{start}..{end}", "partitions": len(names), "e2e_s": e2e_s,
                 "e2e_rows_s": rows / e2e_s, "phase_s": phase_s, "phase_rows_s": rows / phase_s,
                 "read_ceiling_rows_s": rows / read_s, "e2e_peak_rss_mb": rss / 2**20,
                 "server_ceiling_rows_s": rows / server_s if server_s else None}
            r["ratio_read"] = r["phase_rows_s"] / r["read_ceiling_rows_s"]
            r["ratio_server"] = r["phase_rows_s"] / r["server_ceiling_rows_s"] if server_s else None
            results.append(r)
            print(json.dumps(r), flush=True)
        _drop(url)
    machine = f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()})"
    command = f"`python benchmarks/bench_validate.py --rows {args.rows}`"

    def fmt(v: float | None, spec: str) -> str:
        return "n/a" if v is None else format(v, spec)
    lines = [f"| {dt.date.today()} | {machine} | {command} | {r['rows']:,} ({r['partitions']} days) | "
             f"{r['e2e_rows_s']:,.0f} | {r['phase_rows_s']:,.0f} | {r['read_ceiling_rows_s']:,.0f} | "
             f"{r['ratio_read']:.2f}x | {fmt(r['server_ceiling_rows_s'], ',.0f')} | {fmt(r['ratio_server'], '.2f')}x | "
             f"{r['e2e_peak_rss_mb']:,.0f} MB |" for r in results]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "command": command, "results": results}, indent=2))
    if not args.no_record:
        table = ("| date | machine | command | rows | e2e rows/s | read + checks rows/s | read ceiling rows/s "
                 "| vs read ceiling | server ceiling rows/s | vs server ceiling | e2e peak RSS |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|\n")
        add_to_section("## Validate: tap events read back and checked",
                       "e2e: `validate --tables tap_events` in a fresh process (core read back and checked, plan "
                       "counted, partitions read on 2 connections, every partition check, fingerprints, manifest "
                       "comparison). Read + checks: validate's own timing of the partition phase. Read ceiling: the "
                       "same partitions read into Arrow through ADBC on 2 connections, no checks. Server ceiling: "
                       "binary COPY TO '/dev/null' of the same partitions on 2 connections, no client.\n",
                       f"\nRun {dt.date.today()}, commit {commit()}:\n\n" + table + "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
