"""generate → validate → load, and nothing else: each stage lives in its own module."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from datagen import checks, db, embedded, report
from datagen.config import Config
from datagen.errors import ValidationFailed
from datagen.generate import Generated, generate
from datagen.load import LoadResult, confirm_replace, existing_rows, load
from datagen.manifest import build_manifest, check_writable, fingerprint, write_manifest
from datagen.plan import make_plan
from datagen.tables import CORE_TABLES


@dataclass(frozen=True)
class Options:
    config_path: str
    schema: str
    database_url: str | None
    yes: bool
    dry_run: bool
    manifest: Path | None  # None: <DATAGEN_HOME>/manifests/<schema>.json
    progress: bool


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
    confirm_replace(existing_rows(target, opts.schema, CORE_TABLES), opts.schema, yes=opts.yes)
    total = sum(counts.values())
    with report.progress(total, "COPY", enabled=opts.progress) as advance:
        result: LoadResult = load(gen.frames, target, schema=opts.schema, on_progress=advance)

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
