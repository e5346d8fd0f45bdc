"""Who is in the app on a given day: users of live accounts, on their role's working days and hours."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from datagen.builders._common import epoch
from datagen.config import Config

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class People:
    """Per-user arrays for the product-event builders, computed once per run from the core frames."""

    user_id: I64
    customer_id: I64
    role: I64  # index into cfg.roles
    is_account_admin: npt.NDArray[np.bool_]  # the account's first user, who holds its API token
    start: I64  # user created (epoch s): activity strictly after it
    stop: I64  # account churn or the end of the range + 1 s: activity strictly before it
    devices_first: I64  # the account's device ids are devices_first .. devices_first + devices_n - 1
    devices_n: I64
    locations_first: I64
    locations_n: I64
    users_first: I64
    users_n: I64


def people(cfg: Config, users: pl.DataFrame, accounts: pl.DataFrame, locations: pl.DataFrame,
           devices: pl.DataFrame) -> People:
    def span(frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
        # a child table's ids are contiguous per account (builders expand parents in id order)
        return frame.group_by("customer_id").agg(pl.col("id").min().alias(f"{prefix}_first"),
                                                 pl.len().alias(f"{prefix}_n"))

    end = epoch(cfg.end) + 1
    acc = accounts.select(pl.col("id").alias("customer_id"), "_churn_at")
    u = (users.sort("id").join(acc, on="customer_id", how="left", maintain_order="left")
         .join(span(devices, "dev"), on="customer_id", how="left", maintain_order="left")
         .join(span(locations, "loc"), on="customer_id", how="left", maintain_order="left")
         .join(span(users, "usr"), on="customer_id", how="left", maintain_order="left"))
    role_idx = {r.name: i for i, r in enumerate(cfg.roles)}

    def col(name: str) -> I64:
        return np.asarray(u[name].fill_null(0).to_numpy(), dtype=np.int64)

    return People(
        user_id=col("id"),
        customer_id=col("customer_id"),
        role=u["role"].replace_strict(role_idx, return_dtype=pl.Int64).to_numpy(),
        is_account_admin=(u["id"] == u["usr_first"]).to_numpy(),
        start=u["created_at"].dt.epoch("s").to_numpy().astype(np.int64),
        stop=np.minimum(u["_churn_at"].dt.epoch("s").fill_null(end).to_numpy(), end).astype(np.int64),
        devices_first=col("dev_first"), devices_n=col("dev_n"),
        locations_first=col("loc_first"), locations_n=col("loc_n"),
        users_first=col("usr_first"), users_n=col("usr_n"),
    )


def at_work(cfg: Config, p: People, day: dt.date) -> tuple[I64, I64, I64]:
    """Users working on day, with each one's window [lo, hi) in epoch seconds (role hours, life, churn)."""
    day_start = epoch(dt.datetime.combine(day, dt.time()))
    acts = cfg.events.role_activity
    works = np.array([day.weekday() in a.weekdays for a in acts])[p.role]
    lo = day_start + np.array([a.hours[0] for a in acts], dtype=np.int64)[p.role] * 3600
    hi = day_start + np.array([a.hours[1] for a in acts], dtype=np.int64)[p.role] * 3600
    lo = np.maximum(lo, p.start + 1)
    hi = np.minimum(hi, p.stop)
    rows = np.flatnonzero(works & (hi > lo))
    return rows.astype(np.int64), lo[rows], hi[rows]
