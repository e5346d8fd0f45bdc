"""Every check in the catalogue fails on data corrupted for it, and names the offending key."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

from datagen.checks import catalogue, run_checks
from datagen.config import Config
from datagen.generate import Generated
from datagen.tables import CORE_TABLES

Frames = dict[str, pl.DataFrame]


def _with(frames: Frames, key: str, frame: pl.DataFrame) -> Frames:
    out = dict(frames)
    out[key] = frame
    return out


def _set(frames: Frames, key: str, row_id: int, **values: object) -> Frames:
    f = frames[key]
    exprs = [pl.when(pl.col("id") == row_id).then(pl.lit(v, dtype=f.schema[c])).otherwise(pl.col(c)).alias(c)
             for c, v in values.items()]
    return _with(frames, key, f.with_columns(exprs))


def _duplicate_row(frames: Frames, key: str) -> Frames:
    f = frames[key]
    return _with(frames, key, pl.concat([f, f.head(1)]))


def _drop(frames: Frames, key: str, row_id: int, col: str = "id") -> Frames:
    return _with(frames, key, frames[key].filter(pl.col(col) != row_id))


def _head(frames: Frames, key: str, n: int) -> Frames:
    return _with(frames, key, frames[key].head(n))


def _all(frames: Frames, key: str, **values: object) -> Frames:
    f = frames[key]
    return _with(frames, key, f.with_columns([pl.lit(v, dtype=f.schema[c]).alias(c) for c, v in values.items()]))


LATE = dt.datetime(2030, 1, 1)
EARLY = dt.datetime(2000, 1, 1)

# check name -> (corruption, the key the check must report)
MUTATIONS: dict[str, tuple[Callable[[Frames], Frames], object]] = {}
for t in (t.key for t in CORE_TABLES):  # the checks every declaration implies, for every declared table
    MUTATIONS[f"{t}.pk_unique"] = (lambda f, t=t: _duplicate_row(f, t), 1)
    MUTATIONS[f"{t}.ids_in_range"] = (lambda f, t=t: _set(f, t, 2, id=999_999_999), 999_999_999)
    MUTATIONS[f"{t}.ids_sequential"] = (lambda f, t=t: _set(f, t, 2, id=999_999_999), 2)
    MUTATIONS[f"{t}.within_time_range"] = (lambda f, t=t: _set(f, t, 3, updated_at=LATE), 3)
MUTATIONS.update({
    "locations.customer_id_fk": (lambda f: _set(f, "locations", 5, customer_id=9999), 5),
    "devices.location_id_fk": (lambda f: _set(f, "devices", 7, location_id=99_999), 7),
    "devices.customer_id_fk": (lambda f: _set(f, "devices", 8, customer_id=9999), 8),
    "users.customer_id_fk": (lambda f: _set(f, "users", 9, customer_id=9999), 9),
    "subscriptions.customer_id_fk": (lambda f: _set(f, "subscriptions", 4, customer_id=9999), 4),
    "devices.customer_id_matches_locations": (lambda f: _set(f, "devices", 10, customer_id=150), 10),
    "locations.after_accounts": (lambda f: _set(f, "locations", 11, created_at=EARLY), 11),
    "devices.after_locations": (lambda f: _set(f, "devices", 12, created_at=EARLY), 12),
    "users.after_accounts": (lambda f: _set(f, "users", 13, created_at=EARLY), 13),
    "subscriptions.after_accounts": (lambda f: _set(f, "subscriptions", 5, start_date=EARLY.date()), 5),
    "accounts.has_locations": (lambda f: _drop(f, "locations", 1, "customer_id"), 1),
    "accounts.has_users": (lambda f: _drop(f, "users", 2, "customer_id"), 2),
    "locations.has_devices": (lambda f: _drop(f, "devices", 3, "location_id"), 3),
    "accounts.size_mix_exact": (lambda f: _set(f, "accounts", 1, size="enterprise"), "small"),
    "device_maintenance_logs.device_id_fk": (lambda f: _set(f, "device_maintenance_logs", 6, device_id=999_999), 6),
    "device_maintenance_logs.location_id_fk": (lambda f: _set(f, "device_maintenance_logs", 7, location_id=99_999),
                                               7),
    "device_maintenance_logs.customer_id_fk": (lambda f: _set(f, "device_maintenance_logs", 8, customer_id=9999),
                                               8),
    "device_maintenance_logs.location_id_matches_devices": (
        lambda f: _set(f, "device_maintenance_logs", 9, location_id=804), 9),
    "device_maintenance_logs.customer_id_matches_devices": (
        lambda f: _set(f, "device_maintenance_logs", 10, customer_id=150), 10),
    "device_maintenance_logs.after_devices": (lambda f: _set(f, "device_maintenance_logs", 11, performed_at=EARLY),
                                              11),
    "device_maintenance_logs.on_schedule": (lambda f: _with(f, "device_maintenance_logs", f[
        "device_maintenance_logs"].with_columns(scheduled_date=pl.when(pl.col("id") == 12).then(
            pl.col("scheduled_date") + dt.timedelta(days=1)).otherwise(pl.col("scheduled_date")))), 12),
    # counts, mixes and the data-quality rules name what is off (a string), not a row
    "accounts.count_in_bounds": (lambda f: _drop(f, "accounts", 150), "149 rows"),
    "locations.count_in_bounds": (lambda f: _head(f, "locations", 100), "100 rows"),
    "devices.count_in_bounds": (lambda f: _head(f, "devices", 100), "100 rows"),
    "users.count_in_bounds": (lambda f: _head(f, "users", 10), "10 rows"),
    "subscriptions.count_in_bounds": (lambda f: _head(f, "subscriptions", 10), "10 rows"),
    "accounts.industry_mix": (lambda f: _all(f, "accounts", industry="bar"), "industry=bar"),
    "devices.status_mix": (lambda f: _all(f, "devices", status="offline"), "status=offline"),
    "devices.device_type_mix": (lambda f: _all(f, "devices", device_type="sensor"), "device_type=sensor"),
    "users.role_mix": (lambda f: _all(f, "users", role="viewer"), "role=viewer"),
    "devices.min_uptime": (lambda f: _all(f, "devices", is_online=False), "0.000 of 25,022"),
    "locations.min_operational": (lambda f: _all(f, "locations", is_active=False), "0.000 of"),
    "subscriptions.max_mrr_variance": (lambda f: _with(f, "subscriptions", f["subscriptions"].with_columns(
        monthly_amount=pl.col("monthly_amount") * 2)), "variance 1.000"),
    "device_maintenance_logs.count_in_bounds": (lambda f: _with(f, "device_maintenance_logs", pl.concat(
        [f["device_maintenance_logs"]] * 40)), "2,178,680 rows"),
    # growth: fleets complete from their first day; every account signed up on the earliest day of the range
    "devices.fleet_growth": (lambda f: _with(f, "devices", f["devices"].with_columns(
        created_at=pl.col("created_at").min().over("customer_id"))), "months before the end"),
    "accounts.creation_growth": (lambda f: _all(f, "accounts", created_at=dt.datetime(2020, 8, 22, 9)), "z = "),
    "device_maintenance_logs.maintenance_type_mix": (
        lambda f: _all(f, "device_maintenance_logs", maintenance_type="emergency"), "maintenance_type=emergency"),
    "quality.max_orphaned_records": (lambda f: _set(f, "devices", 7, location_id=99_999), "devices.location_id: 1"),
})
# null rates: an optional column entirely NULL is off the configured share; a required one with a NULL is named
for t, optional, required in (("accounts", "website", "status"), ("locations", "city", "is_active"),
                              ("devices", "firmware_version", "status"), ("users", "email", "role"),
                              ("subscriptions", "billing_cycle", "plan_name"),
                              ("device_maintenance_logs", "technician", "maintenance_type")):
    MUTATIONS[f"{t}.optional_nulls"] = (lambda f, t=t, c=optional: _all(f, t, **{c: None}), f"{optional}: ")
    MUTATIONS[f"{t}.required_filled"] = (lambda f, t=t, c=required: _set(f, t, 4, **{c: None}), f"{required}: 1 NULLs")


def _second_active(f: Frames) -> Frames:
    subs = f["subscriptions"]
    extra = subs.filter(pl.col("status") == "active").head(1).with_columns(
        id=pl.lit(subs["id"].max() + 1, dtype=pl.Int32), start_date=pl.lit(dt.date(2025, 6, 1)), end_date=None)
    return _with(f, "subscriptions", pl.concat([subs, extra]))


def _first_active(f: Frames) -> tuple[int, int]:
    row = f["subscriptions"].filter(pl.col("status") == "active").row(0, named=True)
    return int(row["id"]), int(row["customer_id"])


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_check_fails_on_its_corruption(name: str, cfg: Config, default_gen: Generated) -> None:
    corrupt, key = MUTATIONS[name]
    frames = corrupt(default_gen.frames)
    outcomes = run_checks(frames, cfg)
    outcome = next(o for o in outcomes if o.check.name == name)
    assert outcome.violations >= 1
    # the checks that read none of the damaged tables still pass: the damage is named where it is
    damaged = {k for k, f in frames.items() if not f.equals(default_gen.frames[k])}
    unrelated = [o.check.name for o in outcomes if not o.passed and not damaged & set(o.check.tables)]
    assert unrelated == [], unrelated
    if isinstance(key, str) and not name.endswith("size_mix_exact"):
        assert any(key in str(s) for s in outcome.sample), outcome.sample
    else:
        assert key in outcome.sample


def test_subscription_rules_fail_on_their_corruptions(cfg: Config, default_gen: Generated) -> None:
    f = default_gen.frames
    sub_id, customer = _first_active(f)
    bad = {o.check.name: o for o in run_checks(_second_active(f), cfg)}
    assert customer in bad["subscriptions.one_live_per_account"].sample
    assert not bad["subscriptions.no_overlap"].passed

    bad = {o.check.name: o for o in run_checks(_set(f, "subscriptions", sub_id, monthly_price=1.0), cfg)}
    assert sub_id in bad["subscriptions.price_matches_tier"].sample

    big = f["subscriptions"].filter((pl.col("status") == "active") & (pl.col("plan_name") != "enterprise")).row(
        0, named=True)
    moved = f["devices"].with_columns(customer_id=pl.lit(big["customer_id"], dtype=pl.Int32))
    bad = {o.check.name: o for o in run_checks(_with(f, "devices", moved), cfg)}
    assert big["id"] in bad["subscriptions.within_tier_limit"].sample


def test_an_earlier_tier_must_hold_the_fleet_of_its_time(cfg: Config, default_gen: Generated) -> None:
    f = default_gen.frames
    old = f["subscriptions"].filter(pl.col("status") == "expired").row(0, named=True)
    name = "subscriptions.history_within_tier_limit"
    assert next(o for o in run_checks(f, cfg) if o.check.name == name).passed
    # the expired row held the smallest tier until the end: far fewer devices than its account had by then
    bad = _set(f, "subscriptions", old["id"], plan_name="starter", end_date=dt.date(2025, 6, 25))
    outcome = next(o for o in run_checks(bad, cfg) if o.check.name == name)
    assert outcome.sample == [old["id"]]


def test_every_check_has_a_mutation() -> None:
    covered = set(MUTATIONS) | {"subscriptions.one_live_per_account", "subscriptions.no_overlap",
                                "subscriptions.price_matches_tier", "subscriptions.within_tier_limit",
                                "subscriptions.history_within_tier_limit"}
    assert {c.name for c in catalogue()} == covered
