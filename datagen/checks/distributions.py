"""The tap-event distribution checks: the data against the curves the config draws it from.

Each check is two steps, so that `validate` and `datagen report` share the code and the numbers:

1. aggregate: `aggregate(partition, industries)` counts one partition (a whole frame, or only the columns in
   AGGREGATE_COLUMNS) into small frames: events per day, industry and hour; pours per volume; readings per
   temperature and per pressure value. `combine` sums partitions' aggregates.
2. verdict: `model` computes what the config expects for the days aggregated (the tap-event builder's own
   formulas: hour shares, the daily expectation and its variance per industry), and each check of CHECKS
   compares the aggregate with it and returns its violations (empty: passed) and the expected curve the report
   draws beside the data.

Tolerances: MIX_SIGMAS standard deviations of the sampling noise, plus a small slack for what the model leaves
out (devices installed or silenced during a day shift their hours; SLACK of the count).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from datagen.builders import tap_events
from datagen.checks._model import MIX_SIGMAS, Frames, mix_tolerance
from datagen.config import Config

TABLE = "tap_events"  # the table these checks judge
AGGREGATE_COLUMNS = ("device_id", "timestamp", "volume_ml", "temperature_c", "pressure_psi")
SLACK = 0.02  # of the expected count: what the model leaves out (partial device windows)
HOUR_SLACK = 0.005  # of an industry's events, per hour
OUTSIDE = 0.05  # a reading counts as an anomaly beyond the configured [min, max] +- this (values have one decimal)


@dataclass(frozen=True)
class Aggregate:
    """Counts over tap events (one partition, or summed over many)."""

    hours: pl.DataFrame  # day (date), industry (str), hour (i8), rows (i64)
    volumes: pl.DataFrame  # volume_ml (i32), rows
    temperature: pl.DataFrame  # value (f32), rows
    pressure: pl.DataFrame  # value (f32), rows

    @property
    def rows(self) -> int:
        return int(self.hours["rows"].sum())


def industries(frames: Frames) -> pl.DataFrame:
    """device_id -> its account's industry: what aggregate joins (from the core frames)."""
    acc = frames["accounts"].select(pl.col("id").alias("customer_id"), "industry")
    return frames["devices"].select(pl.col("id").alias("device_id"), "customer_id").join(
        acc, on="customer_id", how="left").select("device_id", "industry")


def aggregate(frame: pl.DataFrame, device_industry: pl.DataFrame) -> Aggregate:
    """One partition's counts (frame needs AGGREGATE_COLUMNS)."""
    hours = (frame.select("device_id", "timestamp").drop_nulls("timestamp")
             .join(device_industry, on="device_id", how="left")
             .group_by(pl.col("timestamp").dt.date().alias("day"), pl.col("industry").fill_null("(unknown)"),
                       pl.col("timestamp").dt.hour().cast(pl.Int8).alias("hour"))
             .agg(pl.len().cast(pl.Int64).alias("rows")))

    def counts(column: str, name: str) -> pl.DataFrame:
        return (frame.select(pl.col(column).alias(name)).drop_nulls().group_by(name)
                .agg(pl.len().cast(pl.Int64).alias("rows")))

    return Aggregate(hours, counts("volume_ml", "volume_ml"), counts("temperature_c", "value"),
                     counts("pressure_psi", "value"))


def empty() -> Aggregate:
    return Aggregate(pl.DataFrame(schema={"day": pl.Date, "industry": pl.String, "hour": pl.Int8, "rows": pl.Int64}),
                     pl.DataFrame(schema={"volume_ml": pl.Int32, "rows": pl.Int64}),
                     pl.DataFrame(schema={"value": pl.Float32, "rows": pl.Int64}),
                     pl.DataFrame(schema={"value": pl.Float32, "rows": pl.Int64}))


def combine(parts: list[Aggregate]) -> Aggregate:
    """The sum of partitions' aggregates, sorted by key (the same frames whatever the order of parts)."""
    if not parts:
        return empty()

    def total(frames: list[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
        return pl.concat(frames).group_by(keys).agg(pl.col("rows").sum()).sort(keys)

    return Aggregate(total([p.hours for p in parts], ["day", "industry", "hour"]),
                     total([p.volumes for p in parts], ["volume_ml"]),
                     total([p.temperature for p in parts], ["value"]),
                     total([p.pressure for p in parts], ["value"]))


@dataclass(frozen=True)
class Model:
    """What the config expects for the aggregated days."""

    industries: tuple[str, ...]
    profile: dict[str, list[float]]  # industry -> the config's 24 hour shares (business hours, peaks, night)
    hourly: dict[str, list[float]]  # industry -> expected events per hour over the days (device windows included)
    daily: pl.DataFrame  # day, industry, mean, var: the expected tap events and the variance of that count


def model(cfg: Config, frames: Frames, days: list[dt.date]) -> Model:
    """frames: the core frames with their hidden columns (readback.with_hidden); days: those aggregated."""
    ctx = tap_events.context(cfg, frames["devices"], frames["accounts"])
    names = tuple(r.industry for r in cfg.events.tap_rates)
    shares = tap_events.hour_shares(ctx)
    hourly = np.zeros((len(names), 24))
    rows: dict[str, list[Any]] = {"day": [], "industry": [], "mean": [], "var": []}
    for day in sorted(set(days)):
        mean, var = tap_events.expected_day(cfg, ctx, day)
        hourly += mean
        rows["day"] += [day] * len(names)
        rows["industry"] += list(names)
        rows["mean"] += mean.sum(axis=1).tolist()
        rows["var"] += var.tolist()
    daily = pl.DataFrame(rows, schema={"day": pl.Date, "industry": pl.String, "mean": pl.Float64, "var": pl.Float64})
    return Model(names, {n: shares[i].tolist() for i, n in enumerate(names)},
                 {n: hourly[i].tolist() for i, n in enumerate(names)}, daily)


@dataclass
class Verdict:
    """A distribution check's result: violations (empty: passed) and what the report draws."""

    name: str
    violations: list[str]
    expected: dict[str, Any] = field(default_factory=dict)  # the config's curve or values, for the chart
    observed: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # why there was nothing to judge (then violations is empty)

    @property
    def passed(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class DistributionCheck:
    name: str
    description: str
    config: tuple[str, ...]  # the config keys the check holds the data to
    judge: Callable[[Aggregate, Model, Config], Verdict]


def _hour_profile(agg: Aggregate, m: Model, cfg: Config) -> Verdict:
    name = "tap_events.hour_profile"
    per = agg.hours.group_by("industry", "hour").agg(pl.col("rows").sum())
    bad: list[str] = []
    observed: dict[str, list[int]] = {}
    for industry in m.industries:
        got = [0] * 24
        for h, r in per.filter(pl.col("industry") == industry).select("hour", "rows").iter_rows():
            got[int(h)] = int(r)
        observed[industry] = got
        n, total = sum(got), sum(m.hourly[industry])
        for h in range(24):
            p = m.hourly[industry][h] / total if total else m.profile[industry][h]
            want = n * p
            tol = mix_tolerance(n, p) + HOUR_SLACK * n
            if abs(got[h] - want) > tol:
                bad.append(f"{industry} {h:02d}:00: {got[h]:,} of {n:,} events, config {want:,.0f} +- {tol:,.0f}")
    expected = {k: [x / sum(v) if sum(v) else 0.0 for x in v] for k, v in m.hourly.items()}
    return Verdict(name, bad, {"shares": expected, "profile": m.profile}, {"rows": observed},
                   _nothing(agg, m))


def _nothing(agg: Aggregate, m: Model) -> str:
    """Why a count check has nothing to judge: no tap event read, and (less than one) none expected. Rows missing
    where the model expects some are judged, and fail."""
    return "no tap events read, none expected" if not agg.rows and m.daily["mean"].sum() < 1 else ""


def _observed_daily(agg: Aggregate, m: Model) -> pl.DataFrame:
    got = agg.hours.group_by("day", "industry").agg(pl.col("rows").sum())
    return m.daily.join(got, on=["day", "industry"], how="left").with_columns(pl.col("rows").fill_null(0))


def _off(got: float, mean: float, var: float) -> tuple[bool, float]:
    tol = MIX_SIGMAS * math.sqrt(var) + SLACK * mean + 1
    return abs(got - mean) > tol, tol


def _weekday_weekend(agg: Aggregate, m: Model, cfg: Config) -> Verdict:
    name = "tap_events.weekday_weekend"
    d = _observed_daily(agg, m).with_columns(weekend=pl.col("day").dt.weekday() >= 6)
    per = d.group_by("industry", "weekend").agg(pl.col("rows").sum(), pl.col("mean").sum(), pl.col("var").sum())
    bad, expected, observed = [], {}, {}
    for industry, weekend, rows, mean, var in per.sort("industry", "weekend").iter_rows():
        label = "weekend" if weekend else "weekdays"
        off, tol = _off(rows, mean, var)
        if off:
            bad.append(f"{industry} {label}: {rows:,} events, config {mean:,.0f} +- {tol:,.0f}")
    by_day = d.with_columns(weekday=pl.col("day").dt.weekday()).group_by("industry", "weekday").agg(
        pl.col("rows").sum(), pl.col("mean").sum(), days=pl.len())
    for industry in m.industries:
        rows = by_day.filter(pl.col("industry") == industry).sort("weekday")
        observed[industry] = {int(w): r / n for w, r, n in rows.select("weekday", "rows", "days").iter_rows()}
        expected[industry] = {int(w): mu / n for w, mu, n in rows.select("weekday", "mean", "days").iter_rows()}
    factors = {r.industry: r.weekend_factor for r in cfg.events.tap_rates}
    return Verdict(name, bad, {"per_day": expected, "weekend_factor": factors}, {"per_day": observed},
                   _nothing(agg, m))


def _season(agg: Aggregate, m: Model, cfg: Config) -> Verdict:
    name = "tap_events.season"
    d = _observed_daily(agg, m).group_by("day").agg(pl.col("rows").sum(), pl.col("mean").sum(), pl.col("var").sum())
    bad = []
    for day, rows, mean, var in d.sort("day").iter_rows():
        off, tol = _off(rows, mean, var)
        if off:
            bad.append(f"{day}: {rows:,} events, config {mean:,.0f} +- {tol:,.0f}")
    ev = cfg.events
    days = d.sort("day")
    season = [1.0 + ev.season_amplitude * math.cos(2 * math.pi * (day.timetuple().tm_yday - ev.season_peak_day) / 365)
              for day in days["day"]]
    return Verdict(name, bad, {"day": [str(x) for x in days["day"]], "rows": days["mean"].round(1).to_list(),
                               "season_factor": season},
                   {"day": [str(x) for x in days["day"]], "rows": days["rows"].to_list()},
                   _nothing(agg, m))


def pour_shares(cfg: Config) -> dict[int, float]:
    """The config's share of pours at each common size; the rest spread evenly over volume_ml [min, max]."""
    ev = cfg.events
    lo, hi = ev.volume_ml
    k = len(ev.common_sizes)
    return {s: (ev.common_share / k if k else 0.0) + (1 - ev.common_share) * (lo <= s <= hi) / (hi - lo + 1)
            for s in sorted(set(ev.common_sizes))}


def _pour_sizes(agg: Aggregate, m: Model, cfg: Config) -> Verdict:
    name = "tap_events.pour_sizes"
    v = agg.volumes
    n = int(v["rows"].sum())
    shares = pour_shares(cfg)
    got = dict(zip(v["volume_ml"].to_list(), v["rows"].to_list(), strict=True))
    bad = []
    buckets = [(f"{s} ml", got.get(s, 0), p) for s, p in shares.items()]
    buckets.append(("other sizes", n - sum(got.get(s, 0) for s in shares), 1.0 - sum(shares.values())))
    for label, count, p in buckets:
        tol = mix_tolerance(n, p)
        if abs(count - n * p) > tol:
            bad.append(f"{label}: {count:,} of {n:,} pours, config {n * p:,.0f} +- {tol:,.0f}")
    return Verdict(name, bad,
                   {"shares": {str(s): p for s, p in shares.items()}, "volume_ml": list(cfg.events.volume_ml)},
                   {"pours": n}, "" if n else "no pours read")


def anomaly_share(normal: tuple[float, float], anomalous: tuple[float, float], rate: float) -> float:
    """The share of readings outside normal +- OUTSIDE: the anomaly rate times the part of the anomalous range
    that lies outside it."""
    lo, hi = normal[0] - OUTSIDE, normal[1] + OUTSIDE
    a_lo, a_hi = anomalous
    inside = max(0.0, min(a_hi, hi) - max(a_lo, lo))
    return rate * (1.0 - inside / (a_hi - a_lo)) if a_hi > a_lo else rate * float(not lo <= a_lo <= hi)


def _anomalies(column: str, key: str, normal: Callable[[Config], tuple[float, float]],
               anomalous: tuple[float, float], rate: Callable[[Config], float]) -> DistributionCheck:
    """The check of one reading's anomaly share: column is the Aggregate's frame, key the config section."""
    name = f"tap_events.{column}_anomalies"

    def judge(agg: Aggregate, m: Model, cfg: Config) -> Verdict:
        frame: pl.DataFrame = getattr(agg, column)
        lo, hi = normal(cfg)
        n = int(frame["rows"].sum())
        outside = int(frame.filter((pl.col("value") < lo - OUTSIDE) | (pl.col("value") > hi + OUTSIDE))["rows"].sum())
        p = anomaly_share((lo, hi), anomalous, rate(cfg))
        tol = mix_tolerance(n, p)
        bad = [f"{outside:,} of {n:,} readings outside [{lo:g}, {hi:g}], config {n * p:,.0f} +- {tol:,.0f}"] \
            if abs(outside - n * p) > tol else []
        return Verdict(name, bad, {"share": p, "normal": [lo, hi], "anomaly_rate": rate(cfg)},
                       {"share": outside / n if n else 0.0, "readings": n, "outside": outside},
                       "" if n else "no readings read")
    return DistributionCheck(name, f"share of {column} readings outside {key} [min, max] within {MIX_SIGMAS:g} "
                             "sigma of its anomaly_rate", (f"events.tap_events.{key}",), judge)


CHECKS: tuple[DistributionCheck, ...] = (
    DistributionCheck("tap_events.hour_profile",
                      f"tap events per hour of day, per industry, within {MIX_SIGMAS:g} sigma (+{HOUR_SLACK:.1%}) of "
                      "the business hours, lunch and dinner peaks (peak_multiplier) and night trickle",
                      ("time_range.business_hours", "time_range.peak_hours",
                       "events.tap_events.per_device_per_day.*.peak_multiplier",
                       "events.tap_events.business_hours_only"), _hour_profile),
    DistributionCheck("tap_events.weekday_weekend",
                      f"tap events per industry on weekdays and on weekends within {MIX_SIGMAS:g} sigma (+{SLACK:.0%}) "
                      "of the expected count (weekend_factor on Saturdays and Sundays)",
                      ("events.tap_events.per_device_per_day.*.weekend_factor",), _weekday_weekend),
    DistributionCheck("tap_events.season",
                      f"tap events per day within {MIX_SIGMAS:g} sigma (+{SLACK:.0%}) of the expected count: the "
                      "per-device rates times the season, the accounts' growth ramp, weekends and event days",
                      ("events.tap_events.season", "events.tap_events.growth", "events.tap_events.event_days",
                       "events.tap_events.per_device_per_day"), _season),
    DistributionCheck("tap_events.pour_sizes",
                      f"pours at each common size, and at the other sizes, within {MIX_SIGMAS:g} sigma of "
                      "volume_ml.common_sizes and common_share", ("events.tap_events.volume_ml",), _pour_sizes),
    _anomalies("temperature", "temperature_c", lambda c: c.events.temperature_c, tap_events.TEMP_ANOMALY_C,
               lambda c: c.events.temperature_anomaly_rate),
    _anomalies("pressure", "pressure_psi", lambda c: c.events.pressure_psi, tap_events.PRESSURE_ANOMALY_PSI,
               lambda c: c.events.pressure_anomaly_rate),
)


def verdicts(agg: Aggregate, cfg: Config, frames: Frames, days: list[dt.date]) -> dict[str, Verdict]:
    """Every check's verdict on agg, the aggregate of the partitions of days (frames: the core frames with their
    hidden columns). Core tables that are not what this config generates (an industry or device category it does
    not know, a NULL where the builder never writes one) leave no model: every check is skipped, saying so, and
    the core checks name the damage."""
    try:
        m = model(cfg, frames, days)
    except (pl.exceptions.PolarsError, IndexError, TypeError, ValueError) as exc:
        note = (f"the core tables are not what this config generates, so there is no expectation "
                f"({type(exc).__name__}: {str(exc).strip().splitlines()[0][:120]}); see the core checks")
        return {c.name: Verdict(c.name, [], note=note) for c in CHECKS}
    return {c.name: c.judge(agg, m, cfg) for c in CHECKS}
