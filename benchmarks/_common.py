"""The benchmarks' shared scenario: volumes and the event days that hold them, the configs they run, commands
run with their wall time and peak memory, the bare COPY ceiling, and the machine as RESULTS.md names it.

Scripts import this module and _results, never each other.
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
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import yaml
from _results import ROOT
from psycopg import sql
from psycopg.abc import Query

from datagen import copy_format, events, load_events, tuning
from datagen.builders import Part
from datagen.config import DEFAULT_CONFIG, MAX_ID, Config, parse_config
from datagen.generate import generate
from datagen.tables import EVENT_TABLES, TABLES

# Windows start on the first day of 2024 and may run up to the last day of the shipped events.range: room for
# more than 100M tap events at the shipped rates.
RANGE = ("2024-01-01", "2025-06-25")
DATAGEN = (sys.executable, "-m", "datagen")  # the CLI as a user runs it, in a fresh process
COPY_CHUNK = 1 << 24  # 16 MiB reads of the pre-encoded file: few calls, a small share of the page cache


# -- volumes and the days that hold them -----------------------------------------------------------------
def parse_rows(text: str) -> int:
    """A volume such as 300K, 10M or 1.5G as a row count."""
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * mult)


class Window(NamedTuple):
    """The first days from RANGE[0] holding at least `target` tap events at the shipped rates."""

    target: int
    start: str  # first day, ISO
    end: str  # last day, ISO
    rows: int  # tap events in start..end


def windows(raw: dict[str, Any], sizes: list[int]) -> list[Window]:
    """One window per volume in sizes, for the config raw (the shipped one, as read by default_raw)."""
    _, plan = tap_plan(parse_config(event_config(raw, *RANGE)))
    spans = plan.all_spans["tap_events"]
    first, last = plan.window
    out = []
    for target in sizes:
        total, day = 0, first
        while total < target and day <= last:
            total += spans.get(day, (0, 0))[1]
            day += dt.timedelta(days=1)
        out.append(Window(target, str(first), str(day - dt.timedelta(days=1)), total))
    return out


# -- configs ---------------------------------------------------------------------------------------------
def default_raw() -> dict[str, Any]:
    """The shipped config as parsed YAML, to derive a benchmark's configs from."""
    raw: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    return raw


def event_config(raw: dict[str, Any], start: str, end: str) -> dict[str, Any]:
    """A copy of raw whose events.range is exactly start..end, tap-event ids free to use the whole id range."""
    out: dict[str, Any] = json.loads(json.dumps(raw, default=str))
    out["events"]["range"] = {"start_date": start, "end_date": end}
    out["id_ranges"]["tap_events"] = [1, MAX_ID]
    return out


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    """raw written as YAML to path, for `--config path`."""
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def read_config(path: Path) -> Config:
    return parse_config(yaml.safe_load(path.read_text(encoding="utf-8")))


def tap_plan(cfg: Config) -> tuple[events.Streams, events.Plan]:
    """The event streams over cfg's core entities, and the plan of every tap-event partition of its range."""
    streams = events.Streams(cfg, generate(cfg))
    return streams, streams.plan(("tap_events",))


def add_database_argument(ap: argparse.ArgumentParser) -> None:
    """--database-url, for datagen.db.resolve: by default $TEST_DATABASE_URL, else what datagen itself uses."""
    ap.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL"),
                    help="default $TEST_DATABASE_URL, else $DATABASE_URL, else PG* variables, else the embedded "
                         "server")


def machine(*, python: bool = True) -> str:
    """The machine as RESULTS.md names it: `host (N cores, Python X.Y.Z)`, or `host (N cores)`."""
    version = f", Python {platform.python_version()}" if python else ""
    return f"{platform.node()} ({os.cpu_count()} cores{version})"


# -- commands in their own process -----------------------------------------------------------------------
@dataclass(frozen=True)
class Ran:
    seconds: float  # wall time from before the start to the exit
    peak_rss_mb: float  # peak RSS of the process (or of the largest child it waited for), MiB
    cpu_seconds: float  # user + system CPU of the process and the children it waited for
    stdout: str


def run(cmd: Sequence[str], env: Mapping[str, str]) -> Ran:
    """Run cmd from the repository root and measure it; stdout captured; a failure exits with its stderr."""
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        t0 = time.perf_counter()
        with subprocess.Popen(list(cmd), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True) as proc:
            assert proc.stdout is not None
            out = proc.stdout.read()
            # wait4, not Popen.wait: it gives this child's own rusage (peak RSS, CPU), where getrusage would
            # mix in every child this process has reaped
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait for it again
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}): {err.read()[-2000:]}")
    return Ran(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out)


# -- the database ----------------------------------------------------------------------------------------
def execute(url: str, statement: Query) -> float:
    """Run one statement on its own autocommit connection; its seconds, connecting left out."""
    with psycopg.connect(url, autocommit=True) as conn:
        t0 = time.perf_counter()
        conn.execute(statement)
        return time.perf_counter() - t0


def checkpoint(url: str) -> None:
    """Start a measurement with no dirty pages or WAL left by the previous one to pay for."""
    execute(url, "CHECKPOINT")


def drop_schema(url: str, schema: str) -> None:
    execute(url, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def drop_event_tables(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for t in reversed(EVENT_TABLES):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{} CASCADE").format(sql.Identifier(schema),
                                                                               sql.Identifier(t.name)))


def pre_encode(streams: events.Streams, plan: events.Plan, path: Path) -> list[tuple[Part, int, int]]:
    """Every partition of plan built, checked and encoded in the config's layout, written to path as one binary
    COPY file (header, rows, trailer); where each part's rows lie in it: (part, offset, length)."""
    index: list[tuple[Part, int, int]] = []
    with path.open("wb") as fh:
        def bodies() -> Iterator[bytes | memoryview]:  # the same writer seam the loaders copy through
            for part in events.iter_parts(plan):
                enc = load_events.encode(events.build_passed(streams, part), tuning.COPY_BATCH_ROWS,
                                         streams.cfg.events.tap_layout)
                index.append((part, fh.tell(), len(enc.body)))
                yield enc.body
        copy_format.write_copy(fh, bodies())
    return index


def copy_ceiling(url: str, schema: str, data: Path) -> float:
    """Seconds of one binary COPY FROM STDIN of a pre_encode file, commit included, on one connection, into a
    bare table (no keys) of the tap-event table's layout in schema; the tap-event table must exist."""
    s = sql.Identifier(schema)
    tap = sql.Identifier(TABLES["tap_events"].name)
    execute(url, sql.SQL("DROP TABLE IF EXISTS {}.ceiling").format(s))
    execute(url, sql.SQL("CREATE TABLE {}.ceiling (LIKE {}.{})").format(s, s, tap))
    with psycopg.connect(url) as conn, conn.cursor() as cur, data.open("rb") as fh:
        t0 = time.perf_counter()
        with cur.copy(sql.SQL("COPY {}.ceiling FROM STDIN (FORMAT BINARY)").format(s)) as copy:
            while chunk := fh.read(COPY_CHUNK):
                copy.write(chunk)
        conn.commit()
        seconds = time.perf_counter() - t0
    execute(url, sql.SQL("DROP TABLE {}.ceiling").format(s))
    return seconds
