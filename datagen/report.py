"""What the user sees: progress while it works, and a summary (plan, checks, loads, distributions) at the end."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table as RichTable
from rich.text import Text

from datagen.checks import Outcome
from datagen.config import Config
from datagen.events import Plan
from datagen.load_events import EventLoad
from datagen.manifest import combine
from datagen.plan import PlanRow
from datagen.regenerate import Regeneration
from datagen.validate import Validation

out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _RowsPerSecond(ProgressColumn):
    """rows/s, shown as 0 until rich has samples to estimate a speed from."""

    def render(self, task: Task) -> Text:
        return Text(f"{(task.speed or 0):>12,.0f} rows/s")


@contextmanager
def progress(total_rows: int, label: str, *, enabled: bool, speed: bool = False) -> Iterator[Any]:
    """A rows progress bar on stderr when it is a terminal (with rows/s and ETA if speed); else a no-op."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _table, _n: None
        return
    extra = [_RowsPerSecond(), TimeRemainingColumn()] if speed else []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *extra, TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(label, total=total_rows)

        def advance(table: str, n: int) -> None:
            bar.update(task, advance=n, description=f"{label} {table}")
        yield advance


class Meter:
    """A rows bar whose total is known only after some work (validate counts the partitions first)."""

    def __init__(self, bar: Progress | None, label: str) -> None:
        self._bar, self._label = bar, label
        self._task = bar.add_task(label, total=None) if bar else None

    def total(self, rows: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, total=rows)

    def advance(self, rows: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=rows)


@contextmanager
def meter(label: str, *, enabled: bool) -> Iterator[Meter]:
    if not enabled or not sys.stderr.isatty():
        yield Meter(None, label)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), _RowsPerSecond(),
                  TimeRemainingColumn(), TimeElapsedColumn(), console=err, transient=True) as bar:
        yield Meter(bar, label)


def plan_table(rows: Sequence[PlanRow]) -> RichTable:
    t = RichTable(title="Plan (nothing written)", title_justify="left")
    for col in ("table", "runbook", "expected", "min", "max", "planned (this seed)", "id range", "fits"):
        t.add_column(col, justify="left" if col == "table" else "right")
    for r in rows:
        expected = "" if math.isnan(r.expected) else f"{r.expected:,.0f}"
        t.add_row(r.table, f"~{r.runbook:,}" if r.runbook else "", expected,
                  f"{r.minimum:,}", f"{r.maximum:,}", f"{r.planned:,}", id_range_text(r.id_range, r.auto, r.planned),
                  "yes" if r.fits else "NO")
    return t


def checks_table(outcomes: Sequence[Outcome]) -> RichTable:
    t = RichTable(title="Checks", title_justify="left")
    for col in ("check", "status", "violations", "sample keys", "ms"):
        t.add_column(col, justify="right" if col in ("violations", "ms") else "left")
    for o in outcomes:
        t.add_row(o.check.name, "pass" if o.passed else "[bold red]FAIL[/]", f"{o.violations:,}",
                  ", ".join(map(str, o.sample)), f"{o.seconds * 1000:.1f}")
    return t


def failures_text(outcomes: Sequence[Outcome]) -> str:
    bad = [o for o in outcomes if not o.passed]
    lines = [f"{len(bad)} check(s) failed before the load; nothing was written:"]
    lines += [f"  {o.check.name}: {o.violations:,} violation(s) ({o.check.description}); "
              f"sample keys: {', '.join(map(str, o.sample))}" for o in bad]
    return "\n".join(lines)


def load_table(rows: dict[str, int], copy_s: dict[str, float], fingerprints: dict[str, str],
               seconds: str = "COPY s") -> RichTable:
    t = RichTable(title="Loaded", title_justify="left")
    for col in ("table", "rows", seconds, "rows/s", "fingerprint"):
        t.add_column(col, justify="left" if col in ("table", "fingerprint") else "right")
    for key, n in rows.items():
        s = copy_s.get(key, 0.0)
        t.add_row(key, f"{n:,}", f"{s:.3f}", f"{n / s:,.0f}" if s > 0 else "", fingerprints.get(key, ""))
    return t


def stages_table(stages: dict[str, float], total_rows: int) -> RichTable:
    t = RichTable(title="Stages", title_justify="left")
    for col in ("stage", "seconds", "rows/s"):
        t.add_column(col, justify="left" if col == "stage" else "right")
    for name, s in stages.items():
        t.add_row(name, f"{s:.3f}", f"{total_rows / s:,.0f}" if s > 0 else "")
    return t


def _mix(frame: pl.DataFrame, column: str, shares: Sequence[tuple[str, float]]) -> list[tuple[str, int, float, float]]:
    counts = dict(frame.group_by(column).len().iter_rows())
    n = max(frame.height, 1)
    names = [k for k, _ in shares] + sorted(str(k) for k in counts if k not in dict(shares))
    return [(k, int(counts.get(k, 0)), counts.get(k, 0) / n, dict(shares).get(k, 0.0)) for k in names]


def distribution_table(frames: dict[str, pl.DataFrame], cfg: Config) -> RichTable:
    t = RichTable(title="Distributions against the config", title_justify="left")
    for col in ("column", "value", "rows", "share", "config"):
        t.add_column(col, justify="left" if col in ("column", "value") else "right")
    sections = [
        ("accounts.size", frames["accounts"], "size", [(s.name, s.share) for s in cfg.sizes]),
        ("accounts.industry", frames["accounts"], "industry", [(i.name, i.share) for i in cfg.industries]),
        ("devices.status", frames["devices"], "status", list(cfg.devices.operational_status)),
        ("devices.device_type", frames["devices"], "device_type", [(d.name, d.share) for d in cfg.devices.types]),
        ("users.role", frames["users"], "role", [(r.name, r.share) for r in cfg.roles]),
    ]
    for label, frame, column, shares in sections:
        for value, n, share, want in _mix(frame, column, shares):
            t.add_row(label, value, f"{n:,}", f"{share:.3f}", f"{want:.3f}")
            label = ""
    return t


def event_plan_table(plan: Plan, cfg: Config) -> RichTable:
    """Rows per event table for the window and for the whole event range, against the id ranges."""
    ev = cfg.events
    t = RichTable(title=f"Event plan: window {plan.window[0]} to {plan.window[1]} "
                        f"(event range {ev.start_date} to {ev.end_date}); nothing written", title_justify="left")
    for col in ("table", "window rows", "day partitions", "window ids", "range rows", "id range", "fits"):
        t.add_column(col, justify="left" if col == "table" else "right")
    for key, parts in plan.parts.items():
        lo, hi = cfg.id_range(key)
        rows = plan.window_rows[key]
        ids = f"{parts[0].first_id:,}-{parts[0].first_id + rows - 1:,}" if rows else ""
        t.add_row(key, f"{rows:,}", f"{len(plan.day_spans(key))}", ids, f"{plan.range_rows[key]:,}",
                  id_range_text((lo, hi), key in cfg.auto_ids, plan.range_rows[key]),
                  "yes" if plan.range_rows[key] <= hi - lo + 1 else "NO")
    return t


def id_range_text(id_range: tuple[int, int], auto: bool, needed: int) -> str:
    """An id range as the plans show it; an `auto` one as the ids the plan takes."""
    lo, hi = id_range
    return f"auto {lo:,}-{lo + needed - 1:,}" if auto else f"{lo:,}-{hi:,}"


def event_load_table(result: EventLoad) -> RichTable:
    t = RichTable(title="Loaded events", title_justify="left")
    for col in ("table", "rows", "partitions", "ids", "fingerprint (window)"):
        t.add_column(col, justify="left" if col in ("table", "fingerprint (window)") else "right")
    for key, days in result.partitions.items():
        rows = result.rows[key]
        spans = sorted(days.values())
        ids = f"{spans[0][0]:,}-{spans[-1][0] + spans[-1][1] - 1:,}" if spans else ""
        t.add_row(key, f"{rows:,}", f"{len(days)}", ids, combine([s[2] for s in spans]) if spans else "")
    return t


MAX_PARTITION_ROWS = 36  # a window of a year would print hundreds of lines; the manifest has them all


def partitions_table(result: EventLoad) -> RichTable:
    """One line per loaded day partition: rows, ids and content fingerprint (the manifest's entries)."""
    entries = sorted((day, key, span) for key, days in result.partitions.items() for day, span in days.items())
    shown = entries[:MAX_PARTITION_ROWS]
    more = len(entries) - len(shown)
    t = RichTable(title="Partitions" + (f" (first {len(shown)}; {more} more in the manifest)" if more else ""),
                  title_justify="left")
    for col in ("day", "table", "rows", "ids", "fingerprint"):
        t.add_column(col, justify="right" if col in ("rows", "ids") else "left")
    for day, key, (first, rows, fp) in shown:
        t.add_row(str(day), key, f"{rows:,}", f"{first:,}-{first + rows - 1:,}", fp)
    return t


def partition_checks_table(outcomes: Sequence[Outcome]) -> RichTable:
    """Each partition check once: how many partitions it ran on, violations, total time."""
    agg: dict[str, list[float]] = {}
    for o in outcomes:
        runs, bad, seconds = agg.get(o.check.name, [0, 0, 0.0])
        agg[o.check.name] = [runs + 1, bad + o.violations, seconds + o.seconds]
    t = RichTable(title="Partition checks", title_justify="left")
    for col in ("check", "partitions", "violations", "ms"):
        t.add_column(col, justify="left" if col == "check" else "right")
    for name, (runs, bad, seconds) in agg.items():
        t.add_row(name, f"{int(runs):,}", f"{int(bad):,}", f"{seconds * 1000:.1f}")
    return t


def validation_tables(v: Validation) -> list[RichTable]:
    """What validate found: the tables against the manifest, then every check with its time."""
    t = RichTable(title=f"Tables in schema {v.schema}", title_justify="left")
    for col in ("table", "rows", "manifest rows", "partitions", "manifest partitions"):
        t.add_column(col, justify="left" if col == "table" else "right")
    for s in v.tables:
        if not s.present and s.manifest_rows is None:
            continue
        t.add_row(s.key if s.present else f"{s.key} (missing)", "not read" if s.rows is None else f"{s.rows:,}",
                  "" if s.manifest_rows is None else f"{s.manifest_rows:,}",
                  f"{s.partitions:,}" if s.partitions else "",
                  "" if s.manifest_partitions is None else f"{s.manifest_partitions:,}")
    c = RichTable(title="Checks", title_justify="left")
    for col in ("check", "status", "violations", "sample offending keys", "where", "ms"):
        c.add_column(col, justify="right" if col in ("violations", "ms") else "left")
    for f in v.findings:
        status = {"ok": "pass", "FAIL": "[bold red]FAIL[/]"}.get(f.status, f"{f.status} ({f.note})")
        where = ", ".join(f.where) + (" ..." if len(f.where) >= 5 else "")
        c.add_row(f.name, status, f"{f.violations:,}", ", ".join(map(str, f.sample)), where,
                  f"{f.seconds * 1000:.1f}")
    return [t, c]


def validation_json(v: Validation) -> dict[str, Any]:
    return {
        "passed": v.passed, "schema": v.schema, "target": v.target,
        "manifest": str(v.manifest_path) if v.manifest_path else f"{v.schema}._datagen_manifest",
        "manifest_found": v.manifest is not None, "warnings": v.warnings, "seconds": round(v.seconds, 3),
        "event_rows_read": v.rows_read, "event_seconds": round(v.read_seconds, 3),
        "tables": {s.key: {"present": s.present, "rows": s.rows, "partitions": s.partitions,
                           "manifest_rows": s.manifest_rows, "manifest_partitions": s.manifest_partitions}
                   for s in v.tables if s.present or s.manifest_rows is not None},
        "checks": [{"name": f.name, "severity": f.severity, "description": f.description, "status": f.status,
                    "violations": f.violations, "sample": f.sample, "where": f.where, "runs": f.runs,
                    "seconds": round(f.seconds, 6), "note": f.note} for f in v.findings],
    }


def regeneration_table(r: Regeneration, schema: str) -> RichTable:
    """The plan of `generate --only`: each table, why it is included, rows before and after."""
    t = RichTable(title=f"Regenerate in schema {schema}" + (f" (events for {r.window[0]} to {r.window[1]})"
                                                            if r.window and r.events else ""), title_justify="left")
    for col in ("table", "why", "rows before", "rows after"):
        t.add_column(col, justify="left" if col in ("table", "why") else "right")
    for s in r.steps:
        t.add_row(s.key, s.why, "missing" if s.rows_before is None else f"{s.rows_before:,}", f"{s.rows_after:,}")
    for key in r.untouched:
        t.add_row(f"[dim]{key}[/]", "[dim]untouched[/]", "", "")
    return t
