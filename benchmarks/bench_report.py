"""Benchmark: `datagen report` on the default dataset and on large tap-event volumes, against a read ceiling.

1. The default dataset: the shipped config, core and every event table over its three days (8.0M event rows),
   loaded as the Quick start loads it; then `python -m datagen report` in a fresh process, wall time and peak
   RSS. Target: under 15 s.
2. For each volume N (default 10M; `--rows 10M,100M` for the full series) the first days of 2024 onward that hold
   N tap events (as bench_validate.py loads them, tap events only), then the report in a fresh process. Target:
   under 2 minutes at 100M, with memory bounded: the report holds a day partition's few columns per reading
   thread, so its peak follows the largest day, not the volume. Met when the 100M run's peak RSS is at most 1.5x
   the highest peak of the smaller runs (the default dataset's three days are each larger than any day of the
   2024 windows).

Baseline, measured in the same run on the same partitions: the read ceiling, the columns the report reads of
every tap-event day partition fetched into Arrow through ADBC on tuning.READ_CONNECTIONS connections, with
nothing counted or drawn. report / ceiling is what the aggregation, the checks and the drawing add.

Usage: python benchmarks/bench_report.py [--rows 10M,100M] [--database-url URL] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import tempfile
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

from datagen import catalog, manifest_store, readback, tuning
from datagen.checks.distributions import AGGREGATE_COLUMNS
from datagen.db import Target, resolve
from datagen.tables import TABLES

SCHEMA = "bench_report"
DEFAULT_TARGET_S, LARGE_TARGET_S, LARGE_ROWS, RSS_BOUND = 15.0, 120.0, 100_000_000, 1.5


def _read_ceiling(target: Target, names: list[str]) -> float:
    """Seconds to fetch the report's tap-event columns of every partition into Arrow, READ_CONNECTIONS at once."""
    t = TABLES["tap_events"]

    def job(name: str) -> int:
        with readback.connect(target) as conn, conn.cursor() as cur:
            cur.execute(readback.select_sql(SCHEMA, t, name, "contract", AGGREGATE_COLUMNS))
            return int(cur.fetch_arrow_table().num_rows)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=tuning.READ_CONNECTIONS) as pool:
        sum(pool.map(job, names))
    return time.perf_counter() - t0


def _report(common: list[str], env: dict[str, str], out: Path) -> dict[str, Any]:
    ran = run([*DATAGEN, "report", *common, "--out", str(out), "--no-progress"], env)
    m = re.search(r"([\d,]+) event rows read .* (\d+) of (\d+) marks pass", ran.stdout)
    if m is None or m.group(2) != m.group(3) or not (out / "report.html").is_file():
        raise SystemExit(f"the report did not pass: {ran.stdout[-2000:]}")
    return {"report_s": ran.seconds, "peak_rss_mb": ran.peak_rss_mb, "rows_read": int(m.group(1).replace(",", "")),
            "marks": int(m.group(3))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="10M", help="tap-event volumes, e.g. 10M,100M (default 10M)")
    add_database_argument(ap)
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = ap.parse_args()
    target = resolve(args.database_url)
    url = target.conninfo
    raw = default_raw()
    results: list[dict[str, Any]] = []
    tap = TABLES["tap_events"]
    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        env = {**os.environ, "DATABASE_URL": url, "DATAGEN_HOME": tmp}
        cases: list[tuple[str, list[str], list[str]]] = [("default dataset (3 days, every table)", [], [])]
        for w in windows(raw, [parse_rows(r) for r in args.rows.split(",")]):
            path = write_config(Path(tmp) / f"events_{w.target}.yaml", event_config(raw, w.start, w.end))
            cases.append((f"{w.rows:,} tap events ({w.start}..{w.end})", ["--config", str(path)],
                          ["--tables", "tap_events"]))
        for label, config, tables in cases:
            common = [*config, "--schema", SCHEMA]
            drop_event_tables(url, SCHEMA)
            run([*DATAGEN, "generate", *common, "--yes", "--no-progress"], env)
            run([*DATAGEN, "generate-events", *common, *tables, "--yes", "--no-progress"], env)
            with psycopg.connect(url) as conn, conn.cursor() as cur:
                names = sorted(catalog.existing_partitions(cur, SCHEMA, tap))
                manifest = manifest_store.read(cur, SCHEMA) or {}
            days = [int(p["rows"]) for p in manifest["events"]["tap_events"]["partitions"].values()]
            ceiling_s = _read_ceiling(target, names)
            r = {"case": label, "tap_rows": sum(days), "largest_day": max(days), "partitions": len(names),
                 "ceiling_s": ceiling_s,
                 **_report(common, env, Path(tmp) / "report")}
            r["ratio"] = r["report_s"] / ceiling_s
            results.append(r)
            print(json.dumps(r), flush=True)
        drop_event_tables(url, SCHEMA)
    default, large = results[0], results[1:]
    verdicts = [f"default dataset {default['report_s']:.1f} s (target < {DEFAULT_TARGET_S:g} s: "
                f"{'met' if default['report_s'] < DEFAULT_TARGET_S else 'MISSED'})"]
    for r in large:
        if r["tap_rows"] >= LARGE_ROWS:
            verdicts.append(f"{r['tap_rows']:,} tap events {r['report_s']:.1f} s (target < {LARGE_TARGET_S:g} s: "
                            f"{'met' if r['report_s'] < LARGE_TARGET_S else 'MISSED'})")
            smaller = [o for o in results if o["tap_rows"] < r["tap_rows"]]
            if smaller:
                top = max(smaller, key=lambda o: o["peak_rss_mb"])
                bound = r["peak_rss_mb"] / top["peak_rss_mb"]
                verdicts.append(f"peak RSS {r['peak_rss_mb']:,.0f} MB (largest day {r['largest_day']:,} rows) = "
                                f"{bound:.2f}x the highest smaller run's, {top['case']} (largest day "
                                f"{top['largest_day']:,} rows; bound {RSS_BOUND:g}x: "
                                f"{'met' if bound <= RSS_BOUND else 'MISSED'})")
    host = machine()
    command = f"`python benchmarks/bench_report.py --rows {args.rows}`"
    lines = [f"| {dt.date.today()} | {host} | {command} | {r['case']} | {r['tap_rows']:,} | {r['largest_day']:,} | "
             f"{r['rows_read']:,} | "
             f"{r['report_s']:.1f} s | {r['ceiling_s']:.1f} s | {r['ratio']:.2f}x | {r['peak_rss_mb']:,.0f} MB |"
             for r in results]
    print("\n".join(lines))
    print("; ".join(verdicts))
    if not args.no_record:
        table = ("| date | machine | command | data | tap events | largest day | event rows read | report (wall) "
                 "| read ceiling | report / ceiling | peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
        add_to_section("## Report: `datagen report`",
                       "report: `python -m datagen report` in a fresh process (core read whole, every event day "
                       "partition read with only the columns the charts need on "
                       f"{tuning.READ_CONNECTIONS} connections and counted, the distribution checks, 16 charts "
                       "drawn to PNG and the HTML page written). Read ceiling: the same tap-event columns of the same "
                       f"partitions fetched into Arrow through ADBC on {tuning.READ_CONNECTIONS} connections, nothing "
                       "counted or drawn. Targets: under 15 s on the default dataset, under 2 minutes on 100M tap "
                       "events with bounded memory.\n",
                       f"\nRun {dt.date.today()}, commit {commit()}:\n\n" + table + "\n".join(lines)
                       + "\n\n" + "; ".join(verdicts) + ".")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
