"""The config model: a frozen dataclass tree, the limits it is held to, and the values derived from it."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from datagen.tables import CORE_TABLES, DEFAULT_LAYOUT, EVENT_TABLES, INTEGER_MAX, Table

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "tapflow.yaml"
SIZE_ORDER = ("small", "medium", "large", "enterprise")
ID_TABLES = tuple(t.id_range_key for t in CORE_TABLES + EVENT_TABLES)  # id_ranges: one per declared table
MAX_ID = INTEGER_MAX  # ids are PostgreSQL integer columns; a table may declare a lower limit (Table.max_id)
ID_LIMITS: dict[str, Table] = {t.id_range_key: t for t in CORE_TABLES + EVENT_TABLES}  # max_id and its reason
AUTO = "auto"  # id_ranges.<table>: auto: ids from 1, as many as the plan needs (up to the table's max_id)
MAX_ACCOUNTS = 1_000_000  # keeps a typo (an extra zero or three) from planning a run that cannot finish


@dataclass(frozen=True)
class CountShape:
    shape: Literal["uniform", "skewed"]
    skew: float  # 1.0 for uniform


@dataclass(frozen=True)
class SizeSpec:
    name: str
    share: float
    locations: tuple[int, int]
    devices_per_location: tuple[int, int]
    users: tuple[int, int]
    trial_days: int


@dataclass(frozen=True)
class Industry:
    name: str
    share: float
    name_suffixes: tuple[str, ...]
    venue_types: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Region:
    name: str
    share: float
    states: tuple[str, ...]


@dataclass(frozen=True)
class DeviceType:
    name: str
    share: float
    category: str
    price: tuple[float, float]
    manufacturers: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class HealthBand:
    name: str
    share: float
    range: tuple[float, float]


@dataclass(frozen=True)
class Devices:
    types: tuple[DeviceType, ...]
    premium_price_factor: float
    firmware_by_generation: tuple[tuple[str, ...], ...]
    warranty_years: tuple[int, int]
    operational_status: tuple[tuple[str, float], ...]
    health_score: tuple[HealthBand, ...]
    connectivity: tuple[tuple[str, float], ...]
    usage_pattern: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Role:
    name: str
    share: float
    permissions: str


@dataclass(frozen=True)
class Tier:
    key: str
    price: float
    device_limit: int | None


@dataclass(frozen=True)
class Subscriptions:
    tiers: tuple[Tier, ...]
    trial_price: float
    upgrade_share: float
    upgrade_min_age_days: int
    billing_cycle: str


@dataclass(frozen=True)
class TapRate:
    industry: str
    min: int
    max: int
    peak_multiplier: float
    weekend_factor: float


@dataclass(frozen=True)
class RoleActivity:
    role: str
    weekdays: tuple[int, ...]  # 0 = Monday, as datetime.date.weekday()
    hours: tuple[int, int]  # [from, to)
    sessions_per_day: float
    session_minutes: float


MAX_POUR_SECONDS = 100_000  # durations in hundredths stay below 2**24, so their text reads back exactly


@dataclass(frozen=True)
class Events:
    start_date: dt.date  # the event range, inclusive
    end_date: dt.date
    tap_rates: tuple[TapRate, ...]
    business_hours_only: tuple[str, ...]
    event_day_industries: tuple[str, ...]
    event_day_share: float
    event_day_multiplier: float
    quiet_day_factor: float
    season_peak_day: int
    season_amplitude: float
    growth_start_factor: float
    growth_ramp_days: int
    volume_ml: tuple[int, int]
    common_sizes: tuple[int, ...]
    common_share: float
    temperature_c: tuple[float, float]
    temperature_anomaly_rate: float
    pressure_psi: tuple[float, float]
    pressure_anomaly_rate: float
    flow_rate_ml_per_sec: tuple[float, float]
    role_activity: tuple[RoleActivity, ...]
    dashboard_views_per_day: tuple[tuple[str, tuple[int, int]], ...]
    report_generation: tuple[tuple[str, float], ...]
    api_calls_per_device_per_day: tuple[float, float]
    tap_layout: str = DEFAULT_LAYOUT  # events.tap_events.layout: how tap events are stored (tables.LAYOUTS)

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days + 1


@dataclass(frozen=True)
class GrowthPattern:
    name: str
    share: float
    days_before_end: tuple[int, int]


@dataclass(frozen=True)
class QualityRules:
    min_device_uptime: float
    min_location_operational: float
    max_mrr_variance: float
    max_orphaned_records: int


@dataclass(frozen=True)
class Config:
    seed: int
    start_date: dt.date
    end_date: dt.date
    business_hours: tuple[int, int]
    peak_hours: tuple[tuple[str, tuple[int, int]], ...]
    accounts_total: int
    sizes: tuple[SizeSpec, ...]
    count_shapes: tuple[tuple[str, CountShape], ...]
    industries: tuple[Industry, ...]
    regions: tuple[Region, ...]
    other_location_types: tuple[tuple[str, float], ...]
    devices: Devices
    roles: tuple[Role, ...]
    subscriptions: Subscriptions
    events: Events
    id_ranges: tuple[tuple[str, tuple[int, int]], ...]
    growth: tuple[GrowthPattern, ...]
    monthly_growth_rate: tuple[tuple[str, float], ...]
    churn_monthly_rate: float
    churn_reasons: tuple[str, ...]
    maintenance_interval_days: int
    maintenance_types: tuple[tuple[str, float], ...]
    optional_null_rate: float  # data_quality.null_rates.optional_fields: each optional column's NULL share
    quality: QualityRules
    # id_ranges written `auto` (their range is [1, max_id]). Not in the digest: ids start at 1 either way, so
    # auto and an explicit range that fits give the same rows.
    auto_ids: tuple[str, ...] = field(default=(), repr=False)
    # --scale (config/scale.py), recorded with every run. Not in the digest: the accounts and id ranges it
    # changes are.
    scale: float = field(default=1.0, repr=False)

    # -- derived values, computed here and nowhere else ------------------------------------------------
    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.start_date, dt.time())

    @property
    def end(self) -> dt.datetime:
        """Last instant any row may carry (end_date is inclusive)."""
        return dt.datetime.combine(self.end_date, dt.time(23, 59, 59))

    def id_range(self, table: str) -> tuple[int, int]:
        return dict(self.id_ranges)[table]

    def growth_rate(self, name: str) -> float:
        """growth_patterns.monthly_growth_rate.<name>: new_accounts, device_expansion or mrr."""
        return dict(self.monthly_growth_rate)[name]

    def count_shape(self, name: str) -> CountShape:
        return dict(self.count_shapes)[name]

    def accounts_per_size(self) -> dict[str, int]:
        """Exact account count per size: largest-remainder rounding of total x share."""
        return largest_remainder(self.accounts_total, {s.name: s.share for s in self.sizes})


def largest_remainder(total: int, shares: dict[str, float]) -> dict[str, int]:
    """Split total into integer parts proportional to shares; ties go to the earlier key."""
    raw = {k: total * v for k, v in shares.items()}
    out = {k: int(v) for k, v in raw.items()}
    rest = total - sum(out.values())
    order = sorted(shares, key=lambda k: (-(raw[k] - out[k]), list(shares).index(k)))
    for k in order[:rest]:
        out[k] += 1
    return out


# ---------------------------------------------------------------------------------------------------------
def config_digest(cfg: Config) -> str:
    """A digest of the parsed settings (not the file: comments and formatting do not change it)."""
    return hashlib.sha256(repr(cfg).encode()).hexdigest()[:16]


