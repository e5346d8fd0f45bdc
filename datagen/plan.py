"""The count plan: what the config promises on average, the bounds it allows, and what this seed draws."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datagen.config import Config, CountShape
from datagen.tables import CORE_TABLES

# The legacy runbook's promised counts, shown beside ours so the difference is visible.
RUNBOOK_EXPECTED = {"accounts": 150, "locations": 800, "devices": 25_000, "users": 5_000, "subscriptions": 180}


@dataclass(frozen=True)
class PlanRow:
    table: str
    runbook: int | None
    expected: float  # mean over seeds under this config
    minimum: int
    maximum: int
    planned: int  # drawn for this seed
    id_range: tuple[int, int]
    auto: bool = False  # id_ranges.<table>: auto (the range is [1, max_id]; the plan takes what it needs)

    @property
    def fits(self) -> bool:
        return self.planned <= self.id_range[1] - self.id_range[0] + 1


def mean_count(lo: int, hi: int, shape: CountShape) -> float:
    """Exact mean of lo + floor((hi - lo + 1) * u**skew), capped at hi, for u uniform on [0, 1)."""
    width = hi - lo + 1
    j = np.arange(1, width, dtype=np.float64)
    # P(value >= lo + j) = P(u**skew >= j / width) = 1 - (j / width) ** (1 / skew)
    return lo + float(np.sum(1.0 - (j / width) ** (1.0 / shape.skew)))


def make_plan(cfg: Config, planned: dict[str, int]) -> list[PlanRow]:
    per_size = cfg.accounts_per_size()
    loc_shape, dev_shape, usr_shape = (cfg.count_shape(k) for k in ("locations", "devices_per_location", "users"))
    exp = {"accounts": float(cfg.accounts_total), "locations": 0.0, "devices": 0.0, "users": 0.0}
    lo = {"accounts": cfg.accounts_total, "locations": 0, "devices": 0, "users": 0}
    hi = dict(lo)
    for s in cfg.sizes:
        n = per_size[s.name]
        e_loc = mean_count(*s.locations, loc_shape)
        exp["locations"] += n * e_loc
        exp["devices"] += n * e_loc * mean_count(*s.devices_per_location, dev_shape)
        exp["users"] += n * mean_count(*s.users, usr_shape)
        lo["locations"] += n * s.locations[0]
        hi["locations"] += n * s.locations[1]
        lo["devices"] += n * s.locations[0] * s.devices_per_location[0]
        hi["devices"] += n * s.locations[1] * s.devices_per_location[1]
        lo["users"] += n * s.users[0]
        hi["users"] += n * s.users[1]
    exp["subscriptions"] = float("nan")  # depends on upgrades drawn per account: between 1x and 2x accounts
    lo["subscriptions"], hi["subscriptions"] = cfg.accounts_total, 2 * cfg.accounts_total
    # a visit per maintenance interval between installation and the end date
    exp["device_maintenance_logs"] = float("nan")
    lo["device_maintenance_logs"] = 0
    visits = (cfg.end_date - cfg.start_date).days // cfg.maintenance_interval_days + 1
    hi["device_maintenance_logs"] = hi["devices"] * visits
    # a table with no count model here is bounded by its id range alone
    runbook = {k: round(v * cfg.scale) for k, v in RUNBOOK_EXPECTED.items()}  # the promise, at --scale
    return [PlanRow(t.key, runbook.get(t.key), exp.get(t.key, float("nan")), lo.get(t.key, 0),
                    hi.get(t.key, cfg.id_range(t.id_range_key)[1] - cfg.id_range(t.id_range_key)[0] + 1),
                    planned.get(t.key, 0), cfg.id_range(t.id_range_key), t.id_range_key in cfg.auto_ids)
            for t in CORE_TABLES]
