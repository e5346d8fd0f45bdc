"""generate → validate → load, and nothing else: each stage lives in its own module."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datagen import (
    checks,
    db,
    events,
    executors,
    load_events,
    load_parquet,
    manifest_store,
    parquet_store,
    regenerate,
    report,
    validate,
)
from datagen.config import Config, config_digest
from datagen.errors import UsageError, ValidationFailed
from datagen.generate import Generated, generate
from datagen.load import LoadResult, existing_rows, load
from datagen.manifest import check_writable, fingerprint, write_manifest
from datagen.parquet_store import Compression
from datagen.plan import make_plan
from datagen.prompt import ask, confirm_replace
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class Options:
    config_path: str
    schema: str
    database_url: str | None
    yes: bool
    dry_run: bool
    manifest: Path | None  # also export the manifest (recorded in the schema) as JSON here, after the commit
    progress: bool
    only: tuple[str, ...] | None = None  # regenerate these tables and their dependents (regenerate.py)
    adopt: bool = False  # take over same-named tables datagen did not create
    sink: str = "postgres"  # or parquet: files under out (load_parquet.py)
    out: str | None = None
    compression: Compression = "zstd"
    executor: executors.Executor = field(default_factory=executors.Executor)  # --only's event days


def validate_frames(cfg: Config) -> tuple[Generated, list[checks.Outcome]]:
    """Generate in memory and run the pre-load checks; raises ValidationFailed on any violation."""
    gen = generate(cfg)
    outcomes = checks.run_checks(gen.frames, cfg)
    if any(not o.passed for o in outcomes):
        report.out.print(report.checks_table(outcomes))
        raise ValidationFailed(report.failures_text(outcomes))
    return gen, outcomes


def run_record(cfg: Config, command: str, opts: object, rows: dict[str, int]) -> dict[str, Any]:
    """What the manifest table records of a run (manifest_store.put_run adds when it ended): never a URL."""
    assert dataclasses.is_dataclass(opts) and not isinstance(opts, type)
    options = {k: v for k, v in dataclasses.asdict(opts).items() if k != "database_url"}
    return {"datagen_version": version("datagen"), "command": command,
            "options": json.loads(json.dumps(options, default=str)), "seed": cfg.seed, "scale": cfg.scale,
            "config_digest": config_digest(cfg), "started_at": dt.datetime.now(dt.UTC).isoformat(), "rows": rows}


def export_manifest(target: db.Target, schema: str, path: Path) -> None:
    """The manifest table, as JSON at path (--manifest, `datagen status --export`)."""
    with db.connect(target) as conn, conn.cursor() as cur:
        manifest = manifest_store.read(cur, schema)
    write_manifest(manifest or {}, path)


def _recorded(schema: str, export: Path | None) -> str:
    return f"Manifest: {schema}.{manifest_store.TABLE}" + (f", exported to {export}" if export else "")


def run_generate(cfg: Config, opts: Options) -> dict[str, int]:
    """The main job. Returns rows per table loaded (or planned, for a dry run)."""
    executors.check_options(opts.executor)
    if opts.only is not None:
        return run_regenerate(cfg, opts)
    if opts.executor.distributed:
        raise UsageError("--executor applies to generate-events and to the event days of generate --only; the core "
                         "tables are built in this process", hint="leave out --executor, or add --only")
    t0 = time.perf_counter()
    gen, outcomes = validate_frames(cfg)
    check_s = sum(o.seconds for o in outcomes)
    counts = {k: f.height for k, f in gen.frames.items()}
    if opts.dry_run:
        report.out.print(report.plan_table(make_plan(cfg, counts)))
        report.out.print(f"{len(outcomes)} pre-load checks passed. Dry run: nothing was written.")
        return counts

    if opts.sink == "parquet":
        return _generate_parquet(cfg, opts, gen, counts, t0, check_s)
    if opts.manifest:
        check_writable(opts.manifest)
    target = db.resolve(opts.database_url)
    report.err.print(f"Target: {target.display} ({target.source}), schema {opts.schema}")
    confirm_replace(existing_rows(target, opts.schema, CORE_TABLES + EVENT_TABLES), opts.schema, yes=opts.yes)
    total = sum(counts.values())
    run = run_record(cfg, "generate", opts, counts)
    with report.progress(total, "COPY", enabled=opts.progress) as advance:
        result: LoadResult = load(gen.frames, target, schema=opts.schema, on_progress=advance, adopt=opts.adopt,
                                  run=run)
    if opts.manifest:
        export_manifest(target, opts.schema, opts.manifest)

    fps = {k: fingerprint(f, k) for k, f in gen.frames.items()}

    report.out.print(report.load_table(result.rows, result.copy_seconds, fps))
    report.out.print(report.distribution_table(gen.frames, cfg))
    stages = {"generate": gen.seconds, "validate (pre-load)": check_s, "COPY": sum(result.copy_seconds.values()),
              "keys (PK + FK)": result.constraint_seconds, "total": time.perf_counter() - t0}
    report.out.print(report.stages_table(stages, total))
    report.out.print(f"Loaded {total:,} rows into schema {opts.schema} at {target.display}"
                     + (f", replacing {result.replaced_rows:,} rows" if result.replaced_rows else "")
                     + f". {_recorded(opts.schema, opts.manifest)}")
    if target.source == "embedded server":
        report.out.print(f"Connect: psql '{target.conninfo}'")
    return result.rows


@dataclass(frozen=True)
class EventOptions:
    config_path: str
    schema: str
    database_url: str | None
    yes: bool
    dry_run: bool
    manifest: Path | None
    progress: bool
    start: dt.date | None
    end: dt.date | None
    workers: int
    connections: int
    batch_rows: int
    tables: tuple[str, ...] | None
    adopt: bool = False
    sink: str = "postgres"
    out: str | None = None
    compression: Compression = "zstd"
    executor: executors.Executor = field(default_factory=executors.Executor)


def run_generate_events(cfg: Config, opts: EventOptions) -> dict[str, int]:
    """Plan, then stream the event partitions of the window into the database. Returns rows per table."""
    executors.check_options(opts.executor)
    t0 = time.perf_counter()
    gen = generate(cfg)
    streams = events.Streams(cfg, gen)
    tp = time.perf_counter()
    plan = streams.plan(events.event_tables(opts.tables), opts.start, opts.end)
    plan_s = time.perf_counter() - tp
    full_range = plan.window == (cfg.events.start_date, cfg.events.end_date)
    if opts.dry_run:
        report.out.print(report.event_plan_table(plan, cfg))
        report.out.print(f"Dry run: nothing was written. Counted in {plan_s:.2f} s.")
        return plan.window_rows

    if opts.sink == "parquet":
        return _generate_events_parquet(cfg, opts, streams, plan, full_range, t0, plan_s)
    if opts.manifest:
        check_writable(opts.manifest)
    if opts.executor.kind == "dask" and db.embeds(opts.database_url):
        raise UsageError(EMBEDDED_DASK, hint=EMBEDDED_DASK_HINT)
    target = db.resolve(opts.database_url)
    report.err.print(f"Target: {target.display} ({target.source}), schema {opts.schema}; "
                     f"days {plan.window[0]} to {plan.window[1]}")
    load_events.prepare(target, opts.schema, gen, plan, full_range=full_range, yes=opts.yes,
                        confirm=lambda q: ask(q, yes=opts.yes), gen_digest=streams.digest,
                        layout=cfg.events.tap_layout, adopt=opts.adopt, scale=cfg.scale)
    total = sum(plan.window_rows.values())
    with _cluster(opts.executor) as client, report.progress(total, "events", enabled=opts.progress,
                                                            speed=True) as advance:
        result = load_events.load_events(streams, plan, target, schema=opts.schema, full_range=full_range,
                                         workers=opts.workers, connections=opts.connections,
                                         batch_rows=opts.batch_rows, on_progress=advance, adopt=opts.adopt,
                                         run=run_record(cfg, "generate-events", opts, plan.window_rows),
                                         client=client)
    if opts.manifest:
        export_manifest(target, opts.schema, opts.manifest)

    report.out.print(report.partitions_table(result))
    report.out.print(report.partition_checks_table(result.outcomes))
    report.out.print(report.event_load_table(result))
    copy_s = result.copy_seconds
    stages = {"plan (count every partition)": plan_s,
              "build + check + COPY + keys, in parallel": copy_s,
              "swap partitions in (one transaction)": result.swap_seconds,
              "total": time.perf_counter() - t0}
    report.out.print(report.stages_table(stages, total))
    report.out.print(f"Loaded {total:,} event rows for {plan.window[0]} to {plan.window[1]} into schema {opts.schema} "
                     f"at {target.display}" + (f", replacing {result.replaced_partitions} day partitions"
                                                if result.replaced_partitions else "")
                     + f"; {len(result.outcomes):,} partition checks passed. {_recorded(opts.schema, opts.manifest)}")
    if target.source == "embedded server":
        report.out.print(f"Connect: psql '{target.conninfo}'")
    return result.rows


EMBEDDED_DASK = ("--executor dask: the embedded server listens on a Unix socket only, which the cluster's workers "
                 "cannot reach")
EMBEDDED_DASK_HINT = ("set DATABASE_URL to a server the workers reach over TCP, or use --executor dask-local (workers "
                      "on this machine)")


@contextlib.contextmanager
def _cluster(ex: executors.Executor) -> Iterator[Client | None]:
    """The Dask client the executor asks for (started here for dask-local), or None for local threads."""
    if not ex.distributed:
        yield None
        return
    report.err.print(f"Executor: {ex.kind}" + (f" at {ex.scheduler}" if ex.scheduler else
                                                 f", {ex.dask_workers} worker processes"))
    with executors.client(ex) as client:
        yield client


def _generate_parquet(cfg: Config, opts: Options, gen: Generated, counts: dict[str, int], t0: float,
                      check_s: float) -> dict[str, int]:
    assert opts.out is not None
    ds = parquet_store.open_dataset(opts.out, create=True)
    report.err.print(f"Target: {ds.display} (Parquet, {opts.compression})")
    total = sum(counts.values())
    with report.progress(total, "Parquet", enabled=opts.progress) as advance:
        seconds = load_parquet.write_core(cfg, gen, ds, yes=opts.yes, compression=opts.compression,
                                          run=run_record(cfg, "generate", opts, counts), on_progress=advance)
    report.out.print(report.load_table(counts, seconds, {k: fingerprint(f, k) for k, f in gen.frames.items()},
                                       seconds="write s"))
    report.out.print(report.distribution_table(gen.frames, cfg))
    stages = {"generate": gen.seconds, "validate (pre-load)": check_s, "write Parquet": sum(seconds.values()),
              "total": time.perf_counter() - t0}
    report.out.print(report.stages_table(stages, total))
    report.out.print(f"Wrote {total:,} rows as Parquet to {ds.display}. Manifest: "
                     f"{ds.display.rstrip('/')}/{parquet_store.MANIFEST_FILE}")
    return counts


def _generate_events_parquet(cfg: Config, opts: EventOptions, streams: events.Streams, plan: events.Plan,
                             full_range: bool, t0: float, plan_s: float) -> dict[str, int]:
    assert opts.out is not None
    ds = parquet_store.open_dataset(opts.out, create=True)
    report.err.print(f"Target: {ds.display} (Parquet, {opts.compression}); days {plan.window[0]} to {plan.window[1]}")
    total = sum(plan.window_rows.values())
    with _cluster(opts.executor) as client, report.progress(total, "events", enabled=opts.progress,
                                                            speed=True) as advance:
        result = load_parquet.write_events(streams, plan, ds, full_range=full_range, yes=opts.yes,
                                           compression=opts.compression, workers=opts.workers,
                                           run=run_record(cfg, "generate-events", opts, plan.window_rows),
                                           on_progress=advance, client=client)
    report.out.print(report.partitions_table(result))
    report.out.print(report.partition_checks_table(result.outcomes))
    report.out.print(report.event_load_table(result))
    stages = {"plan (count every partition)": plan_s, "build + check + write, in parallel": result.copy_seconds,
              "manifest": result.swap_seconds, "total": time.perf_counter() - t0}
    report.out.print(report.stages_table(stages, total))
    report.out.print(f"Wrote {total:,} event rows for {plan.window[0]} to {plan.window[1]} as Parquet to "
                     f"{ds.display}" + (f", replacing {result.replaced_partitions} day partitions"
                                        if result.replaced_partitions else "")
                     + f"; {len(result.outcomes):,} partition checks passed.")
    return result.rows


@dataclass(frozen=True)
class ValidateOptions:
    schema: str
    database_url: str | None
    manifest: Path | None
    tables: tuple[str, ...] | None
    checks: tuple[str, ...] | None
    connections: int
    as_json: bool
    progress: bool
    parquet: str | None = None  # a Parquet dataset to validate instead of the database


def run_validate(cfg: Config, opts: ValidateOptions) -> int:
    """Read the database back and check it; returns the exit code (0 passed, 1 violations)."""
    vopts = validate.Options(schema=opts.schema, manifest_path=opts.manifest, tables=opts.tables, checks=opts.checks,
                             connections=opts.connections)
    validate.check_selection(vopts)
    if opts.parquet is not None:
        ds = parquet_store.open_dataset(opts.parquet, create=False)
        where = opts.manifest or f"{ds.display.rstrip('/')}/{parquet_store.MANIFEST_FILE}"
        report.err.print(f"Target: {ds.display} (Parquet); manifest {where}")
        with report.meter("validate", enabled=opts.progress and not opts.as_json) as m:
            result = validate.validate_parquet(cfg, ds, vopts, on_progress=m.advance, on_total=m.total)
    else:
        target = db.resolve(opts.database_url)
        where = opts.manifest or f"{opts.schema}.{manifest_store.TABLE}"
        report.err.print(f"Target: {target.display} ({target.source}), schema {opts.schema}; manifest {where}")
        with report.meter("validate", enabled=opts.progress and not opts.as_json) as m:
            result = validate.validate(cfg, target, vopts, on_progress=m.advance, on_total=m.total)
    for w in result.warnings:
        report.err.print(f"[yellow]warning:[/] {w}", markup=True)
    if opts.as_json:
        print(json.dumps(report.validation_json(result), indent=2, default=str))
    else:
        for table in report.validation_tables(result):
            report.out.print(table)
        failed = [f for f in result.findings if not f.passed]
        rate = f" ({result.rows_read / result.read_seconds:,.0f} rows/s)" if result.read_seconds > 0 else ""
        report.out.print(f"{len(result.findings) - len(failed)} of {len(result.findings)} checks passed in "
                         f"{result.seconds:.2f} s; {result.rows_read:,} event rows read and checked in "
                         f"{result.read_seconds:.2f} s{rate}."
                         + (f" FAILED: {', '.join(f.name for f in failed)}" if failed else ""))
    return 0 if result.passed else 1


@dataclass(frozen=True)
class ReportOptions:
    schema: str
    database_url: str | None
    out: Path
    connections: int
    progress: bool
    parquet: str | None = None  # a Parquet dataset to draw instead of the database


def run_report(cfg: Config, opts: ReportOptions) -> int:
    """`datagen report`: the data profile as HTML and PNGs under opts.out; 0 when every mark passes, else 1."""
    from datagen import profile, profile_html

    if opts.out.exists() and not opts.out.is_dir():
        raise UsageError(f"--out: {opts.out} is a file", hint="give a folder, e.g. .datagen/report")
    if opts.parquet is not None:
        ds = parquet_store.open_dataset(opts.parquet, create=False)
        report.err.print(f"Source: {ds.display} (Parquet)")
        with report.meter("report", enabled=opts.progress) as m:
            prof = profile.from_parquet(cfg, ds, opts.connections, on_progress=m.advance)
    else:
        target = db.resolve(opts.database_url)
        report.err.print(f"Source: {target.display} ({target.source}), schema {opts.schema}")
        with report.meter("report", enabled=opts.progress) as m:
            prof = profile.from_postgres(cfg, target, opts.schema, opts.connections, on_progress=m.advance)
    for w in prof.warnings:
        report.err.print(f"[yellow]warning:[/] {w}", markup=True)
    for what in prof.left_out:
        report.err.print(f"[bold red]not drawn:[/] {what}", markup=True, highlight=False)
    t0 = time.perf_counter()
    path = profile_html.write(prof, opts.out)
    marks = [m for c in prof.charts for m in c.marks]
    failed = sorted({m.check for m in marks if m.status == "FAIL"})
    skipped = sum(m.status == "skipped" for m in marks)
    report.out.print(f"Wrote {path} and {len(prof.charts)} chart PNGs: {prof.rows_read:,} event rows read in "
                     f"{prof.seconds:.1f} s, drawn in {time.perf_counter() - t0:.1f} s; "
                     f"{sum(m.status == 'ok' for m in marks)} of {len(marks)} marks pass"
                     + (f", {skipped} skipped" if skipped else "") + "."
                     + (f" FAILED: {', '.join(failed)}" if failed else ""), highlight=False)
    return 0 if prof.passed else 1


def run_regenerate(cfg: Config, opts: Options) -> dict[str, int]:
    """`generate --only`: the asked tables and their dependents, checked and replaced; the rest untouched."""
    assert opts.only is not None
    if opts.executor.kind == "dask" and db.embeds(opts.database_url):
        raise UsageError(EMBEDDED_DASK, hint=EMBEDDED_DASK_HINT)
    t0 = time.perf_counter()
    gen, _ = validate_frames(cfg)
    regenerate.closure(opts.only)  # usage errors before any connection
    target = db.resolve(opts.database_url)
    report.err.print(f"Target: {target.display} ({target.source}), schema {opts.schema}")
    r = regenerate.plan(cfg, gen, target, opts.schema, opts.only)
    report.out.print(report.regeneration_table(r, opts.schema))
    if opts.dry_run:
        report.out.print("Dry run: nothing was written.")
        return {s.key: s.rows_after for s in r.steps}
    if opts.manifest:
        check_writable(opts.manifest)
    replaced = sum(s.rows_before or 0 for s in r.steps)
    if replaced:
        ask(f"Regenerate {len(r.steps)} tables in schema {opts.schema} ({', '.join(s.key for s in r.steps)}), "
            f"replacing {replaced:,} rows?", yes=opts.yes)
    frames = {k: gen.frames[k] for k in r.core}
    rows: dict[str, int] = {}
    core: list[LoadResult] = []
    ev: load_events.EventLoad | None = None
    total = sum(f.height for f in frames.values()) + sum(s.rows_after for s in r.steps if TABLES[s.key].partitioned)
    run = run_record(cfg, "generate --only", opts, {s.key: s.rows_after for s in r.steps})
    with report.progress(total, "regenerate", enabled=opts.progress, speed=True) as advance:
        def replace_core(before_commit: Callable[[Any], None] | None = None) -> None:
            core.append(load(frames, target, schema=opts.schema, on_progress=advance, before_commit=before_commit,
                             adopt=opts.adopt, run=run))

        if r.events and r.window:
            # the event days are staged first, then swapped in inside the core tables' transaction
            streams = events.Streams(cfg, gen)
            plan = streams.plan(tuple(r.events), *r.window)
            full_range = plan.window == (cfg.events.start_date, cfg.events.end_date)
            load_events.prepare(target, opts.schema, gen, plan, full_range=full_range, yes=True,
                                confirm=lambda _q: None, gen_digest=streams.digest, parents=not frames,
                                layout=cfg.events.tap_layout, adopt=opts.adopt, scale=cfg.scale)
            with _cluster(opts.executor) as client:
                ev = load_events.load_events(streams, plan, target, schema=opts.schema, full_range=full_range,
                                             on_progress=advance, replacing_core=replace_core if frames else None,
                                             adopt=opts.adopt, run=run, client=client)
        elif frames:
            replace_core()
    if opts.manifest:
        export_manifest(target, opts.schema, opts.manifest)
    if frames:
        report.out.print(report.load_table(core[0].rows, core[0].copy_seconds,
                                           {k: fingerprint(f, k) for k, f in frames.items()}))
        rows.update(core[0].rows)
    if ev is not None and r.window:
        report.out.print(report.event_load_table(ev))
        rows.update(ev.rows)
    report.out.print(f"Regenerated {', '.join(s.key for s in r.steps)} in schema {opts.schema} in "
                     f"{time.perf_counter() - t0:.1f} s; untouched: {', '.join(r.untouched) or 'nothing else'}. "
                     f"{_recorded(opts.schema, opts.manifest)}")
    return rows
