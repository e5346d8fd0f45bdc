"""Locations: each account's venues, in real US cities weighted by the region shares."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from datagen._vocab import words, zip_prefixes
from datagen.builders._common import (
    after,
    allocate_ids,
    counts_in_range,
    epoch,
    index_within,
    labels,
    pick,
    weighted,
)
from datagen.config import Config

FLAGSHIP_DELAY_DAYS = 3  # the first venue is set up within days of sign-up
LOCATION_DELAY_DAYS = 30  # legacy: locations follow their account by up to 30 days
UPDATED_MAX_DAYS = 60
COORD_JITTER_DEG = 0.03  # ~3 km: venues spread around the city centre
SEATS_PER_DEVICE = (6, 15)


def build(cfg: Config, parents: Mapping[str, pl.DataFrame], rng: np.random.Generator) -> pl.DataFrame:
    """Expand accounts by their location_count; draws each location's device count (expected_device_count).
    Places come from the us_cities input."""
    accounts = parents["accounts"]
    per_account = accounts["location_count"].to_numpy().astype(np.int64)
    n = int(per_account.sum())
    ids = allocate_ids(cfg, "locations", n)
    acc = accounts.select("id", "name", "industry", "size", "created_at", "_churned").gather(
        np.repeat(np.arange(accounts.height), per_account))
    index = index_within(per_account)
    end = epoch(cfg.end)
    acc_created = (acc["created_at"].dt.epoch("s")).to_numpy()

    # venue type per the account's industry
    venue = pl.Series([""] * n, dtype=pl.String)
    industry_of = acc["industry"].to_numpy()
    u = rng.random(n)
    for ind in cfg.industries:
        mask = industry_of == ind.name
        if mask.any():
            choice = weighted(u[mask], np.array([s for _, s in ind.venue_types]))
            venue = venue.scatter(np.flatnonzero(mask), labels([v for v, _ in ind.venue_types], choice))

    other_type = pick(rng, cfg.other_location_types, n)
    location_type = np.where(index == 0, "flagship",
                             np.array([t for t, _ in cfg.other_location_types])[other_type])

    # region by share, then a state evenly within it, then a city weighted by population
    region = pick(rng, [(r.name, r.share) for r in cfg.regions], n)
    state_u = rng.random(n)
    states = np.empty(n, dtype=object)
    for k, reg in enumerate(cfg.regions):
        mask = region == k
        states[mask] = np.array(reg.states, dtype=object)[np.floor(state_u[mask] * len(reg.states)).astype(int)]
    cities = parents["us_cities"]
    city_row = np.zeros(n, dtype=np.int64)
    city_u = rng.random(n)
    for st in sorted({s for r in cfg.regions for s in r.states}):
        mask = states == st
        if not mask.any():
            continue
        rows = np.flatnonzero((cities["state"] == st).to_numpy())
        city_row[mask] = rows[weighted(city_u[mask], cities["population"].to_numpy()[rows].astype(np.float64))]
    city = cities.gather(city_row)
    lat = city["latitude"].to_numpy() + rng.normal(0.0, COORD_JITTER_DEG, n)
    lon = city["longitude"].to_numpy() + rng.normal(0.0, COORD_JITTER_DEG, n)

    zips = zip_prefixes()
    state_series = pl.Series(states.astype(str), dtype=pl.String)
    zp = pl.DataFrame({"state": state_series}).join(zips, on="state", how="left", maintain_order="left")
    zlo, zhi = zp["low"].to_numpy().astype(np.int64), zp["high"].to_numpy().astype(np.int64)
    zip_num = (zlo + np.floor(rng.random(n) * (zhi - zlo + 1)).astype(np.int64)) * 100 + rng.integers(0, 100, n)

    street_no = rng.integers(1, 10_000, n)
    streets, suffixes = words("street_names"), words("street_suffixes")
    street = labels(streets, rng.integers(0, len(streets), n))
    suffix = labels(suffixes, rng.integers(0, len(suffixes), n))

    created = np.where(index == 0, after(rng, acc_created, FLAGSHIP_DELAY_DAYS, end),
                       after(rng, acc_created, LOCATION_DELAY_DAYS, end))
    updated = after(rng, created, UPDATED_MAX_DAYS, end, min_seconds=0)

    size_idx = acc["size"].replace_strict({s.name: i for i, s in enumerate(cfg.sizes)}).to_numpy()
    dev_lo = np.array([s.devices_per_location[0] for s in cfg.sizes])[size_idx]
    dev_hi = np.array([s.devices_per_location[1] for s in cfg.sizes])[size_idx]
    devices = counts_in_range(rng, dev_lo, dev_hi, cfg.count_shape("devices_per_location"))
    capacity = devices * rng.integers(SEATS_PER_DEVICE[0], SEATS_PER_DEVICE[1] + 1, n)

    frame = pl.DataFrame({
        "id": ids,
        "customer_id": acc["id"],
        "_account_name": acc["name"],
        "city": city["city"],
        "state": state_series,
        "location_type": pl.Series(location_type.astype(str), dtype=pl.String),
        "business_type": venue,
        "industry": acc["industry"],
        "size": acc["size"],
        "expected_device_count": devices,
        "latitude": np.round(lat, 6),
        "longitude": np.round(lon, 6),
        "capacity": capacity,
        "is_active": ~acc["_churned"],
        "_street_no": street_no,
        "_street": street,
        "_suffix": suffix,
        "_zip": zip_num,
        "created_at": pl.Series(created * 1_000_000).cast(pl.Datetime("us")),
        "updated_at": pl.Series(updated * 1_000_000).cast(pl.Datetime("us")),
    })
    label = pl.when(pl.col("location_type") == "flagship").then(pl.lit("Main")).otherwise(pl.col("city"))
    name = pl.concat_str([pl.col("_account_name"), pl.lit(" - "), label])
    return frame.with_columns(
        name=pl.when(name.cum_count().over(name) > 1)
        .then(pl.concat_str([name, pl.lit(" #"), name.cum_count().over(name).cast(pl.String)]))
        .otherwise(name),
        address=pl.concat_str([pl.col("_street_no").cast(pl.String), pl.lit(" "), pl.col("_street"), pl.lit(" "),
                               pl.col("_suffix")]),
        zip_code=pl.col("_zip").cast(pl.String).str.zfill(5),
        country=pl.lit("US"),
        install_date=pl.col("created_at").dt.date(),
    ).drop("_account_name", "_street_no", "_street", "_suffix", "_zip")
