"""`--scale S`: the config with S times the accounts, and so S times everything built below them.

Every share, range and rate stays as written: sizes, industries and regions split the scaled total by largest
remainder, as they split the written one. Every id range grows to fit, as `auto` does: its ids start where the
written range starts, and the plan takes as many as it needs up to the table's declared max_id. `--scale 1`
returns the config itself, so it is byte-identical to no flag at all.
"""

from __future__ import annotations

import dataclasses
import math

from datagen.config.model import ID_LIMITS, MAX_ACCOUNTS, Config
from datagen.errors import UsageError

DEFAULT_SCALE = 1.0


def scale_config(cfg: Config, scale: float) -> Config:
    """cfg with round(accounts.total x scale) accounts (half up) and every id range grown to fit."""
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
    # every range grows to fit: its ids start where it starts, and the plan takes as many as it needs up to the
    # table's limit (a scaled plan is drawn anew, so no fixed factor is sure to hold it)
    ranges = tuple((table, (lo, ID_LIMITS[table].max_id)) for table, (lo, _) in cfg.id_ranges)
    return dataclasses.replace(cfg, accounts_total=accounts, id_ranges=ranges,
                               auto_ids=tuple(t for t, _ in cfg.id_ranges), scale=scale)


def at_limit(cfg: Config, table: str) -> str | None:
    """When id_ranges.<table> already ends at the table's max_id, what to say instead of "widen it"."""
    t = ID_LIMITS[table]
    if cfg.id_range(table)[1] < t.max_id:
        return None
    return (f"{table} ids cannot go past {t.max_id:,} ({t.max_id_reason}): lower --scale or the counts and rates "
            "in the config")
