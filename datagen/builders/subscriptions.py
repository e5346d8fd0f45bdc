"""Subscriptions: one current row per account (trial, active or canceled) and upgrade history rows.

Rows of one account never overlap: each covers [start_date, end_date), and an upgrade ends the old row
on the day the new one starts. The current tier is the smallest whose device limit holds the account's
devices.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import polars as pl

from datagen.builders._common import DAY, allocate_ids, epoch, grown, to_datetime
from datagen.config import Config

TERM_DAYS = {"monthly": 30, "quarterly": 91, "annual": 365}
UPGRADE_MIN_LEAD_DAYS = 90  # an upgrade comes at least a quarter into the paid life
UPDATED_MAX_DAYS = 30


def _outgrown(accounts: pl.DataFrame, devices: pl.DataFrame, limit: npt.NDArray[np.int64],
              end: int) -> npt.NDArray[np.int64]:
    """Per account: when its (limit + 1)-th device was installed (end + 1 when it never was)."""
    order = devices.select("customer_id", pl.col("created_at").dt.epoch("s").alias("t")).sort("customer_id", "t")
    acc = order["customer_id"].to_numpy()
    t = order["t"].to_numpy()
    starts = np.searchsorted(acc, accounts["id"].to_numpy(), side="left")
    ends = np.searchsorted(acc, accounts["id"].to_numpy(), side="right")
    pos = starts + limit  # the (limit + 1)-th device, 0-based
    hit = pos < ends
    out = np.full(accounts.height, end + 1, dtype=np.int64)
    out[hit] = t[pos[hit]]
    return out


def build(cfg: Config, parents: Mapping[str, pl.DataFrame], rng: np.random.Generator) -> pl.DataFrame:
    accounts, devices = parents["accounts"], parents["devices"]
    sub = cfg.subscriptions
    n_acc = accounts.height
    end = epoch(cfg.end)
    counts = (accounts.select("id").join(devices.group_by("customer_id").len(), left_on="id",
                                         right_on="customer_id", how="left", maintain_order="left")
              ["len"].fill_null(0).to_numpy().astype(np.int64))
    limits = np.array([t.device_limit if t.device_limit is not None else np.iinfo(np.int64).max
                       for t in sub.tiers], dtype=np.int64)
    tier = np.searchsorted(limits, counts, side="left")  # first tier whose limit >= count

    on_trial = accounts["_on_trial"].to_numpy()
    churned = accounts["_churned"].to_numpy()
    trial_start = accounts["_trial_start"].dt.epoch("s").to_numpy()
    paid_start = accounts["_trial_end"].dt.epoch("s").to_numpy()
    stop = np.where(churned, accounts["_churn_at"].dt.epoch("s").fill_null(end).to_numpy(), end)

    life = stop - paid_start
    lead = UPGRADE_MIN_LEAD_DAYS * DAY
    min_life = max(sub.upgrade_min_age_days * DAY, 2 * lead + DAY)
    # the lower tier holds the fleet until it outgrows that tier's limit (device_expansion grows fleets):
    # an upgrade comes no later than the installation that would break the limit
    outgrown = _outgrown(accounts, devices, np.where(tier > 0, limits[np.maximum(tier - 1, 0)], 0), end)
    eligible = ~on_trial & (tier > 0) & (life >= min_life) & (outgrown >= paid_start + lead)
    upgraded = eligible & (rng.random(n_acc) < sub.upgrade_share)
    # growth_patterns.monthly_growth_rate.mrr: upgrades come later in the paid life the faster MRR grows
    window = np.maximum(life - 2 * lead, 1)
    upgrade_at = paid_start + lead + np.floor(grown(rng.random(n_acc), window, cfg.growth_rate("mrr"), later=True)
                                              * window).astype(np.int64)
    upgrade_at = np.minimum(upgrade_at, outgrown)
    reason_idx = rng.integers(0, len(cfg.churn_reasons), n_acc)

    # current rows
    cur_start = np.where(on_trial, trial_start, np.where(upgraded, upgrade_at, paid_start))
    cur_tier = tier
    plan_keys = [t.key for t in sub.tiers]
    prices = np.array([t.price for t in sub.tiers])
    current = pl.DataFrame({
        "customer_id": accounts["id"],
        "_order": np.ones(n_acc, dtype=np.int64),
        "plan_name": pl.Series(np.where(on_trial, "trial", np.array(plan_keys)[cur_tier]).astype(str)),
        "status": pl.Series(np.where(on_trial, "trial", np.where(churned, "canceled", "active")).astype(str)),
        "_start": cur_start,
        "_end": np.where(churned, stop, -1),
        "monthly_price": np.where(on_trial, sub.trial_price, prices[cur_tier]),
        "cancellation_reason": pl.Series(np.array(cfg.churn_reasons)[reason_idx].astype(str)),
    })
    # history rows: the next-lower tier until the upgrade
    up = np.flatnonzero(upgraded)
    history = pl.DataFrame({
        "customer_id": accounts["id"].gather(up),
        "_order": np.zeros(up.size, dtype=np.int64),
        "plan_name": pl.Series(np.array(plan_keys)[tier[up] - 1].astype(str), dtype=pl.String),
        "status": pl.Series(["expired"] * up.size, dtype=pl.String),
        "_start": paid_start[up],
        "_end": upgrade_at[up],
        "monthly_price": prices[tier[up] - 1],
        "cancellation_reason": pl.Series([None] * up.size, dtype=pl.String),
    })
    current = current.with_columns(
        cancellation_reason=pl.when(pl.Series(churned)).then(pl.col("cancellation_reason")))
    rows = pl.concat([history, current], how="vertical_relaxed").sort("customer_id", "_order")
    n = rows.height
    ids = allocate_ids(cfg, "subscriptions", n)

    start = rows["_start"].to_numpy()
    stop_s = rows["_end"].to_numpy()
    ended = stop_s >= 0
    upd_u = rng.random(n)
    updated = np.where(ended, stop_s, np.minimum(start + np.floor(upd_u * UPDATED_MAX_DAYS * DAY), end))
    term = TERM_DAYS[sub.billing_cycle] * DAY
    horizon = np.where(ended, stop_s, end)
    term_start = start + ((horizon - start) // term) * term

    return rows.with_columns(
        id=pl.Series(ids),
        start_date=to_datetime(start).dt.date(),
        end_date=pl.when(pl.Series(ended)).then(to_datetime(np.where(ended, stop_s, 0)).dt.date()),
        billing_cycle=pl.lit(sub.billing_cycle),
        monthly_price=pl.col("monthly_price").round(2),
        monthly_amount=pl.col("monthly_price").round(2),
        current_term_start=to_datetime(term_start).dt.date(),
        created_at=to_datetime(start),
        updated_at=to_datetime(updated.astype(np.int64)),
    ).drop("_order", "_start", "_end")
