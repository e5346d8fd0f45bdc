"""Devices: tap controllers, sensors and gateways installed at each location."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import polars as pl

from datagen.builders._common import (
    DAY,
    MONTH,
    after,
    allocate_ids,
    epoch,
    index_within,
    labels,
    pick,
    to_datetime,
)
from datagen.config import Config

INSTALL_DELAY_DAYS = 30  # legacy: devices are installed up to 30 days after their location opens
UPDATED_MAX_DAYS = 30
LIFESPAN_YEARS = (5, 10)
ENERGY_WATTS = (50, 500)
ONLINE_SILENCE_MAX_S = 15 * 60  # an online device reported within the last 15 minutes
MAINTENANCE_SILENCE_MAX_DAYS = 3
MAC_PREFIX = "00:16:3e"  # legacy prefix; the last three bytes are the device id, so MACs are unique
_HEX = [f"{i:02x}" for i in range(256)]


def fleet_growth(cfg: Config, account: npt.NDArray[np.int64], ids: npt.NDArray[np.int64],
                 ready: npt.NDArray[np.int64], end: int) -> npt.NDArray[np.int64]:
    """Installation times: growth_patterns.monthly_growth_rate.device_expansion makes each account's fleet grow
    at that monthly rate and reach its planned size a day before the end: its k-th of N devices (in the order
    they could be installed, `ready`: its location open plus a setup delay) is due when N (1 + rate)^(t / month)
    reaches k, counted back from the end, and goes in when both it is due and its location is ready. The first
    devices are all due at once (the fleet's start). At rate 0 every device goes in when ready."""
    rate = cfg.growth_rate("device_expansion")
    if rate <= 0.0 or ids.size == 0:
        return ready
    order = np.lexsort((ids, ready, account))
    acc_sorted = account[order]
    first = np.concatenate([[True], acc_sorted[1:] != acc_sorted[:-1]])
    starts = np.flatnonzero(first)
    sizes = np.diff(np.append(starts, acc_sorted.size))
    k = np.arange(acc_sorted.size) - np.repeat(starts, sizes) + 1  # 1-based place in the account's fleet
    fleet = np.repeat(sizes, sizes)
    due = (end - DAY) + np.floor(MONTH * np.log(k / fleet) / np.log1p(rate)).astype(np.int64)
    out = np.empty_like(ready)
    out[order] = np.maximum(ready[order], due)
    return out


def build(cfg: Config, parents: Mapping[str, pl.DataFrame], rng: np.random.Generator) -> pl.DataFrame:
    """Expand locations by expected_device_count."""
    locations = parents["locations"]
    per_location = locations["expected_device_count"].to_numpy().astype(np.int64)
    n = int(per_location.sum())
    ids = allocate_ids(cfg, "devices", n)
    loc = locations.select("id", "customer_id", "created_at").gather(
        np.repeat(np.arange(locations.height), per_location))
    index = index_within(per_location)
    end = epoch(cfg.end)
    dv = cfg.devices

    dtype_idx = pick(rng, [(t.name, t.share) for t in dv.types], n)
    # flatten (type, manufacturer, model) so one draw picks a model uniformly within its manufacturer
    manu_u, model_u = rng.random(n), rng.random(n)
    manufacturer = pl.Series([""] * n, dtype=pl.String)
    model = pl.Series([""] * n, dtype=pl.String)
    generation = np.zeros(n, dtype=np.int64)
    premium = np.zeros(n, dtype=bool)
    price_lo, price_hi = np.zeros(n), np.zeros(n)
    gens = len(dv.firmware_by_generation)
    for k, t in enumerate(dv.types):
        rows = np.flatnonzero(dtype_idx == k)
        if rows.size == 0:
            continue
        price_lo[rows], price_hi[rows] = t.price
        m_idx = np.floor(manu_u[rows] * len(t.manufacturers)).astype(np.int64)
        manufacturer = manufacturer.scatter(rows, labels([m for m, _ in t.manufacturers], m_idx))
        for j, (_, models) in enumerate(t.manufacturers):
            sub = rows[m_idx == j]
            if sub.size == 0:
                continue
            pos = np.floor(model_u[sub] * len(models)).astype(np.int64)
            model = model.scatter(sub, labels(models, pos))
            generation[sub] = pos * gens // len(models)
            premium[sub] = pos == len(models) - 1
    base_price = price_lo + rng.random(n) * (price_hi - price_lo)
    price = np.round(np.where(premium, base_price * dv.premium_price_factor, base_price), 2)

    fw_u = rng.random(n)
    firmware = pl.Series([""] * n, dtype=pl.String)
    for g, versions in enumerate(dv.firmware_by_generation):
        rows = np.flatnonzero(generation == g)
        if rows.size:
            firmware = firmware.scatter(rows, labels(versions, np.floor(fw_u[rows] * len(versions)).astype(int)))

    loc_created = loc["created_at"].dt.epoch("s").to_numpy()
    installed = fleet_growth(cfg, loc["customer_id"].to_numpy(), ids,
                             after(rng, loc_created, INSTALL_DELAY_DAYS, end), end)
    warranty_years = rng.integers(dv.warranty_years[0], dv.warranty_years[1] + 1, n)
    updated = after(rng, installed, UPDATED_MAX_DAYS, end, min_seconds=0)

    status_idx = pick(rng, dv.operational_status, n)
    status_names = [s for s, _ in dv.operational_status]
    status = labels(status_names, status_idx)
    band = pick(rng, [(b.name, b.share) for b in dv.health_score], n)
    b_lo = np.array([b.range[0] for b in dv.health_score])[band]
    b_hi = np.array([b.range[1] for b in dv.health_score])[band]
    health = np.round(b_lo + rng.random(n) * (b_hi - b_lo), 3)

    # last_seen_at: online devices report continuously; offline ones fell silent at some point after
    # installation; devices in maintenance went quiet in the last few days.
    silent_u = rng.random(n)
    status_arr = status.to_numpy()
    last_seen = np.where(
        status_arr == "online", end - np.floor(silent_u * ONLINE_SILENCE_MAX_S).astype(np.int64),
        np.where(status_arr == "offline", installed + np.floor(silent_u * (end - installed)).astype(np.int64),
                 end - np.floor(silent_u * MAINTENANCE_SILENCE_MAX_DAYS * DAY).astype(np.int64)))
    last_seen = np.maximum(last_seen, installed)

    # the most recent scheduled service: every maintenance interval after installation
    interval = cfg.maintenance_interval_days * DAY
    services = (end - installed) // interval
    last_service = np.where(services >= 1, installed + services * interval, 0)

    ip_c = 1 + loc["id"].to_numpy() % 254
    ip_d = 1 + index % 254
    byte_series = [pl.Series(_HEX).gather(pl.Series((ids >> shift) & 0xFF)) for shift in (16, 8, 0)]

    frame = pl.DataFrame({
        "id": ids,
        "location_id": loc["id"],
        "customer_id": loc["customer_id"],
        "device_type": labels([t.name for t in dv.types], dtype_idx),
        "category": labels([t.category for t in dv.types], dtype_idx),
        "manufacturer": manufacturer,
        "model": model,
        "purchase_price": price,
        "firmware_version": firmware,
        "ip_address": pl.Series([f"192.168.{c}." for c in range(256)]).gather(pl.Series(ip_c)),
        "_ip_d": ip_d,
        "_m1": byte_series[0], "_m2": byte_series[1], "_m3": byte_series[2],
        "status": status,
        "health_score": health,
        "usage_pattern": labels([u for u, _ in dv.usage_pattern], pick(rng, dv.usage_pattern, n)),
        "expected_lifespan_years": rng.integers(LIFESPAN_YEARS[0], LIFESPAN_YEARS[1] + 1, n),
        "energy_consumption_watts": rng.integers(ENERGY_WATTS[0], ENERGY_WATTS[1] + 1, n),
        "network_connectivity": labels([c for c, _ in dv.connectivity], pick(rng, dv.connectivity, n)),
        "_warranty_days": warranty_years * 365,
        "_last_service": last_service,
        "last_seen_at": to_datetime(last_seen),
        "created_at": to_datetime(installed),
        "updated_at": to_datetime(updated),
    })
    install_date = pl.col("created_at").dt.date()
    return frame.with_columns(
        install_date=install_date,
        installation_date=install_date,
        warranty_expiry=install_date + pl.duration(days=pl.col("_warranty_days")),
        serial_number=pl.concat_str([pl.col("model"), pl.lit("-"), pl.col("created_at").dt.year().cast(pl.String),
                                     pl.lit("-"), pl.col("id").cast(pl.String).str.zfill(6)]),
        ip_address=pl.concat_str([pl.col("ip_address"), pl.col("_ip_d").cast(pl.String)]),
        mac_address=pl.concat_str([pl.lit(MAC_PREFIX), pl.col("_m1"), pl.col("_m2"), pl.col("_m3")],
                                  separator=":"),
        is_online=pl.col("status") == "online",
        last_maintenance_date=pl.when(pl.col("_last_service") > 0)
        .then(pl.from_epoch(pl.col("_last_service"), time_unit="s").dt.date()),
    ).drop("_ip_d", "_m1", "_m2", "_m3", "_warranty_days", "_last_service")
