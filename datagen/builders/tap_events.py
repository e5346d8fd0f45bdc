"""Tap events: pours from tap controllers, temperature and pressure readings from sensors, health reports from
gateways, and small rates of cleaning, keg level, error, maintenance and calibration events.

A partition is one day of one block of DEVICE_BLOCK consecutive device ids. Its stream is keyed by
(seed, tap_events, day, block), and the per-device counts are its first draws, so the plan can count a
partition cheaply (`count`) and `build` produces exactly that many rows, whatever else is generated.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from datagen.builders._common import DAY, epoch, hash_uniform, labels
from datagen.builders._protocol import EventInputs, Part
from datagen.config import Config

F32 = pl.Float32()
HOUR_GRID = 4096  # buckets per industry for the hour lookup: almost every bucket lies inside one hour
DEVICE_BLOCK = 4096  # devices per partition: ~0.8M rows per day at the default rates, ~100 MB in flight
NIGHT_WEIGHT = 0.05  # activity per hour outside business hours, against 1.0 inside them
US = 1_000_000

# Event mix per device type: (event_type, share). Maintenance-status devices use MAINTENANCE_SHARE instead.
EVENT_MIX: dict[str, tuple[tuple[str, float], ...]] = {
    "tap_controller": (("pour", 0.93), ("keg_level", 0.03), ("cleaning", 0.02), ("error", 0.01),
                       ("maintenance", 0.005), ("calibration", 0.005)),
    "sensor": (("temperature", 0.55), ("pressure", 0.42), ("calibration", 0.015), ("error", 0.01),
               ("maintenance", 0.005)),
    "gateway": (("health_check", 0.97), ("error", 0.02), ("maintenance", 0.01)),
}
OTHER_MIX = (("health_check", 0.97), ("error", 0.02), ("maintenance", 0.01))  # device types not listed above
MAINTENANCE_SHARE = 0.10  # a device under maintenance shows maintenance events, not only silence
EVENT_TYPES = ("pour", "temperature", "pressure", "keg_level", "cleaning", "health_check", "error",
               "maintenance", "calibration")
# Readings outside the staging model's anomaly bounds (temperature -5..10 C, pressure 10..50 psi)
TEMP_ANOMALY_C = (10.5, 15.0)  # a cooler failing
PRESSURE_ANOMALY_PSI = (4.0, 9.5)  # a CO2 line losing pressure


@dataclass(frozen=True)
class Context:
    """Per-device arrays the partitions read, computed once per run from the core frames."""

    device_id: npt.NDArray[np.int64]
    location_id: npt.NDArray[np.int64]
    first_id: int  # first device id: block b holds ids first_id + b * DEVICE_BLOCK ...
    category: npt.NDArray[np.int64]  # index into category_names per device
    category_names: tuple[str, ...]
    profile: npt.NDArray[np.int64]  # row of the event-mix table: device type x under maintenance
    industry: npt.NDArray[np.int64]  # index into cfg.events.tap_rates
    start: npt.NDArray[np.int64]  # installation (epoch s): events strictly after it
    stop: npt.NDArray[np.int64]  # last_seen_at, churn or the end: events strictly before it
    account_created: npt.NDArray[np.int64]
    mix_cdf: npt.NDArray[np.float64]  # [profile, event type] cumulative shares
    hour_cdf: npt.NDArray[np.float64]  # [industry, 25] cumulative activity over the day, 0 .. 1
    hour_next: npt.NDArray[np.float64]  # hour_cdf[k, h + 1] at flat position k * 24 + h
    hour_grid: npt.NDArray[np.int64]  # the hour holding b / HOUR_GRID, at k * HOUR_GRID + b: a starting guess
    hour_lo: npt.NDArray[np.float64]  # hour_cdf[k, h] at flat position k * 24 + h
    hour_inv: npt.NDArray[np.float64]  # 1 / (activity share of hour h of industry k), 0 for silent hours
    event_day: npt.NDArray[np.bool_]  # industry has event days

    @property
    def blocks(self) -> int:
        return math.ceil(self.device_id.size / DEVICE_BLOCK)


def context(cfg: Config, devices: pl.DataFrame, accounts: pl.DataFrame) -> Context:
    ev = cfg.events
    acc = accounts.select(pl.col("id").alias("customer_id"), pl.col("industry"),
                          pl.col("created_at").alias("_acc_created"), "_churn_at")
    d = devices.sort("id").join(acc, on="customer_id", how="left", maintain_order="left")
    end = epoch(cfg.end) + 1
    churn = d["_churn_at"].dt.epoch("s").fill_null(end).to_numpy()
    stop = np.minimum(np.minimum(d["last_seen_at"].dt.epoch("s").to_numpy(), churn), end).astype(np.int64)
    industries = [r.industry for r in ev.tap_rates]
    type_names = list(EVENT_MIX)
    dtype_idx = d["device_type"].replace_strict({n: i for i, n in enumerate(type_names)}, default=len(type_names),
                                                return_dtype=pl.Int64).to_numpy()
    in_maintenance = (d["status"] == "maintenance").to_numpy()
    mixes = [EVENT_MIX[n] for n in type_names] + [OTHER_MIX]
    rows = []
    for mix in mixes:
        for maint in (False, True):
            rows.append(_mix_row(mix, maint))
    hour_cdf = np.array([_hour_cdf(cfg, r.industry, r.peak_multiplier) for r in ev.tap_rates])
    categories = sorted(d["category"].unique().to_list())
    width = np.diff(hour_cdf, axis=1)
    return Context(
        device_id=d["id"].to_numpy().astype(np.int64),
        location_id=d["location_id"].to_numpy().astype(np.int64),
        first_id=cfg.id_range("devices")[0],
        category=d["category"].replace_strict({c: i for i, c in enumerate(categories)}, return_dtype=pl.Int64)
        .to_numpy(),
        category_names=tuple(categories),
        profile=(dtype_idx * 2 + in_maintenance).astype(np.int64),
        industry=d["industry"].replace_strict({n: i for i, n in enumerate(industries)}, return_dtype=pl.Int64)
        .to_numpy(),
        start=d["created_at"].dt.epoch("s").to_numpy().astype(np.int64),
        stop=stop,
        account_created=d["_acc_created"].dt.epoch("s").to_numpy().astype(np.int64),
        mix_cdf=np.cumsum(np.array(rows), axis=1),
        hour_cdf=hour_cdf,
        hour_next=hour_cdf[:, 1:].ravel(),
        hour_grid=np.concatenate([np.minimum(np.searchsorted(c[1:], np.arange(HOUR_GRID) / HOUR_GRID, side="right"), 23)
                                  for c in hour_cdf]).astype(np.int64),
        hour_lo=hour_cdf[:, :24].ravel(),
        hour_inv=np.divide(1.0, width, out=np.zeros_like(width), where=width > 0).ravel(),
        event_day=np.array([n in ev.event_day_industries for n in industries]),
    )


def _mix_row(mix: tuple[tuple[str, float], ...], maintenance: bool) -> npt.NDArray[np.float64]:
    w = np.zeros(len(EVENT_TYPES))
    for name, share in mix:
        w[EVENT_TYPES.index(name)] += share
    if maintenance:
        m = EVENT_TYPES.index("maintenance")
        rest = w.sum() - w[m]
        w = w * ((1.0 - MAINTENANCE_SHARE) / rest) if rest > 0 else w
        w[m] = MAINTENANCE_SHARE
    return np.asarray(w / w.sum(), dtype=np.float64)


def _hour_cdf(cfg: Config, industry: str, peak: float) -> npt.NDArray[np.float64]:
    """Cumulative share of a day's events by hour: business hours, lunch and dinner peaks, night trickle."""
    w = np.full(24, 0.0 if industry in cfg.events.business_hours_only else NIGHT_WEIGHT)
    bh_from, bh_to = cfg.business_hours
    w[bh_from:bh_to] = 1.0
    for _, (h_from, h_to) in cfg.peak_hours:
        hours = np.arange(h_from, h_to)
        hours = hours[(hours >= bh_from) & (hours < bh_to)] if industry in cfg.events.business_hours_only else hours
        w[hours % 24] = np.where(w[hours % 24] > 0, peak, w[hours % 24])
    return np.asarray(np.concatenate([[0.0], np.cumsum(w) / w.sum()]), dtype=np.float64)


def _day_mass(ctx: Context, rows: npt.NDArray[np.int64], day_start: int
              ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each device's share of the day's activity profile inside its active window, as [lo, hi) in CDF terms."""
    lo = np.clip(ctx.start[rows] + 1 - day_start, 0, DAY)
    hi = np.clip(ctx.stop[rows] - day_start, 0, DAY)  # exclusive: events before stop
    hi = np.maximum(hi, lo)
    cdf = ctx.hour_cdf[ctx.industry[rows]]
    return _cdf_at(cdf, lo), _cdf_at(cdf, hi)


def _cdf_at(cdf: npt.NDArray[np.float64], seconds: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    hour = np.minimum(seconds // 3600, 23)
    frac = (seconds - hour * 3600) / 3600.0
    r = np.arange(cdf.shape[0])
    return np.asarray(cdf[r, hour] + frac * (cdf[r, hour + 1] - cdf[r, hour]), dtype=np.float64)


def _block_rows(ctx: Context, block: int) -> npt.NDArray[np.int64]:
    return np.arange(block * DEVICE_BLOCK, min((block + 1) * DEVICE_BLOCK, ctx.device_id.size), dtype=np.int64)


def _counts(cfg: Config, ctx: Context, day: dt.date, block: int, rng: np.random.Generator
            ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per-device event counts of the partition (the stream's first draws), with each device's CDF window."""
    rows = _block_rows(ctx, block)
    u_rate, u_round = rng.random(rows.size), rng.random(rows.size)
    lo_rate, hi_rate = _rate_bounds(cfg, ctx, rows)
    rate = lo_rate + u_rate * (hi_rate - lo_rate)
    for factor in _factors(cfg, ctx, day, rows):  # one at a time, in this order: the counts depend on the rounding
        rate *= factor
    c_lo, c_hi = _day_mass(ctx, rows, epoch(dt.datetime.combine(day, dt.time())))
    counts = np.floor(rate * (c_hi - c_lo) + u_round).astype(np.int64)
    return rows, counts, c_lo, c_hi


def _rate_bounds(cfg: Config, ctx: Context, rows: npt.NDArray[np.int64]
                 ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each device's per_device_per_day [min, max] (its industry's)."""
    ev = cfg.events
    lo_rate = np.array([r.min for r in ev.tap_rates], dtype=np.float64)[ctx.industry[rows]]
    hi_rate = np.array([r.max for r in ev.tap_rates], dtype=np.float64)[ctx.industry[rows]]
    return lo_rate, hi_rate


def _factors(cfg: Config, ctx: Context, day: dt.date, rows: npt.NDArray[np.int64]
             ) -> list[float | npt.NDArray[np.float64]]:
    """What scales a device's drawn rate on day: weekend_factor (Saturdays and Sundays), the season, the account's
    growth ramp and, for venues with event days, the event-day multiplier or quiet factor."""
    ev = cfg.events
    out: list[float | npt.NDArray[np.float64]] = []
    if day.weekday() >= 5:
        out.append(np.array([r.weekend_factor for r in ev.tap_rates])[ctx.industry[rows]])
    out.append(1.0 + ev.season_amplitude * math.cos(2 * math.pi * (day.timetuple().tm_yday - ev.season_peak_day)
                                                    / 365))
    age_days = (epoch(dt.datetime.combine(day, dt.time())) - ctx.account_created[rows]) / DAY
    out.append(ev.growth_start_factor + (1.0 - ev.growth_start_factor) * np.clip(age_days / ev.growth_ramp_days, 0, 1))
    has_event_days = ctx.event_day[ctx.industry[rows]]
    if has_event_days.any():
        ordinal = np.full(rows.size, day.toordinal(), dtype=np.int64)
        is_event = hash_uniform(cfg.seed, "tap_events.event_day", ctx.location_id[rows], ordinal) < ev.event_day_share
        out.append(np.where(has_event_days, np.where(is_event, ev.event_day_multiplier, ev.quiet_day_factor), 1.0))
    return out


def expected_day(cfg: Config, ctx: Context, day: dt.date) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The model's expectation of day's tap events per industry and hour ([industry, 24], industries indexed as
    cfg.events.tap_rates) and the variance of each industry's day count: a device's count is
    floor(rate * window + u) with rate uniform on [min, max] times the day's factors, so its mean is the mid rate
    times the factors times its window's share of the hourly profile, split over the hours as the profile inside
    its window (installed or silenced during the day: only part of it), and its variance that of the uniform
    rate plus at most 1/4 from the rounding. What validate's distribution checks and the report hold data to."""
    rows = np.arange(ctx.device_id.size, dtype=np.int64)
    lo_rate, hi_rate = _rate_bounds(cfg, ctx, rows)
    scale = np.ones(rows.size)
    for factor in _factors(cfg, ctx, day, rows):
        scale = scale * factor
    c_lo, c_hi = _day_mass(ctx, rows, epoch(dt.datetime.combine(day, dt.time())))
    cdf = ctx.hour_cdf[ctx.industry]  # [device, 25]
    in_hour = np.clip(np.minimum(cdf[:, 1:], c_hi[:, None]) - np.maximum(cdf[:, :-1], c_lo[:, None]), 0.0, None)
    mid = (lo_rate + hi_rate) / 2 * scale
    k = len(cfg.events.tap_rates)
    mean = np.zeros((k, 24))
    np.add.at(mean, ctx.industry, mid[:, None] * in_hour)
    window = c_hi - c_lo
    var = ((hi_rate - lo_rate) * scale * window) ** 2 / 12 + np.where(window > 0, 0.25, 0.0)
    return mean, np.bincount(ctx.industry, weights=var, minlength=k).astype(np.float64)


def hour_shares(ctx: Context) -> npt.NDArray[np.float64]:
    """[industry, hour]: the share of a day's tap events the hourly profile puts in each hour (business hours,
    the lunch and dinner peaks at peak_multiplier, the night trickle)."""
    return np.asarray(np.diff(ctx.hour_cdf, axis=1), dtype=np.float64)


def count(cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
          rng: np.random.Generator) -> int:
    """Rows in partition (day, block), from the partition's first draws only."""
    _, counts, _, _ = _counts(cfg, inputs.taps, part.day, part.block, rng)
    return int(counts.sum())


def build(cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
          rng: np.random.Generator) -> pl.DataFrame:
    """The partition's rows, ids first_id, first_id + 1, ... in device order, plus `_layout` (see copy_format)."""
    return next(iter(build_slices(cfg, inputs, part, same_day, rng, max_rows=None)))


def build_slices(cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
                 rng: np.random.Generator, max_rows: int | None) -> Iterator[pl.DataFrame]:
    """The partition's rows as consecutive frames of whole devices, each of at most max_rows rows (or one
    device's rows, where a device alone has more; None: one frame). Their concatenation is `build`'s frame
    whatever max_rows is: the per-device draws (counts, event types) are made for the whole block, and each
    slice reads its own run of the per-row draws by skipping the stream ahead (_Draws)."""
    ctx, day = inputs.taps, part.day
    rows, counts, c_lo, c_hi = _counts(cfg, ctx, day, part.block, rng)
    # event types: a multinomial per device over its profile's mix (one draw per device, not per event)
    mix = np.diff(ctx.mix_cdf[ctx.profile[rows]], axis=1, prepend=0.0)
    per_type = rng.multinomial(counts, np.maximum(mix, 0.0))
    draws = _Draws(rng, int(counts.sum()))
    ends = np.concatenate([[0], np.cumsum(counts)])
    for d0, d1 in _cuts(ends, max_rows):
        r0, r1 = int(ends[d0]), int(ends[d1])
        yield _rows(cfg, ctx, day, part.first_id + r0, rows[d0:d1], counts[d0:d1], c_lo[d0:d1], c_hi[d0:d1],
                    per_type[d0:d1], draws.target(r0, r1), draws.uniforms(r0, r1))


def _cuts(ends: npt.NDArray[np.int64], max_rows: int | None) -> list[tuple[int, int]]:
    """Device ranges [d0, d1) of at most max_rows rows each (at least one device each); ends[d] is the first
    row of device d. One range, over every device, when max_rows is None or the block fits."""
    devices = ends.size - 1
    if max_rows is None or ends[-1] <= max_rows:
        return [(0, devices)]
    out, d0 = [], 0
    while d0 < devices:
        d1 = int(np.searchsorted(ends, ends[d0] + max_rows, side="right")) - 1
        d1 = min(max(d1, d0 + 1), devices)
        if ends[d1] > ends[d0]:  # devices without events make no slice of their own
            out.append((d0, d1))
        d0 = d1
    return out


class _Draws:
    """The partition's per-row draws, after its per-device ones: n doubles (the time of day), then a (6, n)
    float32 matrix (measurements). Any run of rows [r0, r1) of them is read by a copy of the generator skipped
    ahead: PCG64 gives one double per 64-bit step and two float32 per step (the high half buffered for the
    next float32), and advance() skips steps (clearing that buffer)."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.n = n
        self.after_types = dict(rng.bit_generator.state)  # where the doubles start
        self.after_target = self._skipped(self.after_types, n)  # where the float32 matrix starts

    @staticmethod
    def _bits(state: dict[str, Any]) -> np.random.PCG64:
        bits = np.random.PCG64()
        bits.state = state  # type: ignore[assignment]  # numpy types it as a TypedDict
        return bits

    @classmethod
    def _skipped(cls, state: dict[str, Any], steps: int) -> dict[str, Any]:
        """state advanced by steps 64-bit draws, its buffered float32 half (untouched by doubles) kept."""
        bits = cls._bits(state)
        bits.advance(steps)
        return {**bits.state, "has_uint32": state["has_uint32"], "uinteger": state["uinteger"]}

    def target(self, r0: int, r1: int) -> npt.NDArray[np.float64]:
        return np.random.Generator(self._bits(self._skipped(self.after_types, r0))).random(r1 - r0)

    def uniforms(self, r0: int, r1: int) -> npt.NDArray[np.float32]:
        out = np.empty((6, r1 - r0), dtype=np.float32)
        for k in range(6):
            out[k] = self._float32(k * self.n + r0, r1 - r0)
        return out

    def _float32(self, j: int, count: int) -> npt.NDArray[np.float32]:
        """float32 draws j .. j + count - 1 of the matrix (row-major)."""
        bits = self._bits(self.after_target)
        if self.after_target["has_uint32"]:  # the first float32 is the buffered half
            if j == 0:
                return np.random.Generator(bits).random(count, dtype=np.float32)
            j -= 1
        bits.advance(j // 2)
        g = np.random.Generator(bits)
        if j % 2:
            g.random(1, dtype=np.float32)  # the low half of the step: the high half is draw j
        return g.random(count, dtype=np.float32)


def _rows(cfg: Config, ctx: Context, day: dt.date, first_id: int, rows: npt.NDArray[np.int64],
          counts: npt.NDArray[np.int64], c_lo: npt.NDArray[np.float64], c_hi: npt.NDArray[np.float64],
          per_type: npt.NDArray[np.int64], u_target: npt.NDArray[np.float64], u: npt.NDArray[np.float32]
          ) -> pl.DataFrame:
    """The rows of the devices rows (counts events each), from their per-device and per-row draws."""
    n = int(counts.sum())
    dev = np.repeat(rows, counts)
    ev = cfg.events
    etype = np.repeat(np.tile(np.arange(len(EVENT_TYPES), dtype=np.int8), rows.size), per_type.ravel())

    # time of day: inverse CDF of the device's hourly profile, restricted to its active window
    k24 = np.repeat(ctx.industry[rows] * 24, counts)
    target = np.repeat(c_lo, counts) + u_target * np.repeat(c_hi - c_lo, counts)
    # the hour whose CDF interval holds target: a table lookup, then step up while target is at or past the
    # hour's upper bound (the comparison searchsorted(side="right") makes; silent hours are stepped over)
    bucket = np.minimum((target * HOUR_GRID).astype(np.int64), HOUR_GRID - 1)
    pos = k24 + ctx.hour_grid[(k24 // 24) * HOUR_GRID + bucket]
    for _ in range(24):
        step = (target >= ctx.hour_next[pos]) & (pos < k24 + 23)  # target == 1.0 stays in the last hour
        if not step.any():
            break
        pos += step
    within = np.clip((target - ctx.hour_lo[pos]) * ctx.hour_inv[pos], 0.0, 1.0 - 1e-9)
    day_start = epoch(dt.datetime.combine(day, dt.time()))
    ts_us = day_start * US + (pos - k24) * (3600 * US) + (within * (3600 * US)).astype(np.int64)
    partial = (c_lo > 0) | (c_hi < 1)  # devices installed or silenced during the day
    if partial.any():  # keep float rounding at the window's edges inside [start + 1 s, stop)
        edge = np.flatnonzero(np.repeat(partial, counts))
        ts_us[edge] = np.clip(ts_us[edge], (ctx.start[dev[edge]] + 1) * US, ctx.stop[dev[edge]] * US - 1)

    is_pour = etype == EVENT_TYPES.index("pour")
    is_temp = etype == EVENT_TYPES.index("temperature")
    is_press = etype == EVENT_TYPES.index("pressure")
    f32 = np.float32
    sizes = np.array(ev.common_sizes, dtype=f32)
    v_lo, v_hi = ev.volume_ml
    any_volume = np.floor(f32(v_lo) + u[1] * f32(v_hi - v_lo + 1))
    common = sizes[np.minimum((u[1] * f32(sizes.size)).astype(np.int32), sizes.size - 1)] if sizes.size else any_volume
    volume = np.where(u[0] < f32(ev.common_share), common, any_volume)
    fl_lo, fl_hi = ev.flow_rate_ml_per_sec
    flow = np.round(f32(fl_lo) + u[2] * f32(fl_hi - fl_lo), 1)
    duration = np.round(volume / flow, 2)

    t_lo, t_hi = ev.temperature_c
    temp_anomaly = u[4] < f32(ev.temperature_anomaly_rate)
    a_lo, a_hi = TEMP_ANOMALY_C
    # + 0: -0.0 becomes 0.0, which is what its text "0.0" reads back as in the contract layout's jsonb
    temp = np.round(np.where(temp_anomaly, f32(a_lo) + u[3] * f32(a_hi - a_lo), f32(t_lo) + u[3] * f32(t_hi - t_lo)),
                    1) + f32(0)
    p_lo, p_hi = ev.pressure_psi
    press_anomaly = u[4] < f32(ev.pressure_anomaly_rate)
    pa_lo, pa_hi = PRESSURE_ANOMALY_PSI
    press = np.round(np.where(press_anomaly, f32(pa_lo) + u[5] * f32(pa_hi - pa_lo),
                              f32(p_lo) + u[5] * f32(p_hi - p_lo)), 1)
    status = np.where(etype == EVENT_TYPES.index("error"), np.int8(2),
                      (((is_temp | is_pour) & temp_anomaly) | (is_press & press_anomaly)).astype(np.int8))

    cat = ctx.category[dev]
    ts = pl.Series("timestamp", ts_us, dtype=pl.Int64).cast(pl.Datetime("us"))
    pour, temp_or_pour, pressure = pl.Series(is_pour), pl.Series(is_pour | is_temp), pl.Series(is_press)

    def only(mask: pl.Series, values: npt.NDArray[np.float32], dtype: pl.DataType = F32) -> pl.Series:
        # NULL where the event type does not carry the measurement (when/then sets validity from the mask)
        return pl.select(pl.when(mask).then(pl.Series(values).cast(dtype))).to_series()

    return pl.DataFrame({
        "id": np.arange(first_id, first_id + n, dtype=np.int32),
        "device_id": ctx.device_id[dev].astype(np.int32),
        "location_id": ctx.location_id[dev].astype(np.int32),
        "timestamp": ts,
        "event_type": labels(EVENT_TYPES, etype.astype(np.int64)),
        "status": labels(("success", "warning", "error"), status.astype(np.int64)),
        "device_category": labels(ctx.category_names, cat),
        "volume_ml": only(pour, volume, pl.Int32()),
        "temperature_c": only(temp_or_pour, temp),
        "pressure_psi": only(pressure, press),
        "flow_rate_ml_per_sec": only(pour, flow),
        "duration_seconds": only(pour, duration),
        "created_at": ts,
        # the row's binary layout (NULL columns and string values), for the numpy COPY encoder
        "_layout": (etype.astype(np.int32) * 3 + status) * len(ctx.category_names) + cat,
    })
