"""Benchmark: tap events end to end against the load-only ceilings, at several volumes, in one run.

For each volume N (default 1M and 10M; `--rows 1M,10M,100M` for the full series) it picks the first days of
2024 onward that hold N tap events at the shipped rates, writes a config whose events.range is exactly those
days, and measures, for each tap-event layout (events.tap_events.layout: the default contract layout first,
then typed beside it; `--layouts`), on the same PostgreSQL and that layout's table:

- e2e: `python -m datagen generate-events --tables tap_events` as a user runs it (a fresh process: plan,
  build, check, encode, COPY on parallel connections, keys, swap), wall time and peak RSS, and the command's
  own `total` stage (the same work without interpreter start-up and imports);
- ceiling (load): the same loader fed with rows encoded beforehand and read back from a file (COPY,
  primary keys, foreign keys, swap): what the database side costs with generation taken away;
- ceiling (COPY): one connection, one binary COPY of the pre-encoded rows into a bare table, no keys, after
  a CHECKPOINT;
- generation alone, no database: build only, and build + checks + fingerprint + encoding (one thread).

Ratios are to ceilings measured in the same run, since absolute times on these shared machines drift.
Usage: python benchmarks/bench_events.py [--rows 1M,10M,100M] [--layouts contract,typed] [--database-url URL]
       [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    DATAGEN,
    add_database_argument,
    checkpoint,
    copy_ceiling,
    default_raw,
    drop_event_tables,
    event_config,
    machine,
    parse_rows,
    pre_encode,
    run,
    tap_plan,
    windows,
    write_config,
)
from _results import add_to_section, commit

from datagen import events, load_events, tuning
from datagen.builders import Part
from datagen.config import parse_config
from datagen.db import Target, resolve
from datagen.tables import LAYOUTS

SCHEMA = "bench_events"


def _e2e(cfg_path: Path, env: dict[str, str], connections: int, workers: int) -> tuple[float, float, float]:
    """Wall time of the command, its own "total" stage (the same work without interpreter start-up and
    imports, ~0.5 s), and its peak RSS (MiB)."""
    cmd = [*DATAGEN, "generate-events", "--config", str(cfg_path), "--schema", SCHEMA, "--tables", "tap_events",
           "--yes", "--no-progress", "--connections", str(connections), "--workers", str(workers)]
    ran = run(cmd, {**env, "COLUMNS": "200"})
    found = re.search(r"^\W*total\W+([0-9.]+)", ran.stdout, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no total stage in the output of {' '.join(cmd)}")
    return ran.seconds, float(found.group(1)), ran.peak_rss_mb


def _replayer(fd: int, index: list[tuple[Part, int, int]]) -> load_events.Make:
    """A part as the loader asks for it, read back from the pre-encoded file (the page cache: several GB/s)."""
    where = {part: (offset, length) for part, offset, length in index}

    def make(part: Part) -> load_events.Encoded:
        offset, length = where[part]
        return load_events.Encoded(part, f"{part.rows}:{0:032x}", [], os.pread(fd, length, offset))
    return make


def _drop_events(url: str) -> None:
    drop_event_tables(url, SCHEMA)
    checkpoint(url)  # start every measurement with the same WAL state


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1M,10M", help="volumes, e.g. 1M,10M,100M (default 1M,10M)")
    add_database_argument(ap)
    ap.add_argument("--connections", type=int, default=tuning.COPY_CONNECTIONS)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--layouts", default=",".join(LAYOUTS), help=f"tap-event layouts (default {','.join(LAYOUTS)})")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = ap.parse_args()
    target: Target = resolve(args.database_url)
    url = target.conninfo
    raw = default_raw()
    sizes = [parse_rows(r) for r in args.rows.split(",")]
    env = {**os.environ, "DATABASE_URL": url}
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_events_") as tmp:
        tmpdir = Path(tmp)
        for w, layout in [(w, x) for w in windows(raw, sizes) for x in args.layouts.split(",")]:
            rows = w.rows
            cfg_raw = event_config(raw, w.start, w.end)
            cfg_raw["events"]["tap_events"]["layout"] = layout
            cfg_path = write_config(tmpdir / f"events_{w.target}.yaml", cfg_raw)
            run([*DATAGEN, "generate", "--config", str(cfg_path), "--schema", SCHEMA, "--yes", "--no-progress"], env)
            streams, plan = tap_plan(parse_config(cfg_raw))
            assert plan.window_rows["tap_events"] == rows

            t0 = time.perf_counter()
            for part in events.iter_parts(plan):
                streams.build(part)
            gen_s = time.perf_counter() - t0
            data = tmpdir / "encoded.bin"
            t0 = time.perf_counter()
            index = pre_encode(streams, plan, data)
            gen_full_s = time.perf_counter() - t0  # includes writing the file

            _drop_events(url)
            fd = os.open(data, os.O_RDONLY)
            try:
                ceiling = load_events.load_events(streams, plan, target, schema=SCHEMA, full_range=True,
                                                  connections=args.connections, make=_replayer(fd, index))
            finally:
                os.close(fd)
            checkpoint(url)  # the load ceiling's dirty pages and WAL are not the COPY's to pay
            copy_s = copy_ceiling(url, SCHEMA, data)
            _drop_events(url)
            e2e_s, inner_s, e2e_rss_mb = _e2e(cfg_path, env, args.connections, args.workers)
            data.unlink()
            r = {"rows": rows, "days": f"{w.start}..{w.end}", "layout": layout, "e2e_s": e2e_s,
                 "e2e_rows_s": rows / e2e_s, "e2e_after_startup_s": inner_s, "e2e_after_startup_rows_s": rows / inner_s,
                 "e2e_peak_rss_mb": e2e_rss_mb, "ceiling_load_s": ceiling.total_seconds,
                 "ceiling_load_rows_s": rows / ceiling.total_seconds, "ceiling_copy_s": copy_s,
                 "ceiling_copy_rows_s": rows / copy_s, "gen_rows_s": rows / gen_s,
                 "gen_check_encode_rows_s": rows / gen_full_s}
            r["ratio_load"] = r["e2e_rows_s"] / r["ceiling_load_rows_s"]
            r["ratio_copy"] = r["e2e_rows_s"] / r["ceiling_copy_rows_s"]
            results.append(r)
            print(json.dumps(r), flush=True)
    _drop_events(url)
    host = machine()
    command = f"`python benchmarks/bench_events.py --rows {args.rows} --layouts {args.layouts}`"
    lines = [f"| {dt.date.today()} | {host} | {command} | {r['rows']:,} ({r['days']}) | {r['layout']} | "
             f"{r['e2e_rows_s']:,.0f} | {r['e2e_after_startup_rows_s']:,.0f} | {r['ceiling_load_rows_s']:,.0f} | "
             f"{r['ratio_load']:.2f}x | "
             f"{r['ceiling_copy_rows_s']:,.0f} | {r['ratio_copy']:.2f}x | {r['gen_rows_s']:,.0f} | "
             f"{r['gen_check_encode_rows_s']:,.0f} | {r['e2e_peak_rss_mb']:,.0f} MB |" for r in results]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"machine": host, "command": command, "results": results}, indent=2))
    if not args.no_record:
        table = ("| date | machine | command | rows (days) | layout | e2e rows/s | e2e after start-up "
                 "| load ceiling rows/s "
                 "| e2e / load ceiling "
                 "| COPY ceiling rows/s | e2e / COPY ceiling | generation rows/s | gen + check + encode rows/s "
                 "| e2e peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        add_to_section("## Tap events end to end against the load ceilings",
                       "e2e: `generate-events --tables tap_events` in a fresh process (plan, build, check, encode, "
                       "COPY on 2 connections, primary and foreign keys, swap); e2e after start-up: the command's "
                       "own total stage, the same work without interpreter start-up and imports. Load ceiling: the "
                       "same loader fed pre-encoded rows. COPY ceiling: one binary COPY of the pre-encoded rows into a "
                       "bare table, no keys. Generation: build only / build + checks + fingerprint + encode, one "
                       "thread, no database.\n",
                       f"\nRun {dt.date.today()}, commit {commit()}:\n\n" + table + "\n".join(lines),
                       before="Notes on these runs:")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
