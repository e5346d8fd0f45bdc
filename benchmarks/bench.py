"""`just bench`: the benchmark suite for event volumes, every figure beside ceilings and baselines from the same run.

For each volume N (default 1M and 10M; `--rows 100M` or `--rows 1M,10M,100M` for more; `--quick` for a
one-minute check) it loads the first days of 2024 onward holding N tap events, on the same PostgreSQL, in the
default tap-event layout (contract: the jsonb `metrics` column), and measures:

- ceiling (COPY): one binary COPY FROM STDIN of the same rows encoded beforehand, into a bare table, no keys;
- ceiling (server file): the server reading the same binary file itself (COPY FROM 'file'; needs a superuser
  on this machine, else skipped);
- datagen end to end: `generate-events --tables tap_events`, and `generate-events` for all four event tables;
- generation alone, no database: building every partition in memory, and writing them to Parquet;
- post-load validation: `validate --tables tap_events` (read back, every check, the manifest);
- baseline (legacy style): per-row Python generation with batched INSERTs of 1,000, on a small N;
- baseline (off the shelf): Polars write_database through ADBC, on up to 1M of the same rows;
- peak memory (RSS) of every stage, each run in its own process, and time per stage;
- beside it, the typed layout (events.tap_events.layout: typed): its end to end and its own COPY ceiling.

Results: a JSON file per run (benchmarks/runs/), a Markdown table in benchmarks/RESULTS.md and a chart,
benchmarks/bench.png. Ratios are to the ceilings measured in the same run; absolute times on these shared
machines drift. The quick mode reports and records nothing by default: it is for before/after a change.
Usage: python benchmarks/bench.py [--rows 1M,10M,100M | --quick] [--database-url URL] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from _common import (
    DATAGEN,
    Window,
    add_database_argument,
    checkpoint,
    copy_ceiling,
    default_raw,
    drop_schema,
    event_config,
    execute,
    machine,
    parse_rows,
    pre_encode,
    read_config,
    run,
    tap_plan,
    windows,
    write_config,
)
from _results import RESULTS, ROOT, add_to_section, commit
from psycopg import sql
from psycopg.types.json import Jsonb

from datagen import events
from datagen.config import parse_config
from datagen.db import resolve
from datagen.generate import generate
from datagen.tables import EVENT_TABLES, TABLES

RUNS = ROOT / "benchmarks" / "runs"
CHART = ROOT / "benchmarks" / "bench.png"
SCHEMA = "bench_suite"
LEGACY_ROWS, ADBC_ROWS = 50_000, 1_000_000


# -- stages that run in a child process (their own peak RSS) ---------------------------------------------
def _stage_gen(cfg_path: Path, parquet: Path) -> dict[str, float]:
    streams, plan = tap_plan(read_config(cfg_path))
    t0 = time.perf_counter()
    for part in events.iter_parts(plan):
        streams.build(part)
    build_s = time.perf_counter() - t0
    parquet.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for part in events.iter_parts(plan):
        streams.build_conformed(part).write_parquet(parquet / f"{part.day}_{part.block}.parquet")
    return {"build_s": build_s, "parquet_s": time.perf_counter() - t0}


def _stage_encode(cfg_path: Path, out: Path) -> dict[str, float]:
    """Every partition built, checked and encoded into one binary COPY file (header, rows, trailer)."""
    streams, plan = tap_plan(read_config(cfg_path))
    t0 = time.perf_counter()
    pre_encode(streams, plan, out)
    encode_s = time.perf_counter() - t0
    out.chmod(0o644)  # the server reads it for the file ceiling
    return {"encode_s": encode_s}


def _stage_adbc(cfg_path: Path, url: str, limit: int) -> dict[str, float]:
    streams, plan = tap_plan(read_config(cfg_path))
    frames: list[pl.DataFrame] = []
    rows = 0
    for part in events.iter_parts(plan):
        if rows >= limit:
            break
        frames.append(streams.build_conformed(part))
        rows += frames[-1].height
    frame = pl.concat(frames).head(limit)
    t0 = time.perf_counter()
    frame.write_database(f"{SCHEMA}.adbc_baseline", url, engine="adbc", if_table_exists="replace")
    return {"rows": float(frame.height), "write_s": time.perf_counter() - t0}


def _stage_legacy(url: str, n: int) -> dict[str, float]:
    """The legacy scripts' way: a Python dict per row from `random`, INSERTs in batches of 1,000."""
    rng = random.Random(42)
    t0 = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE TABLE {}.legacy (id integer, device_id integer, location_id integer, "
                            "\"timestamp\" timestamp, event_type varchar(50), status varchar(50), metrics jsonb, "
                            "device_category varchar(50), created_at timestamp)").format(sql.Identifier(SCHEMA)))
        batch: list[tuple[Any, ...]] = []
        start = dt.datetime(2024, 1, 1)
        for i in range(1, n + 1):
            row = {"id": i, "device_id": rng.randint(1, 25_000), "location_id": rng.randint(1, 800),
                   "timestamp": start + dt.timedelta(seconds=rng.randint(0, 86_399)),
                   "event_type": rng.choice(["pour", "temperature", "pressure", "cleaning"]),
                   "status": rng.choice(["success", "warning", "error"]),
                   "metrics": Jsonb({"volume_ml": rng.randint(20, 500), "temperature_c": round(rng.uniform(2, 6), 1),
                                     "flow_rate_ml_per_sec": round(rng.uniform(10, 50), 1),
                                     "duration_seconds": round(rng.uniform(1, 30), 2)}),
                   "device_category": "dispensing", "created_at": start}  # the legacy row, jsonb metrics
            batch.append(tuple(row.values()))
            if len(batch) == 1000 or i == n:
                cur.executemany(sql.SQL("INSERT INTO {}.legacy VALUES ({})").format(
                    sql.Identifier(SCHEMA), sql.SQL(", ").join([sql.Placeholder()] * 9)), batch)
                conn.commit()
                batch = []
        cur.execute(sql.SQL("DROP TABLE {}.legacy").format(sql.Identifier(SCHEMA)))
    return {"write_s": time.perf_counter() - t0}


# -- the parent ------------------------------------------------------------------------------------------
def _stage(name: str, env: dict[str, str], *extra: str) -> tuple[float, float, dict[str, float]]:
    """Run one of the stages above in a child process: wall seconds, peak RSS (MiB), what the stage returned."""
    ran = run([sys.executable, str(Path(__file__)), "--stage", name, *extra], env)
    return ran.seconds, ran.peak_rss_mb, json.loads(next(line for line in ran.stdout.splitlines()
                                                         if line.startswith("{")))


def _file_ceiling(url: str, data: Path) -> float | None:
    """Seconds of the server reading the pre-encoded file itself (COPY FROM 'file') into a bare table; None
    where it may not (it needs a superuser, or the pg_read_server_files role)."""
    s, tap = sql.Identifier(SCHEMA), sql.Identifier(TABLES["tap_events"].name)
    execute(url, sql.SQL("CREATE TABLE {}.ceiling (LIKE {}.{})").format(s, s, tap))
    try:
        return execute(url, sql.SQL("COPY {}.ceiling FROM {} (FORMAT BINARY)").format(s, sql.Literal(str(data))))
    except psycopg.Error as exc:
        print(f"server file ceiling skipped: {str(exc).splitlines()[0]}", file=sys.stderr)
        return None
    finally:
        execute(url, sql.SQL("DROP TABLE {}.ceiling").format(s))


def measure(w: Window, raw: dict[str, Any], url: str, tmp: Path, env: dict[str, str], legacy_rows: int,
            adbc_rows: int) -> dict[str, Any]:
    cfg_raw = event_config(raw, w.start, w.end)
    cfg_path = write_config(tmp / f"bench_{w.target}.yaml", cfg_raw)
    common = ["--config", str(cfg_path), "--schema", SCHEMA]
    rows = w.rows
    drop_schema(url, SCHEMA)
    run([*DATAGEN, "generate", *common, "--yes", "--no-progress"], env)
    r: dict[str, Any] = {"rows": rows, "days": f"{w.start}..{w.end}"}

    _, r["gen_rss_mb"], g = _stage("gen", env, "--config", str(cfg_path), "--parquet", str(tmp / "parquet"))
    r["gen_rows_s"], r["parquet_rows_s"] = rows / g["build_s"], rows / g["parquet_s"]
    shutil.rmtree(tmp / "parquet")

    checkpoint(url)  # every load starts from the same WAL state
    e2e = run([*DATAGEN, "generate-events", *common, "--tables", "tap_events", "--yes", "--no-progress"], env)
    r["e2e_rss_mb"], r["e2e_rows_s"] = e2e.peak_rss_mb, rows / e2e.seconds
    val = run([*DATAGEN, "validate", *common, "--tables", "tap_events", "--json", "--no-progress"], env)
    rep = json.loads(val.stdout[:val.stdout.rindex("}") + 1])
    r["validate_rss_mb"] = val.peak_rss_mb
    r["validate_rows_s"], r["validate_phase_rows_s"] = rows / val.seconds, rep["event_rows_read"] / rep["event_seconds"]
    # the ceilings need the table layout, which the first generate-events created
    data = Path(tempfile.gettempdir()) / f"bench_suite_{os.getpid()}.bin"  # readable by the server
    try:
        _, r["encode_rss_mb"], e = _stage("encode", env, "--config", str(cfg_path), "--out", str(data))
        r["gen_check_encode_rows_s"] = rows / e["encode_s"]
        checkpoint(url)
        copy_s, file_s = copy_ceiling(url, SCHEMA, data), _file_ceiling(url, data)
    finally:
        data.unlink(missing_ok=True)
    r["ceiling_copy_rows_s"] = rows / copy_s
    r["ceiling_file_rows_s"] = rows / file_s if file_s else None

    cfg = parse_config(cfg_raw)
    all_rows = sum(events.Streams(cfg, generate(cfg)).plan(tuple(t.key for t in EVENT_TABLES)).window_rows.values())
    checkpoint(url)
    e2e_all = run([*DATAGEN, "generate-events", *common, "--yes", "--no-progress"], env)
    r["e2e_all_rss_mb"] = e2e_all.peak_rss_mb
    r["e2e_all_rows"], r["e2e_all_rows_s"] = all_rows, all_rows / e2e_all.seconds

    _, r["adbc_rss_mb"], a = _stage("adbc", env, "--config", str(cfg_path), "--url", url, "--limit",
                                    str(min(rows, adbc_rows)))
    r["adbc_rows"], r["adbc_rows_s"] = int(a["rows"]), a["rows"] / a["write_s"]
    n_legacy = min(rows, legacy_rows)
    _, _, lg = _stage("legacy", env, "--url", url, "--limit", str(n_legacy))
    r["legacy_rows"], r["legacy_rows_s"] = n_legacy, n_legacy / lg["write_s"]

    # the typed layout beside it: end to end and its own COPY ceiling (the table is recreated in that layout)
    typed_raw = event_config(raw, w.start, w.end)
    typed_raw["events"]["tap_events"]["layout"] = "typed"
    typed_path = write_config(tmp / f"bench_{w.target}_typed.yaml", typed_raw)
    typed = ["--config", str(typed_path), "--schema", SCHEMA]
    execute(url, sql.SQL("DROP TABLE {}.{} CASCADE").format(sql.Identifier(SCHEMA),
                                                            sql.Identifier(TABLES["tap_events"].name)))
    checkpoint(url)
    typed_e2e = run([*DATAGEN, "generate-events", *typed, "--tables", "tap_events", "--yes", "--no-progress"], env)
    r["typed_e2e_rss_mb"], r["typed_e2e_rows_s"] = typed_e2e.peak_rss_mb, rows / typed_e2e.seconds
    try:
        _stage("encode", env, "--config", str(typed_path), "--out", str(data))
        checkpoint(url)
        copy_s = copy_ceiling(url, SCHEMA, data)
    finally:
        data.unlink(missing_ok=True)
    r["typed_ceiling_copy_rows_s"] = rows / copy_s
    r["typed_ratio_copy"] = r["typed_e2e_rows_s"] / r["typed_ceiling_copy_rows_s"]

    r["ratio_copy"] = r["e2e_rows_s"] / r["ceiling_copy_rows_s"]
    r["ratio_file"] = r["e2e_rows_s"] / r["ceiling_file_rows_s"] if r["ceiling_file_rows_s"] else None
    r["speedup_legacy"] = r["e2e_rows_s"] / r["legacy_rows_s"]
    r["speedup_adbc"] = r["e2e_rows_s"] / r["adbc_rows_s"]
    return r


def chart(results: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    xs = [r["rows"] for r in results]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    series = [("e2e_rows_s", "datagen e2e (tap events)"), ("e2e_all_rows_s", "datagen e2e (4 event tables)"),
              ("ceiling_copy_rows_s", "ceiling: binary COPY"), ("ceiling_file_rows_s", "ceiling: server file COPY"),
              ("validate_phase_rows_s", "validate (read + checks)"), ("gen_rows_s", "generation alone"),
              ("adbc_rows_s", "baseline: Polars + ADBC"), ("legacy_rows_s", "baseline: legacy row-by-row")]
    for key, label in series:
        ys = [r.get(key) for r in results]
        if all(y is not None for y in ys):
            a.plot(xs, ys, marker="o", label=label)
    a.set(xscale="log", yscale="log", xlabel="tap-event rows", ylabel="rows/s", title="Throughput")
    a.legend(fontsize=7)
    for key, label in (("e2e_rss_mb", "e2e (tap events)"), ("e2e_all_rss_mb", "e2e (4 tables)"),
                       ("validate_rss_mb", "validate"), ("gen_rss_mb", "generation + Parquet")):
        b.plot(xs, [r[key] for r in results], marker="o", label=label)
    b.set(xscale="log", xlabel="tap-event rows", ylabel="peak RSS (MB)", title="Peak memory")
    b.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def record(results: list[dict[str, Any]], command: str, host: str, versions: str) -> None:
    def f(v: float | None, spec: str = ",.0f") -> str:
        return "n/a" if v is None else format(v, spec)
    lines = [f"| {r['rows']:,} | {f(r['e2e_rows_s'])} | {f(r['ceiling_copy_rows_s'])} | {f(r['ratio_copy'], '.2f')}x "
             f"| {f(r['ceiling_file_rows_s'])} | {f(r['ratio_file'], '.2f')}x | {f(r['e2e_all_rows_s'])} "
             f"| {f(r['validate_phase_rows_s'])} | {f(r['gen_rows_s'])} | {f(r['parquet_rows_s'])} "
             f"| {f(r['adbc_rows_s'])} ({r['adbc_rows']:,}) | {f(r['legacy_rows_s'])} ({r['legacy_rows']:,}) "
             f"| {f(r['speedup_adbc'], '.1f')}x / {f(r['speedup_legacy'], '.0f')}x "
             f"| {f(r['e2e_rss_mb'])} / {f(r['e2e_all_rss_mb'])} / {f(r['validate_rss_mb'])} / "
             f"{f(r['gen_rss_mb'])} MB | {f(r['typed_e2e_rows_s'])} | {f(r['typed_ceiling_copy_rows_s'])} "
             f"| {f(r['typed_ratio_copy'], '.2f')}x |"
             for r in results]
    block = (f"\nRun {dt.date.today()}, commit {commit()}, {host}, {versions}: {command}\n\n"
             "| rows | e2e rows/s | COPY ceiling | e2e / COPY | server-file ceiling | e2e / file | 4 tables e2e "
             "| validate (read + checks) | generation | Parquet | ADBC baseline (rows) | legacy baseline (rows) "
             "| speedup vs ADBC / legacy | peak RSS e2e / 4 tables / validate / gen "
             "| typed layout e2e | typed COPY ceiling | typed e2e / COPY |\n"
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n")
    add_to_section("## Benchmark suite (`just bench`)",
                   "Each run: the machine, versions and command; tap-event rows/s for datagen end to end against the "
                   "two ceilings measured in the same run (the default contract layout since 2026-12-02; the typed "
                   "layout beside it, against its own COPY ceiling), the four event tables together, validate, "
                   "generation alone (memory, Parquet), and the two baselines (legacy row-by-row INSERTs of 1,000 on "
                   "up to 50k rows; Polars write_database through ADBC on up to 1M rows); peak RSS per stage. Chart: "
                   "benchmarks/bench.png.\n", block)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="1M,10M", help="tap-event volumes, e.g. 1M,10M,100M (default 1M,10M)")
    ap.add_argument("--quick", action="store_true", help="one small volume (about a minute); records nothing")
    add_database_argument(ap)
    ap.add_argument("--no-record", action="store_true", help="print only: no RESULTS.md, JSON or chart")
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--parquet", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:
        out = {"gen": lambda: _stage_gen(args.config, args.parquet),
               "encode": lambda: _stage_encode(args.config, args.out),
               "adbc": lambda: _stage_adbc(args.config, args.url, args.limit),
               "legacy": lambda: _stage_legacy(args.url, args.limit)}[args.stage]()
        print(json.dumps(out))
        return 0
    target = resolve(args.database_url)
    url = target.conninfo
    raw = default_raw()
    sizes = [300_000] if args.quick else [parse_rows(x) for x in args.rows.split(",")]
    legacy_rows, adbc_rows = (5_000, 100_000) if args.quick else (LEGACY_ROWS, ADBC_ROWS)
    record_it = not (args.no_record or args.quick)
    host = machine()
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    server = str(row[0])
    versions = (f"PostgreSQL {server.split()[0]}, polars {version('polars')}, numpy {version('numpy')}, "
                f"psycopg {version('psycopg')}, adbc {version('adbc-driver-postgresql')}")
    command = "`just bench" + (" --quick" if args.quick else f" --rows {args.rows}") + "`"
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_suite_") as tmp:
        env = {**os.environ, "DATABASE_URL": url, "DATAGEN_HOME": tmp}
        for w in windows(raw, sizes):
            print(f"measuring {w.rows:,} tap events ({w.start}..{w.end}) ...", file=sys.stderr, flush=True)
            results.append(measure(w, raw, url, Path(tmp), env, legacy_rows, adbc_rows))
            r = results[-1]
            print(f"{r['rows']:>12,} rows: e2e {r['e2e_rows_s']:,.0f} rows/s = {r['ratio_copy']:.2f}x the COPY ceiling "
                  f"({r['ceiling_copy_rows_s']:,.0f}); 4 tables {r['e2e_all_rows_s']:,.0f}; validate "
                  f"{r['validate_phase_rows_s']:,.0f}; generation {r['gen_rows_s']:,.0f}; "
                  f"{r['speedup_adbc']:.1f}x ADBC, {r['speedup_legacy']:.0f}x legacy; peak {r['e2e_rss_mb']:,.0f} MB; "
                  f"typed layout {r['typed_e2e_rows_s']:,.0f} rows/s = {r['typed_ratio_copy']:.2f}x its COPY ceiling "
                  f"({r['typed_ceiling_copy_rows_s']:,.0f})",
                  flush=True)
        drop_schema(url, SCHEMA)
    if record_it:
        RUNS.mkdir(exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        (RUNS / f"{stamp}.json").write_text(json.dumps({"machine": host, "versions": versions,
                                                        "command": command, "results": results}, indent=2) + "\n")
        record(results, command, host, versions)
        chart(results, CHART, f"{command.strip('`')} on {host}, {dt.date.today()}")
        print(f"recorded: {RUNS / (stamp + '.json')}, {RESULTS}, {CHART}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
