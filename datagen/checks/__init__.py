"""Stage 2: the validation catalogue, join-based in Polars, run on frames before anything is written.

Each check has a stable name, a severity and a one-line description, and returns the offending keys. The
checks of datagen/checks/declared.py follow from the table declarations; rules.py and partition.py hold the
business rules; _kernels.py the joins they share.
"""

from __future__ import annotations

import time

from datagen.checks._model import PARTITION, SAMPLE_KEYS, Check, Frames, Outcome
from datagen.checks.declared import core_checks, partition_checks
from datagen.checks.partition import partition_rules
from datagen.checks.rules import core_rules
from datagen.config import Config
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES, Table

__all__ = ["PARTITION", "SAMPLE_KEYS", "Check", "Frames", "Outcome", "catalogue", "partition_catalogue", "run_checks",
           "table_of"]


def catalogue() -> list[Check]:
    """Every check of the core tables, in a stable order: the declared ones table by table, then the rules."""
    return [c for t in CORE_TABLES for c in core_checks(t)] + core_rules()


def partition_catalogue() -> list[Check]:
    """The checks each event partition passes before it is copied (frames: parents + partition)."""
    return [c for t in EVENT_TABLES for c in partition_checks(t)] + partition_rules()


def run_checks(frames: Frames, cfg: Config, *, names: set[str] | None = None,
               partition: str | None = None) -> list[Outcome]:
    """Run every check whose tables are all present (and, if names is given, whose name is listed).

    partition: an event table key; runs that table's partition checks (frames hold one partition of it).
    """
    outcomes = []
    for check in partition_catalogue() if partition else catalogue():
        if names is not None and check.name not in names:
            continue
        if partition and check.tables[0] != partition:
            continue
        if not all(t in frames for t in check.tables):
            continue
        t0 = time.perf_counter()
        bad = check.run(frames, cfg)
        outcomes.append(Outcome(check, bad.len(), bad.head(SAMPLE_KEYS).to_list(), time.perf_counter() - t0))
    return outcomes


def table_of(check: Check) -> Table:
    return TABLES[check.tables[0]]
