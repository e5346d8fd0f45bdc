"""The business and temporal rules of the core tables: the checks a declaration cannot imply."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import polars as pl

from datagen.builders import device_maintenance_logs
from datagen.builders._common import DAY, MONTH, MONTH_DAYS, epoch
from datagen.checks._model import LIVE_STATUSES, MIX_SIGMAS, Check, Frames, mix_tolerance
from datagen.checks.declared import foreign_key
from datagen.config import Config
from datagen.plan import make_plan
from datagen.tables import CORE_TABLES, Table


def _after_parent(child: str, fk: str, parent: str, child_col: str = "created_at",
                  parent_col: str = "created_at") -> Check:
    def run(f: Frames, _: Config) -> pl.Series:
        p = f[parent].select(pl.col("id").alias(fk), pl.col(parent_col).alias("_parent_at"))
        j = f[child].select("id", fk, child_col).join(p, on=fk, how="inner")
        c, pa = pl.col(child_col), pl.col("_parent_at")
        if j.schema[child_col] == pl.Date and j.schema["_parent_at"] != pl.Date:
            pa = pa.dt.date()
        return j.filter(c < pa)["id"]
    return Check(f"{child}.after_{parent}", "error", f"{child}.{child_col} is not before its {parent}'s {parent_col}",
                 (child, parent), run)


def _has_children(parent: str, child: str, fk: str) -> Check:
    def run(f: Frames, _: Config) -> pl.Series:
        return f[parent].select("id").join(f[child].select(pl.col(fk).alias("id")), on="id", how="anti")["id"]
    return Check(f"{parent}.has_{child}", "error", f"every {parent} row has at least one {child} row",
                 (parent, child), run)


def _one_live_subscription(f: Frames, _: Config) -> pl.Series:
    live = f["subscriptions"].filter(pl.col("status").is_in(LIVE_STATUSES))
    return live.group_by("customer_id").len().filter(pl.col("len") > 1)["customer_id"].sort()


def _no_overlap(f: Frames, cfg: Config) -> pl.Series:
    s = f["subscriptions"].sort("customer_id", "start_date", "id").with_columns(
        _stop=pl.col("end_date").fill_null(dt.date.max))
    nxt = pl.col("start_date").shift(-1).over("customer_id")
    bad = s.filter((nxt < pl.col("_stop")) | (pl.col("end_date") < pl.col("start_date")))
    return bad["id"]


def _within_tier_limit(f: Frames, cfg: Config) -> pl.Series:
    limits = pl.DataFrame({"plan_name": [t.key for t in cfg.subscriptions.tiers],
                           "_limit": [t.device_limit for t in cfg.subscriptions.tiers]},
                          schema={"plan_name": pl.String, "_limit": pl.Int64})
    counts = f["devices"].group_by("customer_id").len()
    live = f["subscriptions"].filter(pl.col("status") == "active").join(limits, on="plan_name", how="left")
    j = live.join(counts, on="customer_id", how="left").with_columns(pl.col("len").fill_null(0))
    return j.filter(pl.col("_limit").is_not_null() & (pl.col("len") > pl.col("_limit")))["id"]


def _history_within_tier_limit(f: Frames, cfg: Config) -> pl.Series:
    """An account's earlier (expired) row held its fleet: devices installed before the upgrade day fit that
    row's tier."""
    limits = pl.DataFrame({"plan_name": [t.key for t in cfg.subscriptions.tiers],
                           "_limit": [t.device_limit for t in cfg.subscriptions.tiers]},
                          schema={"plan_name": pl.String, "_limit": pl.Int64})
    old = f["subscriptions"].filter(pl.col("status") == "expired").join(limits, on="plan_name", how="inner")
    old = old.filter(pl.col("_limit").is_not_null())
    if old.height == 0:
        return pl.Series("id", [], dtype=pl.Int32)
    installed = f["devices"].select("customer_id", pl.col("created_at").dt.date().alias("_day"))
    j = old.select("id", "customer_id", "end_date", "_limit").join(installed, on="customer_id", how="left")
    n = j.group_by("id", "_limit").agg((pl.col("_day") < pl.col("end_date")).sum().alias("_before"))
    return n.filter(pl.col("_before") > pl.col("_limit"))["id"].sort()


def _fleet_growth(f: Frames, cfg: Config) -> pl.Series:
    """The fleets grow at growth_patterns.monthly_growth_rate.device_expansion, fitted over the whole range: h
    months before the end (h = 3, 6, 12, 24) an account whose fleet had started three months earlier had
    floor(N / (1 + rate) ** h) of its N devices; pooled over those accounts (one account's monthly counts are
    too few) the installed devices must be within 2% (+2) of that. The message gives the fitted monthly rate."""
    rate = cfg.growth_rate("device_expansion")
    end = epoch(cfg.end) - DAY  # where the builder's fleets reach their planned size
    month = MONTH
    d = f["devices"].select("customer_id", pl.col("created_at").dt.epoch("s").alias("t"))
    bad = []
    for h in (3, 6, 12, 24):
        at = end - h * month
        fleets = d.group_by("customer_id").agg(pl.col("t").min().alias("first"), pl.len().alias("n"),
                                               (pl.col("t") <= at).sum().alias("then"))
        fleets = fleets.filter(pl.col("first") <= at - 90 * DAY)
        if fleets.height == 0:
            continue
        n = fleets["n"].to_numpy()
        then = int(fleets["then"].sum())
        want = int(np.floor(n / (1 + rate) ** h + 1e-9).sum())
        if abs(then - want) > 0.02 * want + 2:
            fitted = (int(n.sum()) / then) ** (1 / h) - 1 if then else float("inf")
            bad.append(f"{h} months before the end: {then:,} devices of {int(n.sum()):,} in {fleets.height} accounts, "
                       f"the config's rate gives {want:,} (fitted {fitted:.4f} a month, config {rate:g})")
    return pl.Series("fit", bad, dtype=pl.String)


def _creation_growth(f: Frames, cfg: Config) -> pl.Series:
    """Sign-ups grow at growth_patterns.monthly_growth_rate.new_accounts inside each growth-pattern window:
    the mean place of accounts in their windows against the truncated exponential's, within MIX_SIGMAS sigma
    (a z score over all accounts: 150 of them are a few a month, too few to fit month by month)."""
    rate = cfg.growth_rate("new_accounts")
    created = f["accounts"]["created_at"].dt.date()
    days = (pl.Series([cfg.end.date()] * created.len()) - created).dt.total_days().to_numpy()
    total, mean, var = 0, 0.0, 0.0
    for g in cfg.growth:
        lo, hi = g.days_before_end
        inside = (days >= lo) & (days <= hi)
        span = hi - lo + 1
        v = (days[inside] - lo + 0.5) / span  # 0 at the window's latest day, 1 at its earliest
        lam = math.log1p(rate) * span / MONTH_DAYS
        if lam < 1e-9:
            e, s2 = 0.5, 1 / 12
        else:  # density proportional to exp(-lam v) on [0, 1)
            e = 1 / lam - 1 / math.expm1(lam)
            s2 = 1 / lam**2 - math.exp(lam) / math.expm1(lam) ** 2
        total += int(inside.sum())
        mean += float((v - e).sum())
        var += inside.sum() * s2
    z = mean / math.sqrt(var) if var > 0 else 0.0
    return pl.Series("fit", [f"z = {z:.2f} over {total} accounts (config {rate:g} a month)"] if abs(z) > MIX_SIGMAS
                     else [], dtype=pl.String)


def _price_matches_tier(f: Frames, cfg: Config) -> pl.Series:
    prices = pl.DataFrame({"plan_name": [t.key for t in cfg.subscriptions.tiers] + ["trial"],
                           "_price": [t.price for t in cfg.subscriptions.tiers] + [cfg.subscriptions.trial_price]})
    j = f["subscriptions"].join(prices, on="plan_name", how="left")
    return j.filter(pl.col("_price").is_null()
                    | ((pl.col("monthly_price").cast(pl.Float64) - pl.col("_price")).abs() > 0.005))["id"]


def _size_mix_exact(f: Frames, cfg: Config) -> pl.Series:
    want = cfg.accounts_per_size()
    got = dict(f["accounts"].group_by("size").len().iter_rows())
    return pl.Series("size", [s for s in want if got.get(s, 0) != want[s]] +
                     [s for s in got if s not in want], dtype=pl.String)


def _count_in_bounds(key: str) -> Check:
    def run(f: Frames, cfg: Config) -> pl.Series:
        row = next(r for r in make_plan(cfg, {}) if r.table == key)
        n = f[key].height
        return pl.Series(key, [] if row.minimum <= n <= row.maximum else
                         [f"{n:,} rows, config allows {row.minimum:,} to {row.maximum:,}"], dtype=pl.String)
    return Check(f"{key}.count_in_bounds", "error", f"{key} row count within what the config allows (runbook: "
                 "expected counts)", (key,), run)




def _off_mix(counts: dict[str, int], shares: dict[str, float], draws: int, label: str,
             fixed: dict[str, int] | None = None) -> pl.Series:
    """Categories whose count is off fixed + draws x share by more than the tolerance of `draws` random picks."""
    bad = []
    fixed = fixed or {}
    for value in sorted(set(counts) | set(shares)):
        p = shares.get(value, 0.0)
        got, want = counts.get(value, 0), fixed.get(value, 0) + draws * p
        tolerance = mix_tolerance(draws, p)
        if abs(got - want) > tolerance:
            bad.append(f"{label}={value}: {got:,} rows, config {want:,.1f} +- {tolerance:,.1f}")
    return pl.Series(label, bad, dtype=pl.String)


def _mix(table: str, column: str, shares: Callable[[Config], list[tuple[str, float]]]) -> Check:
    def run(f: Frames, cfg: Config) -> pl.Series:
        counts = {str(k): int(v) for k, v in f[table].group_by(column).len().iter_rows()}
        return _off_mix(counts, dict(shares(cfg)), f[table].height, column)
    return Check(f"{table}.{column}_mix", "error", f"{table}.{column} shares within {MIX_SIGMAS:g} sigma of the config",
                 (table,), run)


def _role_mix(f: Frames, cfg: Config) -> pl.Series:
    """The first user of every account is its admin; the others draw a role from the shares."""
    users = f["users"]
    firsts = users.group_by("customer_id").agg(pl.col("id").min())["id"].len()
    counts = {str(k): int(v) for k, v in users.group_by("role").len().iter_rows()}
    return _off_mix(counts, {r.name: r.share for r in cfg.roles}, users.height - firsts, "role", {"admin": firsts})


def _share_rule(name: str, description: str, tables: tuple[str, ...],
                share: Callable[[Frames], tuple[float, int]], minimum: Callable[[Config], float]) -> Check:
    def run(f: Frames, cfg: Config) -> pl.Series:
        value, n = share(f)
        low = minimum(cfg)
        # drawn at random: below the minimum by more than sampling allows (a 1-device config can be offline)
        slack = (MIX_SIGMAS * math.sqrt(low * (1 - low) / n) + 1 / n) if n else 0.0
        return pl.Series(name, [f"{value:.3f} of {n:,} < {low:.3f} (tolerance {slack:.3f})"]
                         if n and value < low - slack else [], dtype=pl.String)
    return Check(name, "error", description, tables, run)


def _uptime(f: Frames) -> tuple[float, int]:
    d = f["devices"]
    return (float(d["is_online"].fill_null(False).mean() or 0.0), d.height)  # type: ignore[arg-type]


def _operational(f: Frames) -> tuple[float, int]:
    """Locations of live accounts that are active and have an online device."""
    live = f["accounts"].filter(pl.col("status").is_in(LIVE_STATUSES)).select(pl.col("id").alias("customer_id"))
    online = f["devices"].filter(pl.col("is_online")).select("location_id").unique()
    locs = f["locations"].join(live, on="customer_id", how="semi")
    ok = locs.filter(pl.col("is_active")).join(online, left_on="id", right_on="location_id", how="semi")
    return (ok.height / locs.height if locs.height else 1.0, locs.height)


def _mrr_variance(f: Frames, cfg: Config) -> pl.Series:
    prices = pl.DataFrame({"plan_name": [t.key for t in cfg.subscriptions.tiers],
                           "_price": [t.price for t in cfg.subscriptions.tiers]})
    active = f["subscriptions"].filter(pl.col("status") == "active").join(prices, on="plan_name", how="inner")
    want = float(active["_price"].sum())
    got = float(active["monthly_amount"].cast(pl.Float64).sum())
    variance = abs(got - want) / want if want else 0.0
    limit = cfg.quality.max_mrr_variance
    return pl.Series("mrr", [f"MRR {got:,.2f} vs tier prices {want:,.2f}: variance {variance:.3f} > {limit:.3f}"]
                     if variance > limit + 1e-12 else [], dtype=pl.String)


def _orphans(f: Frames, cfg: Config) -> pl.Series:
    counts = []
    for t in CORE_TABLES:
        for fk in t.foreign_keys:
            if t.key in f and fk.parent in f:
                n = foreign_key(t, fk.column, fk.parent, fk.parent_column).run(f, cfg).len()
                if n:
                    counts.append((f"{t.key}.{fk.column}", n))
    total = sum(n for _, n in counts)
    limit = cfg.quality.max_orphaned_records
    return pl.Series("orphans", [f"{name}: {n:,}" for name, n in counts] if total > limit else [], dtype=pl.String)


def _maintenance_mix(f: Frames, cfg: Config) -> pl.Series:
    """Among visits due long enough before the end that a late one has happened (overdue ones are performed
    up to a month late; later ones are not in the log yet)."""
    settled = cfg.end_date - dt.timedelta(days=device_maintenance_logs.OVERDUE_DAYS[1])
    logs = f["device_maintenance_logs"].filter(pl.col("scheduled_date") <= settled)
    counts = {str(k): int(v) for k, v in logs.group_by("maintenance_type").len().iter_rows()}
    return _off_mix(counts, dict(cfg.maintenance_types), logs.height, "maintenance_type")


def _maintenance_on_schedule(f: Frames, cfg: Config) -> pl.Series:
    """Every visit belongs to a planned date a whole number of intervals after the device's installation."""
    dev = f["devices"].select(pl.col("id").alias("device_id"), pl.col("created_at").dt.date().alias("_installed"))
    j = f["device_maintenance_logs"].join(dev, on="device_id")
    days = (pl.col("scheduled_date") - pl.col("_installed")).dt.total_days()
    return j.filter((days <= 0) | (days % cfg.maintenance_interval_days != 0))["id"]


def _not_after_end(t: Table) -> Check:
    def run(f: Frames, cfg: Config) -> pl.Series:
        frame = f[t.key]
        cond = pl.lit(False)
        for c in t.columns:
            if c.dtype == pl.Datetime("us"):
                cond = cond | (pl.col(c.name) > cfg.end)
            elif c.dtype == pl.Date() and c.name not in ("warranty_expiry",):
                cond = cond | (pl.col(c.name) > cfg.end_date)
        if stamped:
            cond = cond | (pl.col("updated_at") < pl.col("created_at"))
        return frame.filter(cond)[t.primary_key]
    stamped = {"created_at", "updated_at"} <= set(t.column_names)
    return Check(f"{t.key}.within_time_range", "error", f"{t.key} dates are not after time_range.end_date"
                 + (" and updated_at is not before created_at" if stamped else ""), (t.key,), run)


def core_rules() -> list[Check]:
    """The business and temporal rules of the core tables, in a stable order."""
    return [
        _after_parent("locations", "customer_id", "accounts"),
        _after_parent("devices", "location_id", "locations"),
        _after_parent("users", "customer_id", "accounts"),
        _after_parent("subscriptions", "customer_id", "accounts", "start_date", "created_at"),
        _after_parent("device_maintenance_logs", "device_id", "devices", "performed_at"),
        *[_not_after_end(t) for t in CORE_TABLES],
        _has_children("accounts", "locations", "customer_id"),
        _has_children("accounts", "users", "customer_id"),
        _has_children("locations", "devices", "location_id"),
        Check("subscriptions.one_live_per_account", "error",
              "at most one active or trial subscription per account", ("subscriptions",), _one_live_subscription),
        Check("subscriptions.no_overlap", "error", "an account's subscriptions never overlap in time",
              ("subscriptions",), _no_overlap),
        Check("subscriptions.within_tier_limit", "error",
              "an account's device count fits its active tier's device_limit", ("subscriptions", "devices"),
              _within_tier_limit),
        Check("subscriptions.price_matches_tier", "error", "monthly_price equals the tier's configured price",
              ("subscriptions",), _price_matches_tier),
        Check("subscriptions.history_within_tier_limit", "error", "an earlier (expired) row's tier held the devices "
              "installed before the upgrade", ("subscriptions", "devices"), _history_within_tier_limit),
        Check("devices.fleet_growth", "error", "fleets grow at growth_patterns.monthly_growth_rate.device_expansion "
              "(fitted over the whole range)", ("devices",), _fleet_growth),
        Check("accounts.creation_growth", "error", "sign-ups grow at growth_patterns.monthly_growth_rate.new_accounts "
              f"inside their growth-pattern windows (within {MIX_SIGMAS:g} sigma)", ("accounts",), _creation_growth),
        Check("accounts.size_mix_exact", "error", "accounts per size equal total x share exactly",
              ("accounts",), _size_mix_exact),
        *[_count_in_bounds(t.key) for t in CORE_TABLES],
        _mix("accounts", "industry", lambda c: [(i.name, i.share) for i in c.industries]),
        _mix("devices", "status", lambda c: list(c.devices.operational_status)),
        _mix("devices", "device_type", lambda c: [(d.name, d.share) for d in c.devices.types]),
        Check("users.role_mix", "error", f"users.role shares within {MIX_SIGMAS:g} sigma of the config (the first "
              "user of each account is its admin)", ("users",), _role_mix),
        _share_rule("devices.min_uptime", "share of devices online at least data_quality min_device_uptime "
                    f"(less {MIX_SIGMAS:g} sigma)",
                    ("devices",), _uptime, lambda c: c.quality.min_device_uptime),
        _share_rule("locations.min_operational", "share of live accounts' locations that are active with a "
                    "device online at least data_quality min_location_operational (less 5 sigma)",
                    ("locations", "accounts", "devices"), _operational, lambda c: c.quality.min_location_operational),
        Check("subscriptions.max_mrr_variance", "error", "active subscriptions' MRR within data_quality "
              "max_mrr_variance of their tier prices", ("subscriptions",), _mrr_variance),
        Check("device_maintenance_logs.maintenance_type_mix", "error", "maintenance types within "
              f"{MIX_SIGMAS:g} sigma of maintenance.types (visits due over a month before the end)",
              ("device_maintenance_logs",), _maintenance_mix),
        Check("device_maintenance_logs.on_schedule", "error", "visits are planned a whole number of maintenance "
              "intervals after installation", ("device_maintenance_logs", "devices"),
              _maintenance_on_schedule),
        Check("quality.max_orphaned_records", "error", "orphaned foreign keys in the core tables at most "
              "data_quality max_orphaned_records", tuple(t.key for t in CORE_TABLES),
              _orphans),
    ]
