"""Benchmark: tap events to Parquet with --executor local and dask-local (2 workers), against tpchgen-cli's
lineitem table to Parquet in the same run (the peer: a Rust TPC-H generator, PyPI tpchgen-cli, on every core);
the PostgreSQL sink with dask-local against local; optionally a billion tap events to Parquet in one run.

For each volume (`--rows`, default 100M) it picks the first days of 2024 onward that hold that many tap events at
the shipped rates, writes a config whose events.range is exactly those days (id_ranges.tap_events: [1,
2147483647]), writes the core tables once, and times `python -m datagen generate-events --tables tap_events
--sink parquet` as a user runs it (wall time and peak RSS of the process tree). tpchgen-cli writes about as many
lineitem rows (scale factor rows / 6,001,215) with zstd. Rates are rows/s and uncompressed MB/s: the Arrow bytes
of what each wrote (a lineitem row is wider than a tap event), read back file by file after the timing.

The 100M comparison runs --repeat rounds (default 3) of datagen local, dask-local and tpchgen-cli in turn and
compares medians: this machine's speed drifts by a fifth from one minute to the next.

Usage: python benchmarks/bench_parquet.py [--rows 100M] [--repeat 3] [--pg-rows 10M] [--billion]
       [--database-url URL] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from _common import (
    DATAGEN,
    Ran,
    Window,
    add_database_argument,
    default_raw,
    drop_schema,
    event_config,
    machine,
    parse_rows,
    read_config,
    run,
    tap_plan,
    windows,
    write_config,
)
from _results import add_to_section, commit

from datagen.config import MAX_ID
from datagen.config.scale import scale_config

LINEITEM_PER_SF = 6_001_215  # lineitem rows at scale factor 1
SCHEMA = "bench_parquet"
HEADER = "## Parquet sink and executors against tpchgen-cli"
INTRO = ("datagen: `generate-events --tables tap_events --sink parquet` (zstd) in a fresh process, after the core "
         "tables were written; tpchgen-cli: `tpchgen-cli parquet --tables lineitem --compression 'ZSTD(1)'` on "
         "every core, about as many rows. MB/s: uncompressed Arrow bytes of the rows written. Peak RSS: the largest "
         "process of the run (the coordinator or a worker). Targets: datagen's rows/s at least 2x tpchgen-cli's and "
         "its MB/s at least 1x; peak RSS at 1B at most 1.1x that at 100M and at most 1 GB per process.\n")


def arrow_bytes(root: Path) -> int:
    """The Arrow size of every Parquet file under root, read one row group at a time (tpchgen-cli writes one
    file of many row groups: read whole, 100M lineitem rows take 24 GB)."""
    total = 0
    for f in sorted(root.rglob("*.parquet")):
        pf = pq.ParquetFile(f)
        total += sum(pf.read_row_group(i).nbytes for i in range(pf.num_row_groups))
    return total


def parquet_rows(root: Path) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in sorted(root.rglob("*.parquet")))


def datagen(config: Path, out: Path, *extra: str) -> Ran:
    env = {**os.environ}
    return run([*DATAGEN, "generate-events", "--config", str(config), "--tables", "tap_events", "--sink", "parquet",
                "--out", str(out), "--yes", "--no-progress", *extra], env)


def tpchgen(rows: int, out: Path) -> Ran:
    sf = f"{rows / LINEITEM_PER_SF:.4f}"
    tool = str(Path(sys.executable).parent / "tpchgen-cli")
    return run([tool, "parquet", "-s", sf, "--tables", "lineitem", "--compression", "ZSTD(1)", "--output-dir",
                str(out), "--quiet"], {**os.environ})


def median(runs: list[Ran]) -> Ran:
    """The run of median wall time (the lower middle of an even count)."""
    return sorted(runs, key=lambda r: r.seconds)[(len(runs) - 1) // 2]


def walls(runs: list[Ran]) -> str:
    return ", ".join(f"{r.seconds:.1f}" for r in runs) + " s" if len(runs) > 1 else ""


def row(when: str, what: str, rows: int, ran: Ran, mb: float | None, note: str) -> str:
    rate = "" if mb is None else f"{mb / ran.seconds:,.1f}"
    print(f"{what}: {rows:,} rows in {ran.seconds:.1f} s, {rate} MB/s, peak RSS {ran.peak_rss_mb:,.0f} MB", flush=True)
    return (f"| {when} | {machine()} | {what} | {rows:,} | {ran.seconds:.1f} s | {rows / ran.seconds:,.0f} | "
            f"{rate} | {ran.peak_rss_mb:,.0f} MB | {note} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="100M", help="tap events per Parquet run (default 100M; 0: skip)")
    ap.add_argument("--pg-rows", default="10M", help="tap events for the PostgreSQL sink comparison (0: skip)")
    ap.add_argument("--billion", action="store_true", help="also write 1B tap events to Parquet (about 18 GB, "
                                                           "deleted afterwards)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the 100M comparison, medians compared "
                                                          "(default 3)")
    ap.add_argument("--no-record", action="store_true", help="print, do not add to RESULTS.md")
    add_database_argument(ap)
    args = ap.parse_args()
    raw = default_raw()
    today = str(dt.date.today())
    lines: list[str] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-parquet-", dir=os.environ.get("BENCH_TMP")) as tmp_name:
        tmp = Path(tmp_name)
        target = parse_rows(args.rows)
        rss_100m = rss_local_median = 0.0
        if target:
            w = windows(raw, [target])[0]
            config = write_config(tmp / "events.yaml", event_config(raw, w.start, w.end))
            lake = tmp / "lake"
            run([*DATAGEN, "generate", "--config", str(config), "--sink", "parquet", "--out", str(lake), "--yes",
                 "--no-progress"], {**os.environ})
            # --repeat rounds, each datagen local, dask-local, then tpchgen-cli: the machine's speed drifts by a
            # fifth between minutes, so each tool is timed in every round and compared by its median
            locals_, dasks, tpchs = [], [], []
            tpch_out = tmp / "tpch"
            for _ in range(args.repeat):
                locals_.append(datagen(config, lake))
                dasks.append(datagen(config, lake, "--executor", "dask-local", "--dask-workers", "2"))
                tpchs.append(tpchgen(target, tpch_out))
                if len(tpchs) < args.repeat:
                    shutil.rmtree(tpch_out)
            local, dask, tpch = median(locals_), median(dasks), median(tpchs)
            mb = arrow_bytes(lake / "tap_events") / 1e6
            rows = parquet_rows(lake / "tap_events")
            spread = f"; {args.repeat} runs: " if args.repeat > 1 else ""
            lines.append(row(today, f"datagen, --executor local ({w.start}..{w.end})", rows, local, mb,
                             f"{mb * 1e6 / rows:.1f} Arrow bytes a row{spread}{walls(locals_)}"))
            lines.append(row(today, "datagen, --executor dask-local --dask-workers 2", rows, dask, mb,
                             f"{dask.seconds / local.seconds:.2f}x local's time{spread}{walls(dasks)}"))
            shutil.rmtree(lake)
            tpch_rows = parquet_rows(tpch_out)
            tpch_mb = arrow_bytes(tpch_out) / 1e6
            sf = target / LINEITEM_PER_SF
            lines.append(row(today, f"tpchgen-cli lineitem, -s {sf:.2f}", tpch_rows, tpch, tpch_mb,
                             f"{tpch_mb * 1e6 / tpch_rows:.1f} Arrow bytes a row{spread}{walls(tpchs)}"))
            shutil.rmtree(tpch_out)
            best = max(rows / local.seconds, rows / dask.seconds)
            tpch_rate = tpch_rows / tpch.seconds
            mb_ratio = max(mb / local.seconds, mb / dask.seconds) / (tpch_mb / tpch.seconds)
            notes.append(f"medians: rows/s {best / tpch_rate:.2f}x tpchgen-cli's (target 2x: "
                         f"{'met' if best >= 2 * tpch_rate else 'MISSED'}); uncompressed MB/s {mb_ratio:.2f}x "
                         f"(target 1x: {'met' if mb_ratio >= 1 else 'MISSED'})")
            if args.repeat > 1:
                each = [min(lo.seconds, da.seconds) for lo, da in zip(locals_, dasks, strict=True)]
                notes.append("round by round, datagen's best against tpchgen-cli's time: rows/s "
                             + ", ".join(f"{(rows / d) / (tpch_rows / t.seconds):.2f}x" for d, t in zip(each, tpchs,
                                                                                                      strict=True))
                             + "; MB/s " + ", ".join(f"{(mb / d) / (tpch_mb / t.seconds):.2f}x"
                                                     for d, t in zip(each, tpchs, strict=True)))
            local = max(locals_, key=lambda r: r.peak_rss_mb)
            dask = max(dasks, key=lambda r: r.peak_rss_mb)
            notes.append(f"peak RSS at {args.rows}, the highest of its runs: local {local.peak_rss_mb:,.0f} MB ("
                         + ", ".join(f"{r.peak_rss_mb:,.0f}" for r in locals_) + "), dask-local "
                         f"{dask.peak_rss_mb:,.0f} MB (" + ", ".join(f"{r.peak_rss_mb:,.0f}" for r in dasks) + ")")
            rss_100m = max(local.peak_rss_mb, dask.peak_rss_mb)
            rss_local_median = sorted(r.peak_rss_mb for r in locals_)[(len(locals_) - 1) // 2]

        if args.billion:
            # the config's whole time range (2020-01-01..2025-06-25) holds 0.63B tap events at the shipped rates:
            # the smallest --scale (in hundredths) that makes it a billion. The volume grows faster than the scale
            # (a scaled dataset is drawn anew, with more of the busiest venues), hence the square root's step.
            b = Window(10**9, str(raw["time_range"]["start_date"]), str(raw["time_range"]["end_date"]), 0)
            big = write_config(tmp / "billion.yaml", event_config(raw, b.start, b.end))
            scale = 1.0
            while (n := tap_plan(scale_config(read_config(big), scale))[1].range_rows["tap_events"]) < 10**9:
                scale = round(scale * max(1.01, (10**9 / n) ** 0.5), 2)
            lake = tmp / "billion"
            scaled = ["--scale", f"{scale:g}"]
            run([*DATAGEN, "generate", "--config", str(big), "--sink", "parquet", "--out", str(lake), "--yes",
                 "--no-progress", *scaled], {**os.environ})
            ran = datagen(big, lake, *scaled)
            on_disk = sum(f.stat().st_size for f in lake.rglob("*.parquet"))
            bn = parquet_rows(lake / "tap_events")
            shutil.rmtree(lake)
            what = (f"datagen, a billion, --executor local, --scale {scale:g} ({b.start}..{b.end}, "
                    f"id_ranges.tap_events [1, {MAX_ID}])")
            lines.append(row(today, what, bn, ran, None,
                             f"{on_disk / 1e9:.1f} GB on disk ({on_disk / bn:.1f} bytes a row), deleted"))
            if rss_100m:
                notes.append(f"peak RSS at 1B {ran.peak_rss_mb:,.0f} MB = {ran.peak_rss_mb / rss_100m:.2f}x the "
                             f"highest at {args.rows} (target 1.1x: "
                             f"{'met' if ran.peak_rss_mb <= 1.1 * rss_100m else 'MISSED'}), "
                             f"{ran.peak_rss_mb / rss_local_median:.2f}x its median local run's")
            notes.append(f"peak RSS at 1B: {ran.peak_rss_mb:,.0f} MB (1 GB target: "
                         f"{'met' if ran.peak_rss_mb <= 1024 else 'MISSED'})")

        pg_target = parse_rows(args.pg_rows)
        if pg_target:
            p = windows(raw, [pg_target])[0]
            pg_config = write_config(tmp / "pg.yaml", event_config(raw, p.start, p.end))
            env = {**os.environ, **({"DATABASE_URL": args.database_url} if args.database_url else {})}
            base = [*DATAGEN]
            common = ["--config", str(pg_config), "--schema", SCHEMA, "--yes", "--no-progress"]
            run([*base, "generate", *common], env)
            pg_local = run([*base, "generate-events", "--tables", "tap_events", *common], env)
            pg_dask = run([*base, "generate-events", "--tables", "tap_events", *common, "--executor", "dask-local",
                           "--dask-workers", "2"], env)
            if args.database_url:
                drop_schema(args.database_url, SCHEMA)
            n = p.rows
            lines.append(row(today, "PostgreSQL sink, --executor local", n, pg_local, None, ""))
            lines.append(row(today, "PostgreSQL sink, --executor dask-local --dask-workers 2", n, pg_dask,
                             None, f"{pg_local.seconds / pg_dask.seconds:.2f}x local's rows/s"))

    table = ("| date | machine | run | rows | wall | rows/s | uncompressed MB/s | peak RSS | note |\n"
             "|---|---|---|---|---|---|---|---|---|\n")
    command = (f"python benchmarks/bench_parquet.py --rows {args.rows} --repeat {args.repeat}"
               + (" --billion" if args.billion else "") + f" --pg-rows {args.pg_rows}")
    block = (f"\nRun {today}, commit {commit()}, `{command}`:\n\n" + table
             + "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    print(block)
    if not args.no_record:
        add_to_section(HEADER, INTRO, block)


if __name__ == "__main__":
    main()
