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
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import yaml
from _results import add_to_section, commit
from psycopg import sql

from datagen import events, load_events
from datagen.config import DEFAULT_CONFIG, MAX_ID, parse_config
from datagen.db import Target, resolve
from datagen.generate import generate
from datagen.tables import EVENT_TABLES, LAYOUTS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SCHEMA = "bench_events"
RANGE = ("2024-01-01", "2025-06-25")


def _rows(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * mult)


def _config(raw: dict[str, Any], start: str, end: str) -> dict[str, Any]:
    out = json.loads(json.dumps(raw, default=str))
    out["events"]["range"] = {"start_date": start, "end_date": end}
    out["id_ranges"]["tap_events"] = [1, MAX_ID]
    return out


def _windows(raw: dict[str, Any], sizes: list[int]) -> list[tuple[int, str, str, int]]:
    """(target, first day, last day, rows): the first days from RANGE[0] holding at least target tap events."""
    cfg = parse_config(_config(raw, *RANGE))
    streams = events.Streams(cfg, generate(cfg))
    plan = streams.plan(("tap_events",))
    spans = plan.all_spans["tap_events"]
    out = []
    for target in sizes:
        total, day = 0, cfg.events.start_date
        while total < target and day <= cfg.events.end_date:
            total += spans.get(day, (0, 0))[1]
            day += dt.timedelta(days=1)
        out.append((target, str(cfg.events.start_date), str(day - dt.timedelta(days=1)), total))
    return out


def _drop_events(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for t in reversed(EVENT_TABLES):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{} CASCADE").format(sql.Identifier(SCHEMA),
                                                                               sql.Identifier(t.name)))
    _checkpoint(url)  # start every measurement with the same WAL state


def _checkpoint(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def _e2e(cfg_path: Path, url: str, connections: int, workers: int, out: Path) -> tuple[float, float, int]:
    """Wall time of the command, its own "total" stage (the same work without interpreter start-up and
    imports, ~0.5 s), and its peak RSS."""
    env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "datagen", "generate-events", "--config", str(cfg_path), "--schema", SCHEMA,
           "--tables", "tap_events", "--yes", "--no-progress", "--connections", str(connections),
           "--workers", str(workers)]
    t0 = time.perf_counter()
    with out.open("w") as fh:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fh)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"generate-events failed (status {status}): {' '.join(cmd)}")
    found = re.search(r"^\W*total\W+([0-9.]+)", out.read_text(encoding="utf-8"), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no total stage in the output of {' '.join(cmd)}")
    return seconds, float(found.group(1)), usage.ru_maxrss * 1024


def _pre_encode(streams: events.Streams, plan: events.Plan, path: Path) -> list[tuple[events.Part, int, int]]:
    index = []
    with path.open("wb") as fh:
        for part in events.iter_parts(plan):
            enc = load_events.encode(events.build_checked(streams, part), load_events.DEFAULT_BATCH_ROWS,
                                     streams.cfg.events.tap_layout)
            offset = fh.tell()
            fh.write(enc.body)
            index.append((part, offset, len(enc.body)))
    return index


def _replayer(fd: int, index: list[tuple[events.Part, int, int]]) -> load_events.Make:
    """A part as the loader asks for it, read back from the pre-encoded file (the page cache: several GB/s)."""
    where = {part: (offset, length) for part, offset, length in index}

    def make(part: events.Part) -> load_events.Encoded:
        offset, length = where[part]
        return load_events.Encoded(part, f"{part.rows}:{0:032x}", [], os.pread(fd, length, offset))
    return make


def _copy_ceiling(url: str, path: Path, index: list[tuple[events.Part, int, int]]) -> float:
    """One connection, one binary COPY of every pre-encoded row into a bare table of the same layout."""
    with psycopg.connect(url) as conn, conn.cursor() as cur, path.open("rb") as fh:
        s = sql.Identifier(SCHEMA)
        cur.execute(sql.SQL("CREATE TABLE {}.ceiling (LIKE {}.app_database_tap_events)").format(s, s))
        conn.commit()
        t0 = time.perf_counter()
        with cur.copy(sql.SQL("COPY {}.ceiling FROM STDIN (FORMAT BINARY)").format(s)) as copy:
            copy.write(load_events.PGCOPY_HEADER)
            for _, offset, length in index:
                fh.seek(offset)
                copy.write(fh.read(length))
            copy.write(load_events.PGCOPY_TRAILER)
        conn.commit()
        seconds = time.perf_counter() - t0
        cur.execute(sql.SQL("DROP TABLE {}.ceiling").format(s))
        conn.commit()
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1M,10M", help="volumes, e.g. 1M,10M,100M (default 1M,10M)")
    ap.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL"))
    ap.add_argument("--connections", type=int, default=load_events.DEFAULT_CONNECTIONS)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--layouts", default=",".join(LAYOUTS), help=f"tap-event layouts (default {','.join(LAYOUTS)})")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = ap.parse_args()
    target: Target = resolve(args.database_url)
    url = target.conninfo
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    sizes = [_rows(r) for r in args.rows.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_events_") as tmp:
        tmpdir = Path(tmp)
        windows = _windows(raw, sizes)
        for (target_rows, start, end, rows), layout in [(w, x) for w in windows for x in args.layouts.split(",")]:
            cfg_raw = _config(raw, start, end)
            cfg_raw["events"]["tap_events"]["layout"] = layout
            cfg_path = tmpdir / f"events_{target_rows}.yaml"
            cfg_path.write_text(yaml.safe_dump(cfg_raw, sort_keys=False), encoding="utf-8")
            cfg = parse_config(cfg_raw)
            gen = generate(cfg)
            subprocess.run([sys.executable, "-m", "datagen", "generate", "--config", str(cfg_path), "--schema",
                            SCHEMA, "--yes", "--no-progress"], env={**os.environ, "DATABASE_URL": url}, cwd=ROOT,
                           check=True, stdout=subprocess.DEVNULL)
            streams = events.Streams(cfg, gen)
            plan = streams.plan(("tap_events",))
            assert plan.window_rows["tap_events"] == rows

            t0 = time.perf_counter()
            for part in events.iter_parts(plan):
                streams.build(part)
            gen_s = time.perf_counter() - t0
            data = tmpdir / "encoded.bin"
            t0 = time.perf_counter()
            index = _pre_encode(streams, plan, data)
            gen_full_s = time.perf_counter() - t0  # includes writing the file

            _drop_events(url)
            fd = os.open(data, os.O_RDONLY)
            try:
                ceiling = load_events.load_events(streams, plan, target, schema=SCHEMA, full_range=True,
                                                  connections=args.connections, make=_replayer(fd, index))
            finally:
                os.close(fd)
            _checkpoint(url)  # the load ceiling's dirty pages and WAL are not the COPY's to pay
            copy_s = _copy_ceiling(url, data, index)
            _drop_events(url)
            e2e_s, inner_s, e2e_rss = _e2e(cfg_path, url, args.connections, args.workers, tmpdir / "out.txt")
            data.unlink()
            r = {"rows": rows, "days": f"{start}..{end}", "layout": layout, "e2e_s": e2e_s, "e2e_rows_s": rows / e2e_s,
                 "e2e_after_startup_s": inner_s, "e2e_after_startup_rows_s": rows / inner_s,
                 "e2e_peak_rss_mb": e2e_rss / 2**20, "ceiling_load_s": ceiling.total_seconds,
                 "ceiling_load_rows_s": rows / ceiling.total_seconds, "ceiling_copy_s": copy_s,
                 "ceiling_copy_rows_s": rows / copy_s, "gen_rows_s": rows / gen_s,
                 "gen_check_encode_rows_s": rows / gen_full_s}
            r["ratio_load"] = r["e2e_rows_s"] / r["ceiling_load_rows_s"]
            r["ratio_copy"] = r["e2e_rows_s"] / r["ceiling_copy_rows_s"]
            results.append(r)
            print(json.dumps(r), flush=True)
    _drop_events(url)
    machine = f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()})"
    command = f"`python benchmarks/bench_events.py --rows {args.rows} --layouts {args.layouts}`"
    lines = [f"| {dt.date.today()} | {machine} | {command} | {r['rows']:,} ({r['days']}) | {r['layout']} | "
             f"{r['e2e_rows_s']:,.0f} | {r['e2e_after_startup_rows_s']:,.0f} | {r['ceiling_load_rows_s']:,.0f} | "
             f"{r['ratio_load']:.2f}x | "
             f"{r['ceiling_copy_rows_s']:,.0f} | {r['ratio_copy']:.2f}x | {r['gen_rows_s']:,.0f} | "
             f"{r['gen_check_encode_rows_s']:,.0f} | {r['e2e_peak_rss_mb']:,.0f} MB |" for r in results]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "command": command, "results": results}, indent=2))
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
