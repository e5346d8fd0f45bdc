"""Accounts: the root entity. Ids by size block, creation by growth pattern, trial and churn timing."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from datagen._vocab import words
from datagen.builders._common import (
    DAY,
    MONTH_DAYS,
    after,
    allocate_ids,
    counts_in_range,
    dedupe,
    epoch,
    exact,
    grown,
    labels,
    slug,
    to_datetime,
)
from datagen.config import Config

# Employees per account size: not in the legacy config; ranges typical of each segment.
EMPLOYEES = {"small": (5, 50), "medium": (50, 250), "large": (250, 2_000), "enterprise": (2_000, 20_000)}
REVENUE_PER_EMPLOYEE = (60_000, 180_000)  # USD per year, hospitality to corporate
TRIAL_START_MAX_DAYS = 3  # legacy: a trial starts 0-3 days after sign-up
# business_type holds staging's account-type domain (enterprise / professional / business / trial);
# accounts on a trial at the end date are 'trial', the others follow their size.
SIZE_BUSINESS_TYPE = {"small": "business", "medium": "professional", "large": "professional",
                      "enterprise": "enterprise"}


def build(cfg: Config, parents: Mapping[str, pl.DataFrame], rng: np.random.Generator) -> pl.DataFrame:
    """One row per account, plus internal columns (_trial_start, _trial_end, _churn_at) for children. The root: no
    parents."""
    per_size = cfg.accounts_per_size()
    size_idx = np.repeat(np.arange(len(cfg.sizes)), [per_size[s.name] for s in cfg.sizes])
    n = int(size_idx.shape[0])
    ids = allocate_ids(cfg, "accounts", n)
    end = epoch(cfg.end)

    industry = exact(rng, [(i.name, i.share) for i in cfg.industries], n)
    growth = exact(rng, [(g.name, g.share) for g in cfg.growth], n)
    g_lo = np.array([g.days_before_end[0] for g in cfg.growth])[growth]
    g_hi = np.array([g.days_before_end[1] for g in cfg.growth])[growth]
    # growth_patterns.monthly_growth_rate.new_accounts: inside its window, sign-ups grow toward the end date
    span_days = g_hi - g_lo + 1
    days_before = g_lo + np.minimum(np.floor(grown(rng.random(n), span_days * DAY, cfg.growth_rate("new_accounts"),
                                                   later=False) * span_days), span_days - 1).astype(np.int64)
    day_start = epoch(cfg.end.replace(hour=0, minute=0, second=0)) - days_before * DAY
    # sign-ups happen in office hours, 08:00-19:00
    created = day_start + 8 * 3600 + np.floor(rng.random(n) * 11 * 3600).astype(np.int64)

    loc_lo = np.array([s.locations[0] for s in cfg.sizes])[size_idx]
    loc_hi = np.array([s.locations[1] for s in cfg.sizes])[size_idx]
    location_count = counts_in_range(rng, loc_lo, loc_hi, cfg.count_shape("locations"))

    trial_start = after(rng, created, TRIAL_START_MAX_DAYS, end, min_seconds=0)
    trial_days = np.array([s.trial_days for s in cfg.sizes])[size_idx]
    trial_end = trial_start + trial_days * DAY
    # months of paid life before a churn: geometric with the configured monthly rate
    rate = cfg.churn_monthly_rate
    months = rng.geometric(rate, n) if rate > 0 else np.full(n, 10**6)
    churn_at = trial_end + (months * MONTH_DAYS * DAY).astype(np.int64) + np.floor(rng.random(n) * DAY).astype(
        np.int64)
    on_trial = trial_end > end
    churned = ~on_trial & (churn_at <= end)

    emp_lo = np.array([EMPLOYEES[s.name][0] for s in cfg.sizes])[size_idx]
    emp_hi = np.array([EMPLOYEES[s.name][1] for s in cfg.sizes])[size_idx]
    employees = emp_lo + np.floor(rng.random(n) * (emp_hi - emp_lo + 1)).astype(np.int64)
    revenue = employees * rng.integers(REVENUE_PER_EMPLOYEE[0], REVENUE_PER_EMPLOYEE[1] + 1, n)

    base_words = words("company_words")
    base = rng.integers(0, len(base_words), n)
    suffix_pick = rng.random(n)
    suffix = pl.Series([""] * n, dtype=pl.String)
    for k, ind in enumerate(cfg.industries):
        mask = industry == k
        if mask.any():
            choice = np.floor(suffix_pick[mask] * len(ind.name_suffixes)).astype(np.int64)
            suffix = suffix.scatter(np.flatnonzero(mask), labels(ind.name_suffixes, choice))
    updated = after(rng, created, 30, end, min_seconds=0)

    size_names = [s.name for s in cfg.sizes]
    frame = pl.DataFrame({
        "id": ids,
        "_base": labels(base_words, base),
        "_suffix": suffix,
        "industry": labels([i.name for i in cfg.industries], industry),
        "size": labels(size_names, size_idx),
        "location_count": location_count,
        "employee_count": employees,
        "annual_revenue": revenue,
        "_on_trial": on_trial,
        "_churned": churned,
        "created_at": to_datetime(created),
        "updated_at": to_datetime(updated),
        "_trial_start": to_datetime(trial_start),
        "_trial_end": to_datetime(trial_end),
        "_churn_at": to_datetime(churn_at),
    })
    domain = slug(pl.col("name"))
    return frame.with_columns(
        name=dedupe(pl.concat_str([pl.col("_base"), pl.lit(" "), pl.col("_suffix")])),
    ).with_columns(
        email=pl.concat_str([pl.lit("admin@"), domain, pl.lit(".com")]),
        website=pl.concat_str([pl.lit("https://www."), domain, pl.lit(".com")]),
        created_date=pl.col("created_at").dt.date(),
        business_type=pl.when(pl.col("_on_trial")).then(pl.lit("trial"))
        .otherwise(pl.col("size").replace_strict(SIZE_BUSINESS_TYPE, default="business")),
        status=pl.when(pl.col("_on_trial")).then(pl.lit("trial"))
        .when(pl.col("_churned")).then(pl.lit("churned")).otherwise(pl.lit("active")),
        _churn_at=pl.when(pl.col("_churned")).then(pl.col("_churn_at")),
    ).drop("_base", "_suffix")
