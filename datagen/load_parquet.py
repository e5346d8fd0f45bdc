"""The Parquet sink (`--sink parquet --out PATH_OR_URL`): the core tables and the event partitions written as
Parquet files (parquet_store.Dataset), checked before they are written, with the manifest written after them.

Each file appears whole or not at all, so a failed or interrupted run leaves every file either as it was or as
it would have been. Before the first file is replaced, the manifest stops listing what the run replaces (the core
tables, or the days of the window); the complete manifest is written after the last file. So what the manifest
lists is always what the files hold, and an interrupted run leaves the days it touched unlisted.
The same rules as the PostgreSQL sink decide what may be replaced: existing files only after the question (or
--yes), a window only next to days made from the same config and core tables, events only on core tables this
config generates.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import polars as pl

from datagen import checks, events, executors, tuning
from datagen.builders import Part
from datagen.config import Config, config_digest
from datagen.errors import RefusedError
from datagen.generate import Generated
from datagen.load_events import EventLoad
from datagen.manifest import MANIFEST_VERSION, combine, fingerprint, scale_mismatch, table_entries
from datagen.parquet_store import Compression, Dataset
from datagen.prompt import ask
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES, ancestors

if TYPE_CHECKING:
    from distributed import Client

LAYOUT = "typed"  # Parquet stores the typed columns: it has no jsonb, and the fingerprints read those anyway


def _new_manifest(cfg: Config, old: dict[str, Any] | None) -> dict[str, Any]:
    return {"manifest_version": MANIFEST_VERSION, "sink": "parquet", "schema": None, "seed": cfg.seed,
            "config_digest": config_digest(cfg), "tables": {}, "events": {}, "runs": list((old or {}).get("runs", []))}


def _finish(manifest: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    manifest["runs"].append({**run, "ended_at": dt.datetime.now(dt.UTC).isoformat()})
    last = manifest["runs"][-1]
    manifest["seed"], manifest["config_digest"] = last.get("seed"), last.get("config_digest")
    return manifest


def _held_rows(manifest: dict[str, Any] | None) -> int:
    m = manifest or {}
    return sum(int(e.get("rows") or 0) for e in m.get("tables", {}).values()) + sum(
        int(e.get("rows") or 0) for e in m.get("events", {}).values())


def write_core(cfg: Config, gen: Generated, ds: Dataset, *, yes: bool, compression: Compression, run: dict[str, Any],
               on_progress: Callable[[str, int], None] | None = None) -> dict[str, float]:
    """The core tables, one file each; the event tables (built on the rows replaced) are removed, as the
    PostgreSQL sink empties them. Returns the seconds each table took to write."""
    old = ds.read_manifest()
    present = [t.key for t in CORE_TABLES + EVENT_TABLES if ds.has_table(t)]
    if present:
        held = _held_rows(old)
        ask(f"Replace {len(present)} tables in {ds.display}" + (f" holding {held:,} rows" if held else "")
            + (" (the event tables depend on them and are removed too)"
               if any(TABLES[k].partitioned for k in present) else "") + "?", yes=yes)
    # first a manifest that lists nothing: while files are replaced, nothing may trust the old fingerprints
    ds.write_manifest(_new_manifest(cfg, old))
    seconds: dict[str, float] = {}
    for t in CORE_TABLES:
        t0 = time.perf_counter()
        ds.write([gen.frames[t.key]], ds.core_file(t), compression)
        seconds[t.key] = time.perf_counter() - t0
        if on_progress:
            on_progress(t.key, gen.frames[t.key].height)
    for t in EVENT_TABLES:
        ds.delete_dir(ds.path(t.key))
    manifest = _new_manifest(cfg, old)
    manifest["tables"] = table_entries(gen.frames)
    ds.write_manifest(_finish(manifest, run))
    return seconds


def check_core(cfg: Config, gen: Generated, ds: Dataset, manifest: dict[str, Any] | None, keys: set[str]) -> None:
    """The core tables the event tables are built on must be in the dataset as this config generates them (the
    manifest records their fingerprints, written with their files)."""
    fix = f"run `just generate --sink parquet --out {ds.display}` with the same --config first"
    tables = (manifest or {}).get("tables") or {}
    if not tables:
        raise RefusedError(f"{ds.display} holds no core tables (no manifest lists them): events reference the "
                           "core entities; nothing was written", hint=fix)
    mismatch = scale_mismatch(manifest, cfg.scale, ds.display)
    if mismatch is not None:
        raise RefusedError(f"{mismatch}; nothing was written", hint=f"pass the same --scale, or {fix}")
    for t in ancestors(keys):
        want = fingerprint(gen.frames[t.key], t.key)
        if (tables.get(t.key) or {}).get("fingerprint") != want:
            raise RefusedError(f"{t.key} in {ds.display} is not what this config and seed generate, so events "
                               "would not match their parents; nothing was written", hint=fix)


def _check_window(streams: events.Streams, plan: events.Plan, manifest: dict[str, Any] | None, ds: Dataset) -> None:
    """A window goes only next to days made from the same config and core tables (their digest) with the ids
    this plan gives them."""
    man_events = (manifest or {}).get("events") or {}
    for key in plan.parts:
        t = TABLES[key]
        listed = (man_events.get(key) or {}).get("partitions") or {}
        for day in ds.days(t):
            if plan.window[0] <= day <= plan.window[1]:
                continue
            entry = listed.get(day.isoformat())
            want = plan.all_spans[key].get(day)
            if (entry is None or entry.get("digest") != streams.digest
                    or want is None or (entry.get("first_id"), entry.get("rows")) != want):
                raise RefusedError(
                    f"{ds.display}: {key} day {day} was not generated from this config and seed, so a window cannot "
                    "be added next to it; nothing was written",
                    hint="regenerate the whole event range: `just generate-events --sink parquet` without "
                         "--start/--end")


def write_part(streams: events.Streams, part: Part, *, ds: Dataset, compression: Compression) -> tuple[
        Part, str, list[executors.OutcomeRow], str]:
    """One partition built, checked and written to its file (on a build thread or a Dask worker), a slice of
    tuning.PARQUET_SLICE_ROWS rows at a time: each slice is one row group, and memory holds one slice."""
    executors.wait_if_asked()
    fingerprints: list[str] = []
    outcomes: list[list[checks.Outcome]] = []

    def slices() -> Iterator[pl.DataFrame]:
        for built in events.build_passed_slices(streams, part, tuning.PARQUET_SLICE_ROWS):
            fingerprints.append(built.fingerprint)
            outcomes.append(built.outcomes)
            yield built.frame
            del built  # before the next slice is built: one slice in memory at a time

    path = ds.part_file(TABLES[part.table], part.day, part.block)
    ds.write(slices(), path, compression)
    executors.wait_if_asked("after")
    return part, combine(fingerprints), executors.outcome_rows(events.merged(outcomes)), path


def write_events(streams: events.Streams, plan: events.Plan, ds: Dataset, *, full_range: bool, yes: bool,
                 compression: Compression, workers: int, run: dict[str, Any],
                 on_progress: Callable[[str, int], None] | None = None, client: Client | None = None) -> EventLoad:
    """The plan's partitions, one file per day and block, built and checked on `workers` threads, or as the
    tasks of a Dask cluster (client)."""
    t0 = time.perf_counter()
    manifest = ds.read_manifest()
    check_core(streams.cfg, streams.gen, ds, manifest, set(plan.parts))
    if not full_range:
        _check_window(streams, plan, manifest, ds)
    existing = {key: ds.days(TABLES[key]) for key in plan.parts}
    replaced = [(k, d) for k, days in existing.items() for d in days if full_range or d in set(plan.days)]
    if replaced:
        what = "every day" if full_range else f"{plan.window[0]} to {plan.window[1]}"
        ask(f"Replace {len(replaced)} existing day partitions ({what}) of {', '.join(plan.parts)} in "
            f"{ds.display}?", yes=yes)

    if manifest is not None:  # the days about to be rewritten are no longer vouched for until the run completes
        ds.write_manifest(_without_window(manifest, plan, full_range))
    result = EventLoad({k: 0 for k in plan.parts}, {k: {} for k in plan.parts}, [], 0.0, 0.0, len(replaced), 0.0)
    written: dict[str, dict[dt.date, list[tuple[int, str, str]]]] = {k: {} for k in plan.parts}  # block, fp, file

    task = functools.partial(write_part, ds=ds, compression=compression)
    todo = [p for p in events.iter_parts(plan) if p.rows]
    tc = time.perf_counter()
    done = (executors.map_unordered(client, streams, task, todo, "parquet") if client is not None
            else _in_order(functools.partial(task, streams), todo, workers))
    checked: dict[tuple[str, dt.date, int], list[executors.OutcomeRow]] = {}
    for part, fp, outcomes, path in done:
        written[part.table].setdefault(part.day, []).append((part.block, fp, path))
        checked[(part.table, part.day, part.block)] = outcomes
        result.rows[part.table] += part.rows
        if on_progress:
            on_progress(part.table, part.rows)
    result.copy_seconds = time.perf_counter() - tc
    for p in todo:  # in plan order, whichever finished first
        result.outcomes.extend(executors.outcomes_of(checked[(p.table, p.day, p.block)]))

    ts = time.perf_counter()
    man = _new_manifest(streams.cfg, manifest)
    man["tables"] = (manifest or {}).get("tables", {})
    man["events"] = {k: v for k, v in ((manifest or {}).get("events") or {}).items() if k not in plan.parts}
    for key in plan.parts:
        t = TABLES[key]
        kept = {} if full_range else {
            d: e for d, e in (((manifest or {}).get("events") or {}).get(key, {}).get("partitions") or {}).items()
            if not plan.window[0] <= dt.date.fromisoformat(d) <= plan.window[1]}
        ours = {p for files in written[key].values() for _, _, p in files}
        for day, files in existing[key].items():  # what this run did not write in its days (or, whole range, at all)
            if full_range or plan.window[0] <= day <= plan.window[1]:
                stale = [f for f in files if f not in ours] + ds.leftovers(ds.day_dir(t, day))
                ds.delete_files(stale)
                if day not in written[key]:
                    ds.delete_dir(ds.day_dir(t, day))
        for day, blocks in sorted(written[key].items()):
            first, rows = plan.all_spans[key][day]
            fps = [fp for _, fp, _ in sorted(blocks)]
            kept[day.isoformat()] = {"partition": t.partition_name(day), "first_id": first, "rows": rows,
                                     "fingerprint": combine(fps), "layout": LAYOUT, "digest": streams.digest,
                                     "files": [path[len(ds.root) + 1:] for _, _, path in sorted(blocks)]}
            result.partitions[key][day] = (first, rows, combine(fps))
        parts = dict(sorted(kept.items()))
        spans = [(int(e["first_id"]), int(e["rows"])) for e in parts.values() if e["rows"]]
        man["events"][key] = {"table": t.name, "rows": sum(int(e["rows"]) for e in parts.values()),
                              "range_rows": plan.range_rows[key], "layout": LAYOUT,
                              "first_id": min((a for a, _ in spans), default=None),
                              "last_id": max((a + n - 1 for a, n in spans), default=None),
                              "fingerprint": combine([str(e["fingerprint"]) for e in parts.values()]),
                              "partitions": parts}
    ds.write_manifest(_finish(man, run))
    result.swap_seconds = time.perf_counter() - ts
    result.total_seconds = time.perf_counter() - t0
    return result


def _without_window(manifest: dict[str, Any], plan: events.Plan, full_range: bool) -> dict[str, Any]:
    """The manifest with the days this run rewrites taken out (every day of its tables, for the whole range)."""
    out = {**manifest, "events": dict(manifest.get("events") or {})}
    for key in plan.parts:
        entry = out["events"].get(key)
        if not entry:
            continue
        kept = {} if full_range else {d: e for d, e in (entry.get("partitions") or {}).items()
                                      if not plan.window[0] <= dt.date.fromisoformat(d) <= plan.window[1]}
        out["events"][key] = {**entry, "partitions": kept, "rows": None, "fingerprint": None}
    return out


def _in_order(job: Callable[[Part], tuple[Part, str, list[executors.OutcomeRow], str]], parts: list[Part],
              workers: int) -> Iterator[tuple[Part, str, list[executors.OutcomeRow], str]]:
    """job over parts on `workers` threads, results in plan order, at most 2 x workers parts in flight."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending = []
        for part in parts:
            pending.append(pool.submit(job, part))
            if len(pending) >= 2 * max(1, workers):
                yield pending.pop(0).result()
        for f in pending:
            yield f.result()

