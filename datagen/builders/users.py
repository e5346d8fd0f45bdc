"""Users: each account's people; the first is its admin, the rest follow the role shares."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from datagen._vocab import words
from datagen.builders._common import (
    DAY,
    after,
    allocate_ids,
    counts_in_range,
    epoch,
    index_within,
    labels,
    pick,
    to_datetime,
)
from datagen.config import Config

ADMIN_DELAY_DAYS = 1  # the account's admin signs up with the account
USER_DELAY_DAYS = 30  # legacy: users join within 30 days of their account
UPDATED_MAX_DAYS = 90
# Mean days between logins per role: admins log in daily, viewers weekly (legacy: 0.5-7 days).
LOGIN_GAP_DAYS = {"admin": 0.5, "manager": 1.0, "operator": 2.0, "viewer": 7.0}
DEFAULT_LOGIN_GAP_DAYS = 3.0


def build(cfg: Config, parents: Mapping[str, pl.DataFrame], rng: np.random.Generator) -> pl.DataFrame:
    accounts = parents["accounts"]
    size_idx = accounts["size"].replace_strict({s.name: i for i, s in enumerate(cfg.sizes)}).to_numpy()
    lo = np.array([s.users[0] for s in cfg.sizes])[size_idx]
    hi = np.array([s.users[1] for s in cfg.sizes])[size_idx]
    per_account = counts_in_range(rng, lo, hi, cfg.count_shape("users"))
    n = int(per_account.sum())
    ids = allocate_ids(cfg, "users", n)
    acc = accounts.select("id", "email", "created_at", "_churned", "_churn_at").gather(
        np.repeat(np.arange(accounts.height), per_account))
    index = index_within(per_account)
    end = epoch(cfg.end)

    role_names = [r.name for r in cfg.roles]
    role = np.where(index == 0, role_names.index("admin"), pick(rng, [(r.name, r.share) for r in cfg.roles], n))
    firsts, lasts = words("first_names"), words("last_names")
    first = labels(firsts, rng.integers(0, len(firsts), n))
    last = labels(lasts, rng.integers(0, len(lasts), n))

    acc_created = acc["created_at"].dt.epoch("s").to_numpy()
    created = np.where(index == 0, after(rng, acc_created, ADMIN_DELAY_DAYS, end),
                       after(rng, acc_created, USER_DELAY_DAYS, end))
    updated = after(rng, created, UPDATED_MAX_DAYS, end, min_seconds=0)
    # last login: an exponential gap before the end (or before the churn for churned accounts)
    churned = acc["_churned"].to_numpy()
    horizon = np.where(churned, acc["_churn_at"].dt.epoch("s").fill_null(end).to_numpy(), end)
    gap_days = np.array([LOGIN_GAP_DAYS.get(r, DEFAULT_LOGIN_GAP_DAYS) for r in role_names])[role]
    gap = np.floor(rng.exponential(1.0, n) * gap_days * DAY).astype(np.int64)
    last_login = np.clip(horizon - gap, created, end)

    frame = pl.DataFrame({
        "id": ids,
        "customer_id": acc["id"],
        "first_name": first,
        "last_name": last,
        "role": labels(role_names, role),
        "permissions": labels([r.permissions for r in cfg.roles], role),  # the role's label (user_roles)
        "_domain": acc["email"].str.split_exact("@", 1).struct.field("field_1"),
        "is_active": ~acc["_churned"],
        "last_login_at": to_datetime(last_login),
        "created_at": to_datetime(created),
        "updated_at": to_datetime(updated),
    })
    local = pl.concat_str([pl.col("first_name"), pl.lit("."), pl.col("last_name")]).str.to_lowercase()
    email = pl.concat_str([local, pl.lit("@"), pl.col("_domain")])
    k = email.cum_count().over(email)
    return frame.with_columns(
        email=pl.when(k > 1).then(pl.concat_str([local, k.cast(pl.String), pl.lit("@"), pl.col("_domain")]))
        .otherwise(email),
        created_date=pl.col("created_at").dt.date(),
        last_login_date=pl.col("last_login_at").dt.date(),
    ).drop("_domain")
