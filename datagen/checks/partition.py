"""The rules each event partition passes against its parents before it is copied."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from datagen.checks._kernels import key_index, lookup, no_rows
from datagen.checks._model import Check, Frames
from datagen.config import Config
from datagen.tables import TABLES, Table


@dataclass(frozen=True)
class _DeviceLife:
    """When each device may emit: after it is created, up to its last-seen time, its account's churn and the
    end date. `index` maps a device id to its row (-1: none), when the ids are small integers."""

    devices: pl.DataFrame
    accounts: pl.DataFrame
    end: dt.datetime
    life: pl.DataFrame
    index: np.ndarray | None
    start_us: np.ndarray
    stop_us: np.ndarray


_last_life: _DeviceLife | None = None  # the partition checks ask hundreds of times about the same parents


def _device_life(f: Frames, cfg: Config) -> _DeviceLife:
    global _last_life
    hit = _last_life
    if hit is not None and hit.devices is f["devices"] and hit.accounts is f["accounts"] and hit.end == cfg.end:
        return hit
    acc = f["accounts"].select(pl.col("id").alias("customer_id"), "_churn_at")
    life = f["devices"].join(acc, on="customer_id").select(
        pl.col("id").alias("device_id"), pl.col("created_at").alias("_from"),
        pl.min_horizontal(pl.col("last_seen_at"), pl.col("_churn_at").fill_null(cfg.end), pl.lit(cfg.end))
        .alias("_stop"))
    made = _DeviceLife(f["devices"], f["accounts"], cfg.end, life, key_index(life["device_id"]),
                       life["_from"].dt.epoch("us").to_numpy(), life["_stop"].dt.epoch("us").to_numpy())
    _last_life = made  # another build thread may replace it at once: return our own
    return made


def _tap_within_device_life(f: Frames, cfg: Config) -> pl.Series:
    d = _device_life(f, cfg)
    taps = f["tap_events"]
    if d.index is not None and taps["device_id"].dtype.is_integer():
        pos = lookup(d.index, taps["device_id"])
        found = pos >= 0
        at = np.where(found, pos, 0)
        times = taps["timestamp"]
        ts = (times.to_physical() if times.dtype == pl.Datetime("us") else times.dt.epoch("us")).to_numpy()
        return no_rows(taps["id"], found & ((ts <= d.start_us[at]) | (ts > d.stop_us[at])))
    j = taps.select("id", "device_id", "timestamp").join(d.life, on="device_id")
    return j.filter((pl.col("timestamp") <= pl.col("_from")) | (pl.col("timestamp") > pl.col("_stop")))["id"]


def _within_user_life(t: Table, start_col: str, stop_col: str) -> Check:
    def run(f: Frames, cfg: Config) -> pl.Series:
        usr = f["users"].select(pl.col("id").alias("user_id"), pl.col("created_at").alias("_from"))
        acc = f["accounts"].select(pl.col("id").alias("customer_id"), "_churn_at")
        j = f[t.key].join(usr, on="user_id").join(acc, on="customer_id")
        stop = pl.min_horizontal(pl.col("_churn_at").fill_null(cfg.end), pl.lit(cfg.end))
        return j.filter((pl.col(start_col) <= pl.col("_from")) | (pl.col(stop_col) > stop)
                        | (pl.col(stop_col) < pl.col(start_col)))[t.primary_key]
    return Check(f"{t.key}.within_user_life", "error",
                 f"{t.key} happen after the user exists, before the account churns, end not before start",
                 (t.key, "users", "accounts"), run)


def _page_in_session(f: Frames, _: Config) -> pl.Series:
    s = f["user_sessions"].select("session_id", "start_time", "end_time")
    j = f["page_views"].select("page_view_id", "session_id", "timestamp", "time_on_page_seconds").join(
        s, on="session_id")
    leaves = pl.col("timestamp") + pl.duration(seconds=pl.col("time_on_page_seconds"))
    return j.filter((pl.col("timestamp") < pl.col("start_time")) | (leaves > pl.col("end_time")))["page_view_id"]


def partition_rules() -> list[Check]:
    """The rules of the event partitions beyond their declarations."""
    return [
        Check("tap_events.within_device_life", "error",
              "tap events fall after installation and before last_seen_at, churn and the end date",
              ("tap_events", "devices", "accounts"), _tap_within_device_life),
        _within_user_life(TABLES["user_sessions"], "start_time", "end_time"),
        _within_user_life(TABLES["feature_usage"], "timestamp", "timestamp"),
        Check("page_views.within_session", "error", "a page view starts and ends inside its session",
              ("page_views", "user_sessions"), _page_in_session),
    ]
