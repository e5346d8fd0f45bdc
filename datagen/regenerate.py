"""`generate --only T1,T2`: regenerate some tables and everything that depends on them, nothing else.

The closure comes from the table declarations (foreign keys, then derived_from: subscriptions' tiers follow
device counts). Every table has its own random stream, so the tables outside the closure are the ones this
config would generate anyway; the ones the closure's tables point at must already be in the database, equal
to what this config generates (checked by fingerprint), or the run is refused naming the table and the
command that fixes it. The core tables of the closure are replaced in one transaction (load.load, which
empties the event tables that reference them); the event tables of the closure are then regenerated for the
days they held, with generate-events' own atomic swap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg

from datagen import events, manifest_store, readback
from datagen.catalog import existing_partitions
from datagen.config import Config
from datagen.db import Target, connect, describe, redact
from datagen.errors import DatabaseError, RefusedError, UsageError
from datagen.generate import Generated
from datagen.load import existing_rows
from datagen.manifest import core_scale, scale_mismatch
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES, dependency_closure, parents_of, same_day_parents


@dataclass(frozen=True)
class Step:
    key: str
    why: str
    rows_before: int | None  # None: the table does not exist yet
    rows_after: int


@dataclass(frozen=True)
class Regeneration:
    steps: list[Step]
    core: list[str]  # core tables replaced in one transaction, load order
    events: list[str]  # event tables regenerated afterwards (sessions and page views together)
    window: tuple[dt.date, dt.date] | None  # the days the event tables held (and will hold again)
    untouched: list[str]


def closure(only: tuple[str, ...]) -> dict[str, str]:
    """The asked tables and their dependents, parents first: table -> why it is included."""
    unknown = [t for t in only if t not in TABLES]
    if unknown or not only:
        raise UsageError(f"--only: unknown table {', '.join(unknown)}" if unknown else "--only: no table given",
                         hint=f"choose from {', '.join(TABLES)}")
    why = dependency_closure(set(only))
    asked_events = tuple(k for k in why if TABLES[k].partitioned)
    # a table built from another's same day takes its ids from it: the two are loaded together
    for k in events.event_tables(asked_events) if asked_events else ():
        linked = [t.key for t in EVENT_TABLES if k in same_day_parents(t) or t.key in same_day_parents(TABLES[k])]
        why.setdefault(k, f"loaded together with {', '.join(linked)}: their ids follow one another's same day")
    order = [t.key for t in CORE_TABLES + EVENT_TABLES]
    return {k: why[k] for k in order if k in why}


def plan(cfg: Config, gen: Generated, target: Target, schema: str, only: tuple[str, ...]) -> Regeneration:
    """What `--only` would do, after checking that everything outside it is in place; writes nothing."""
    why = closure(only)
    counts = existing_rows(target, schema, list(TABLES.values()))
    try:
        with connect(target) as conn, conn.cursor() as cur:
            days = {k: sorted(filter(None, map(TABLES[k].day_of, existing_partitions(cur, schema, TABLES[k]))))
                    for k in why if TABLES[k].partitioned and k in counts}
            manifest = manifest_store.read(cur, schema)
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read schema {schema} at {describe(target.conninfo)}; nothing was changed: "
                            f"{redact(str(exc).strip().splitlines()[0])}") from None
    mismatch = scale_mismatch(manifest, cfg.scale, f"schema {schema}")
    if mismatch is not None and any(counts.get(k) for k in TABLES if k not in why):
        raise RefusedError(f"{mismatch}: --only would put new rows next to tables of another scale; nothing was "
                           "changed", hint=f"pass --scale {core_scale(manifest):g}, or regenerate everything at "
                           f"--scale {cfg.scale:g}: `just generate --scale {cfg.scale:g}`")
    _check_outside(cfg, gen, target, schema, why, counts, only)
    held = sorted({d for ds in days.values() for d in ds})
    window = (held[0], held[-1]) if held else None
    ev_keys = [k for k in why if TABLES[k].partitioned and days.get(k)]
    after: dict[str, int] = {k: gen.frames[k].height for k in why if not TABLES[k].partitioned}
    if ev_keys and window:
        streams = events.Streams(cfg, gen)
        p = streams.plan(tuple(ev_keys), *window)
        after.update(p.window_rows)
    steps = [Step(k, w, counts.get(k), after.get(k, 0)) for k, w in why.items()]
    untouched = [t.key for t in CORE_TABLES + EVENT_TABLES if t.key not in why and t.key in counts]
    return Regeneration(steps, [k for k in why if not TABLES[k].partitioned], ev_keys, window, untouched)


def _check_outside(cfg: Config, gen: Generated, target: Target, schema: str, why: dict[str, str],
                   counts: dict[str, int], only: tuple[str, ...]) -> None:
    """Every core table the closure points at (and is not part of it) must be in the database, as this
    config generates it; else refuse, naming the table and the command that fixes it."""
    needed: dict[str, str] = {}
    for key in why:
        for parent, reason in parents_of(TABLES[key]):
            if parent not in why and not TABLES[parent].partitioned:
                needed.setdefault(parent, reason)
    asked = ",".join(only)
    readback.check_parents(
        target, schema, {k: gen.frames[k] for k in needed}, {k: f"--only {asked}: {r}" for k, r in needed.items()},
        present={k for k, n in counts.items() if n}, consequence="the new rows would not fit it",
        missing_hint=lambda k: f"load it first: {_fix(k, asked)}",
        differ_hint=lambda k: f"regenerate it too: {_fix(k, asked)}")


def _fix(parent: str, asked: str) -> str:
    return f"`just generate --only {parent},{asked}` (or `just generate` for everything)"
