"""Benchmark: the embedded server's bulk-load settings against PostgreSQL's defaults, in one run.

For each settings variant it (re)starts the embedded server with exactly those `-c` settings and runs, as a
user does (a fresh process each, `--yes`), the default `just generate` and then the default
`just generate-events`, timing each end to end and counting the WAL each wrote (pg_current_wal_lsn before
and after) and the CPU seconds the client and the server spent (the command's rusage; the postmaster's
own, its reaped backends' and its live children's, from /proc), and the database side alone (one day of
tap events COPYed by the server from a file into a new table, with its primary key). Variants are
interleaved round by round (defaults, then each setting, then all) so that a slow hour of the machine hits
them alike; the figure per variant is the median of --runs rounds, after one untimed warm-up round. Ratios
are to the defaults measured in the same run.
Usage: python benchmarks/experiments/bench_embedded.py [--runs 3] [--variants defaults,wal_level=minimal]
       [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg
from psycopg import sql

from datagen import embedded
from datagen.tables import CORE_TABLES, EVENT_TABLES, SCHEMA, TAP_EVENTS, Table

# Run as a script from benchmarks/experiments/: the shared _common and _results are one folder up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import DATAGEN, machine, run
from _results import ROOT, add_to_section, commit

HOME = ROOT / "benchmarks" / "out" / "embedded-home"
DAY = "20250623"  # the first day of the shipped events.range
TARGET = 1.15  # the target: tuned generate-events at least 1.15x the defaults
KEEP = 1.05  # a setting is kept only where it measures at least this (median of 3) on generate-events

VARIANTS: dict[str, Mapping[str, str]] = {
    "defaults": {},
    "wal_level=minimal": embedded.MINIMAL_WAL,
    "max_wal_size=8GB": {"max_wal_size": "8GB"},
    "maintenance_work_mem=512MB": {"maintenance_work_mem": "512MB"},
    "all three": {"wal_level": "minimal", "max_wal_senders": "0", "max_wal_size": "8GB",
                  "maintenance_work_mem": "512MB"},
}
if embedded.BULK_LOAD_SETTINGS:  # what datagen ships, when it ships anything but the defaults
    VARIANTS["shipped"] = embedded.BULK_LOAD_SETTINGS


def _wal_lsn(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0])


_TICK = os.sysconf("SC_CLK_TCK")


def _server_cpu(pid: int) -> float:
    """CPU seconds of the postmaster, its reaped children (the backends of closed connections) and its live
    children (backends, checkpointer, walwriter, ...), from /proc."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process exited meanwhile
        own, parent = int(stat.parent.name), int(fields[1])
        if own == pid:
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        elif parent == pid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def _run(command: str, url: str, postmaster: int) -> tuple[float, int, float, float]:
    """Wall seconds, WAL bytes, client and server CPU seconds of `python -m datagen COMMAND --yes`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"DATABASE_URL": url}
    before = _wal_lsn(url)
    server0 = _server_cpu(postmaster)
    ran = run([*DATAGEN, command, "--yes", "--no-progress"], env)
    return ran.seconds, _wal_lsn(url) - before, ran.cpu_seconds, _server_cpu(postmaster) - server0


def _database_alone(url: str) -> float:
    """Seconds for the database side of one loaded day with no client work: in one transaction, CREATE TABLE,
    COPY FREEZE of the first tap-event day from a binary file the server reads itself, and the primary key
    (the path a staging day takes)."""
    source = HOME / "pg" / "bench-tap-events.bin"  # in the server's own folder: it writes and reads it itself
    day = sql.Identifier(SCHEMA, f"{TAP_EVENTS.name}_p{DAY}")
    with psycopg.connect(url, autocommit=True) as conn:
        if not source.exists():
            conn.execute(sql.SQL("COPY {} TO {} (FORMAT BINARY)").format(day, sql.Literal(str(source))))
        conn.execute("DROP TABLE IF EXISTS public.bench_day")
        conn.execute("CHECKPOINT")  # each variant starts from the same clean state
        t0 = time.perf_counter()
        with conn.transaction():
            conn.execute(sql.SQL("CREATE TABLE public.bench_day (LIKE {})").format(day))
            conn.execute(sql.SQL("COPY public.bench_day FROM {} (FORMAT BINARY, FREEZE)").format(
                sql.Literal(str(source))))
            conn.execute(sql.SQL("ALTER TABLE public.bench_day ADD PRIMARY KEY ({})").format(
                sql.Identifier(TAP_EVENTS.primary_key)))
        seconds = time.perf_counter() - t0
        conn.execute("DROP TABLE public.bench_day")
    return seconds


def _rows(url: str) -> tuple[int, int]:
    """Rows of the core tables and of the event tables in schema raw."""
    def count(tables: tuple[Table, ...]) -> int:
        total = 0
        with psycopg.connect(url) as conn:
            for t in tables:
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(SCHEMA), sql.Identifier(t.name))).fetchone()
                total += int(row[0]) if row else 0
        return total
    return count(CORE_TABLES), count(EVENT_TABLES)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names: " + ", ".join(VARIANTS))
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = ap.parse_args()
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or "defaults" not in names:
        ap.error(f"unknown variants {unknown}" if unknown else "the variants must include defaults (the baseline)")

    commands = ("generate", "generate-events")
    times: dict[str, dict[str, list[float]]] = {n: {c: [] for c in commands} for n in names}
    wal: dict[str, dict[str, list[int]]] = {n: {c: [] for c in commands} for n in names}
    cpu: dict[str, list[tuple[float, float]]] = {n: [] for n in names}  # generate-events: client, server
    db_alone: dict[str, list[float]] = {n: [] for n in names}
    url = ""
    for round_no in range(args.runs + 1):  # round 0 is the warm-up
        for name in names:
            url = embedded.ensure_server(HOME, settings=VARIANTS[name])
            postmaster = int((HOME / "pg" / "data" / "postmaster.pid").read_text().split()[0])
            for command in commands:
                seconds, wal_bytes, client, server = _run(command, url, postmaster)
                if round_no:
                    times[name][command].append(seconds)
                    wal[name][command].append(wal_bytes)
                    if command == "generate-events":
                        cpu[name].append((client, server))
            alone = _database_alone(url)
            if round_no:
                db_alone[name].append(alone)
            print(f"round {round_no}{' (warm-up)' if not round_no else ''} {name}: "
                  + ", ".join(f"{c} {times[name][c][-1]:.2f} s" for c in times[name] if round_no), flush=True)
    core_rows, event_rows = _rows(url)
    embedded.stop_server(HOME)

    base = {c: statistics.median(times["defaults"][c]) for c in commands}
    busy = {n: [(c + v) / w for (c, v), w in zip(cpu[n], times[n]["generate-events"], strict=True)] for n in names}
    lines = []
    for name in names:
        med = {c: statistics.median(times[name][c]) for c in times[name]}
        mib = {c: statistics.median(wal[name][c]) / 2**20 for c in wal[name]}
        settings = ", ".join(f"{k}={v}" for k, v in VARIANTS[name].items()) or "(PostgreSQL's defaults)"
        lines.append(
            f"| {name} | {settings} | {med['generate']:.2f} s | {core_rows / med['generate']:,.0f} | "
            f"{base['generate'] / med['generate']:.2f}x | {mib['generate']:,.0f} | {med['generate-events']:.2f} s | "
            f"{event_rows / med['generate-events']:,.0f} | {base['generate-events'] / med['generate-events']:.2f}x | "
            f"{mib['generate-events']:,.0f} | {statistics.median(c for c, _ in cpu[name]):.1f} s | "
            f"{statistics.median(v for _, v in cpu[name]):.1f} s | "
            f"{statistics.median(busy[name]):.2f} | {statistics.median(db_alone[name]):.2f} s | "
            f"{statistics.median(db_alone['defaults']) / statistics.median(db_alone[name]):.2f}x |")
    ratios = {n: base["generate-events"] / statistics.median(times[n]["generate-events"]) for n in names}
    verdicts = "; ".join(f"{n} {r:.2f}x ({'keep' if r >= KEEP else 'below'} the {KEEP}x bar)"
                         for n, r in ratios.items() if n != "defaults")
    header = (f"{dt.date.today()}, {machine(python=False)}, commit {commit()}, "
              f"`python benchmarks/experiments/bench_embedded.py --runs {args.runs}`: default config, "
              f"{core_rows:,} core rows, {event_rows:,} event rows; median of {args.runs} interleaved rounds after a "
              f"warm-up; generate-events against the defaults: {verdicts}; the issue's target for the tuned server "
              f"is {TARGET}x")
    table = ("| variant | settings | generate | rows/s | vs defaults | WAL MiB | generate-events | rows/s "
             "| vs defaults | WAL MiB | client CPU | server CPU | cores busy | database alone | vs defaults |\n"
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(lines))
    print(header)
    print(table)
    if not args.no_record:
        add_to_section("## Embedded server: bulk-load settings against PostgreSQL's defaults",
                       "Each run: the default `just generate` and `just generate-events` against the embedded "
                       "server (PostgreSQL 18) restarted with each variant's settings. "
                       "CPU columns: generate-events; cores busy = (client + server CPU) / wall time. Database "
                       "alone: CREATE TABLE + COPY FREEZE from a server-side file + primary key of one tap-event "
                       "day in one transaction, no client work.\n",
                       f"\n{header}\n\n{table}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
