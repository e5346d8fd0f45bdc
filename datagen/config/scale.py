"""`--scale S`: the config with S times the accounts, and so S times everything built below them.

Every share, range and rate stays as written: sizes, industries and regions split the scaled total by largest
remainder, as they split the written one. The id ranges grow with S (never shrink) up to each table's declared
max_id, so a range that held the written plan holds the scaled one. `--scale 1` returns the config itself, so it
is byte-identical to no flag at all.
"""

from __future__ import annotations

import dataclasses
import math

from datagen.config.model import ID_LIMITS, MAX_ACCOUNTS, Config
from datagen.errors import UsageError

DEFAULT_SCALE = 1.0


def scale_config(cfg: Config, scale: float) -> Config:
    """cfg with round(accounts.total x scale) accounts (half up) and id ranges widened by scale when it is > 1."""
    if not math.isfinite(scale) or scale <= 0:
        raise UsageError(f"--scale {scale:g} must be a positive number", hint="e.g. --scale 0.1 or --scale 4")
    if scale == DEFAULT_SCALE:
        return cfg
    accounts = math.floor(cfg.accounts_total * scale + 0.5)
    if accounts < 1:
        smallest = 0.5 / cfg.accounts_total
        raise UsageError(f"--scale {scale:g} leaves no account (accounts.total {cfg.accounts_total} x {scale:g} "
                         f"rounds to 0)", hint=f"use --scale {smallest:.3g} or more")
    if accounts > MAX_ACCOUNTS:
        raise UsageError(f"--scale {scale:g} plans {accounts:,} accounts, more than the {MAX_ACCOUNTS:,} a run may "
                         "plan", hint=f"use --scale {MAX_ACCOUNTS / cfg.accounts_total:g} or less")
    ranges = []
    for table, (lo, hi) in cfg.id_ranges:
        limit = ID_LIMITS[table].max_id
        if table not in cfg.auto_ids and scale > 1:
            hi = min(lo + math.ceil((hi - lo + 1) * scale) - 1, limit)
        ranges.append((table, (lo, hi)))
    return dataclasses.replace(cfg, accounts_total=accounts, id_ranges=tuple(ranges), scale=scale)


def at_limit(cfg: Config, table: str) -> str | None:
    """When id_ranges.<table> already ends at the table's max_id, what to say instead of "widen it"."""
    t = ID_LIMITS[table]
    if cfg.id_range(table)[1] < t.max_id:
        return None
    return (f"{table} ids cannot go past {t.max_id:,} ({t.max_id_reason}): lower --scale or the counts and rates "
            "in the config")
