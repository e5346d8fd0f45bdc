"""generate → validate → load, and nothing else: each stage lives in its own module."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datagen import checks, db, embedded, events, load_events, regenerate, report, validate
from datagen.config import Config
from datagen.errors import ValidationFailed
from datagen.generate import Generated, generate
from datagen.load import LoadResult, ask, confirm_replace, existing_rows, load
from datagen.manifest import (
    MANIFEST_VERSION,
    build_manifest,
    check_writable,
    fingerprint,
    read_manifest,
    with_events,
    write_manifest,
)
from datagen.plan import make_plan
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES, dependents


@dataclass(frozen=True)
class Options:
    config_path: str
    schema: str
    database_url: str | None
    yes: bool
    dry_run: bool
    manifest: Path | None  # None: <DATAGEN_HOME>/manifests/<schema>.json
    progress: bool
    only: tuple[str, ...] | None = None  # regenerate these tables and their dependents (regenerate.py)
    adopt: bool = False  # take over same-named tables datagen did not create


def validate_frames(cfg: Config) -> tuple[Generated, list[checks.Outcome]]:
    """Generate in memory and run the pre-load checks; raises ValidationFailed on any violation."""
    gen = generate(cfg)
    outcomes = checks.run_checks(gen.frames, cfg)
    if any(not o.passed for o in outcomes):
        report.out.print(report.checks_table(outcomes))
        raise ValidationFailed(report.failures_text(outcomes))
    return gen, outcomes


def run_generate(cfg: Config, opts: Options) -> dict[str, int]:
    """The main job. Returns rows per table loaded (or planned, for a dry run)."""
    if opts.only is not None:
        return run_regenerate(cfg, opts)
    t0 = time.perf_counter()
    gen, outcomes = validate_frames(cfg)
    check_s = sum(o.seconds for o in outcomes)
    counts = {k: f.height for k, f in gen.frames.items()}
    if opts.dry_run:
        report.out.print(report.plan_table(make_plan(cfg, counts)))
        report.out.print(f"{len(outcomes)} pre-load checks passed. Dry run: nothing was written.")
        return counts

    manifest_path = opts.manifest or (embedded.home_dir() / "manifests" / f"{opts.schema}.json")
    check_writable(manifest_path)
    target = db.resolve(opts.database_url)
    report.err.print(f"Target: {target.display} ({target.source}), schema {opts.schema}")
    confirm_replace(existing_rows(target, opts.schema, CORE_TABLES + EVENT_TABLES), opts.schema, yes=opts.yes)
    total = sum(counts.values())
    with report.progress(total, "COPY", enabled=opts.progress) as advance:
        result: LoadResult = load(gen.frames, target, schema=opts.schema, on_progress=advance, adopt=opts.adopt)

    fps = {k: fingerprint(f, k) for k, f in gen.frames.items()}
    manifest = build_manifest(gen.frames, seed=cfg.seed, config_path=opts.config_path, schema=opts.schema,
                              target=target.display)
    write_manifest(manifest, manifest_path)

    report.out.print(report.load_table(result.rows, result.copy_seconds, fps))
    report.out.print(report.distribution_table(gen.frames, cfg))
    stages = {"generate": gen.seconds, "validate (pre-load)": check_s, "COPY": sum(result.copy_seconds.values()),
              "keys (PK + FK)": result.constraint_seconds, "total": time.perf_counter() - t0}
    report.out.print(report.stages_table(stages, total))
    report.out.print(f"Loaded {total:,} rows into schema {opts.schema} at {target.display}"
                     + (f", replacing {result.replaced_rows:,} rows" if result.replaced_rows else "")
                     + f". Manifest: {manifest_path}")
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


def run_generate_events(cfg: Config, opts: EventOptions) -> dict[str, int]:
    """Plan, then stream the event partitions of the window into the database. Returns rows per table."""
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

    manifest_path = opts.manifest or (embedded.home_dir() / "manifests" / f"{opts.schema}.json")
    check_writable(manifest_path)
    target = db.resolve(opts.database_url)
    report.err.print(f"Target: {target.display} ({target.source}), schema {opts.schema}; "
                     f"days {plan.window[0]} to {plan.window[1]}")
    load_events.prepare(target, opts.schema, gen, plan, full_range=full_range, yes=opts.yes,
                        confirm=lambda q: ask(q, yes=opts.yes), gen_digest=streams.digest,
                        layout=cfg.events.tap_layout, adopt=opts.adopt)
    total = sum(plan.window_rows.values())
    with report.progress(total, "events", enabled=opts.progress, speed=True) as advance:
        result = load_events.load_events(streams, plan, target, schema=opts.schema, full_range=full_range,
                                         workers=opts.workers, connections=opts.connections,
                                         batch_rows=opts.batch_rows, on_progress=advance, adopt=opts.adopt)

    names = {k: {d: TABLES[k].partition_name(d) for d in days} for k, days in result.partitions.items()}
    base = {"manifest_version": MANIFEST_VERSION, "seed": cfg.seed, "config": opts.config_path, "schema": opts.schema,
            "target": target.display, "event_tables": {t.key: t.name for t in EVENT_TABLES}}
    manifest = with_events(read_manifest(manifest_path), result.partitions, names, full_range=full_range,
                           window=(str(plan.window[0]), str(plan.window[1])), range_rows=plan.range_rows, base=base,
                           layouts={k: TABLES[k].layout_of(cfg.events.tap_layout) for k in plan.parts})
    write_manifest(manifest, manifest_path)

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
                     + f"; {len(result.outcomes):,} partition checks passed. Manifest: {manifest_path}")
    if target.source == "embedded server":
        report.out.print(f"Connect: psql '{target.conninfo}'")
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


def run_validate(cfg: Config, opts: ValidateOptions) -> int:
    """Read the database back and check it; returns the exit code (0 passed, 1 violations)."""
    manifest_path = opts.manifest or (embedded.home_dir() / "manifests" / f"{opts.schema}.json")
    vopts = validate.Options(schema=opts.schema, manifest_path=manifest_path, manifest_given=opts.manifest is not None,
                             tables=opts.tables, checks=opts.checks, connections=opts.connections)
    validate.check_selection(vopts)
    target = db.resolve(opts.database_url)
    report.err.print(f"Target: {target.display} ({target.source}), schema {opts.schema}; manifest {manifest_path}")
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


def run_regenerate(cfg: Config, opts: Options) -> dict[str, int]:
    """`generate --only`: the asked tables and their dependents, checked and replaced; the rest untouched."""
    assert opts.only is not None
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
    manifest_path = opts.manifest or (embedded.home_dir() / "manifests" / f"{opts.schema}.json")
    check_writable(manifest_path)
    replaced = sum(s.rows_before or 0 for s in r.steps)
    if replaced:
        ask(f"Regenerate {len(r.steps)} tables in schema {opts.schema} ({', '.join(s.key for s in r.steps)}), "
            f"replacing {replaced:,} rows?", yes=opts.yes)
    frames = {k: gen.frames[k] for k in r.core}
    rows: dict[str, int] = {}
    core: list[LoadResult] = []
    ev: load_events.EventLoad | None = None
    total = sum(f.height for f in frames.values()) + sum(s.rows_after for s in r.steps if TABLES[s.key].partitioned)
    with report.progress(total, "regenerate", enabled=opts.progress, speed=True) as advance:
        def replace_core(before_commit: Callable[[Any], None] | None = None) -> None:
            core.append(load(frames, target, schema=opts.schema, on_progress=advance, before_commit=before_commit,
                             adopt=opts.adopt))

        if r.events and r.window:
            # the event days are staged first, then swapped in inside the core tables' transaction
            streams = events.Streams(cfg, gen)
            plan = streams.plan(tuple(r.events), *r.window)
            full_range = plan.window == (cfg.events.start_date, cfg.events.end_date)
            load_events.prepare(target, opts.schema, gen, plan, full_range=full_range, yes=True,
                                confirm=lambda _q: None, gen_digest=streams.digest, parents=not frames,
                                layout=cfg.events.tap_layout,
                                adopt=opts.adopt)
            ev = load_events.load_events(streams, plan, target, schema=opts.schema, full_range=full_range,
                                         on_progress=advance, replacing_core=replace_core if frames else None,
                                         adopt=opts.adopt)
        elif frames:
            replace_core()
    manifest = read_manifest(manifest_path) or {}
    if frames:
        fresh = build_manifest(frames, seed=cfg.seed, config_path=opts.config_path, schema=opts.schema,
                               target=target.display)
        manifest = {**manifest, **{k: v for k, v in fresh.items() if k != "tables"},
                    "tables": {**(manifest.get("tables") or {}), **fresh["tables"]}}
        emptied = {t.key for t in dependents(set(r.core)) if t.partitioned}
        manifest["events"] = {k: v for k, v in (manifest.get("events") or {}).items() if k not in emptied}
        report.out.print(report.load_table(core[0].rows, core[0].copy_seconds,
                                           {k: fingerprint(f, k) for k, f in frames.items()}))
        rows.update(core[0].rows)
    if ev is not None and r.window:
        names = {k: {d: TABLES[k].partition_name(d) for d in days} for k, days in ev.partitions.items()}
        base = {"manifest_version": MANIFEST_VERSION, "seed": cfg.seed, "config": opts.config_path,
                "schema": opts.schema, "target": target.display,
                "event_tables": {t.key: t.name for t in EVENT_TABLES}}
        manifest = with_events(manifest, ev.partitions, names, full_range=False,
                               window=(str(r.window[0]), str(r.window[1])), range_rows=plan.range_rows, base=base,
                               layouts={k: TABLES[k].layout_of(cfg.events.tap_layout) for k in plan.parts})
        report.out.print(report.event_load_table(ev))
        rows.update(ev.rows)
    write_manifest(manifest, manifest_path)
    report.out.print(f"Regenerated {', '.join(s.key for s in r.steps)} in schema {opts.schema} in "
                     f"{time.perf_counter() - t0:.1f} s; untouched: {', '.join(r.untouched) or 'nothing else'}. "
                     f"Manifest: {manifest_path}")
    return rows
