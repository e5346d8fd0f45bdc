"""Feature usage: what each working user did in the app that day, one row per (user, feature, day).

Names are chosen so the staging model categorises every one (report, analytics, export, api, integration,
automation, alert, dashboard, inventory, forecast) and reads a tier from some (standard, advanced,
premium, pro). A partition is one day; its stream is keyed by (seed, feature_usage, day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import polars as pl

from datagen.builders._common import labels, to_datetime
from datagen.builders._people import at_work
from datagen.builders._protocol import EventInputs, Part
from datagen.config import Config

DASHBOARD = "standard_dashboard"  # daily views per role from events.feature_usage.dashboard_views_per_day
# admins and managers, report_generation: on their first working day of the week and of the month
WEEKLY_REPORT, MONTHLY_REPORT = "weekly_report", "monthly_report"
API = "api_access"  # the account admin's token; calls per device per day from api_calls_per_device_per_day
REPORT_ROLES = ("admin", "manager")
# Other features: (name, roles, chance a working user uses it that day, most uses that day)
FEATURES: tuple[tuple[str, tuple[str, ...], float, int], ...] = (
    ("advanced_analytics", ("admin", "manager"), 0.40, 8),
    ("data_export", ("admin",), 0.20, 5),
    ("premium_integrations", ("admin",), 0.10, 3),
    ("automation_workflows", ("admin",), 0.15, 5),
    ("alert_rules", ("admin", "manager"), 0.20, 4),
    ("inventory_tracking", ("manager", "operator"), 0.50, 15),
    ("pro_demand_forecast", ("manager",), 0.25, 4),
    ("alert_notifications", ("manager", "operator", "viewer"), 0.40, 10),
    ("basic_reports", ("operator", "viewer"), 0.30, 3),
)
NAMES = (DASHBOARD, WEEKLY_REPORT, MONTHLY_REPORT, API, *(f[0] for f in FEATURES))


def build(cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
          rng: np.random.Generator) -> pl.DataFrame:
    """The day's usage rows, ids first_id, first_id + 1, ... ordered by user, then feature."""
    ppl, day, first_id = inputs.people, part.day, part.first_id
    rows, lo, hi = at_work(cfg, ppl, day)
    m = rows.size
    role = ppl.role[rows]
    role_names = [r.name for r in cfg.roles]
    f_total = len(NAMES)
    chance = np.zeros((m, f_total))
    most = np.zeros((m, f_total))
    least = np.ones((m, f_total))
    dash = np.array([dict(cfg.events.dashboard_views_per_day)[r] for r in role_names])[role]
    chance[:, 0], least[:, 0], most[:, 0] = dash[:, 1] > 0, np.maximum(dash[:, 0], 1), dash[:, 1]
    reports = np.isin(role, [role_names.index(r) for r in REPORT_ROLES if r in role_names])
    rg = dict(cfg.events.report_generation)
    # each role reports on its own first working day of the week and of the month
    acts = cfg.events.role_activity
    weekly_day = np.array([bool(a.weekdays) and day.weekday() == a.weekdays[0] for a in acts])[role]
    monthly_day = np.array([_first_working_day(day, a.weekdays) for a in acts])[role]
    chance[:, 1] = np.where(reports & weekly_day, rg["weekly"], 0.0)
    chance[:, 2] = np.where(reports & monthly_day, rg["monthly"], 0.0)
    most[:, 1:3] = 1
    api_lo, api_hi = cfg.events.api_calls_per_device_per_day
    devices = ppl.devices_n[rows].astype(np.float64)
    chance[:, 3] = ppl.is_account_admin[rows] & (devices * api_hi >= 1)
    least[:, 3], most[:, 3] = np.maximum(np.floor(devices * api_lo), 1), np.maximum(np.floor(devices * api_hi), 1)
    for j, (_, roles, p, top) in enumerate(FEATURES, start=4):
        chance[:, j] = np.where(np.isin(role, [role_names.index(r) for r in roles if r in role_names]), p, 0.0)
        most[:, j] = top

    used = rng.random((m, f_total)) < chance
    user_pos, feature = np.nonzero(used)  # row-major: ordered by user, then feature
    n = user_pos.size
    lo_c, hi_c = least[user_pos, feature], most[user_pos, feature]
    usage = (lo_c + np.floor(rng.random(n) * (hi_c - lo_c + 1))).astype(np.int64)
    at = lo[user_pos] + np.floor(rng.random(n) * (hi - lo)[user_pos]).astype(np.int64)
    stamps = to_datetime(at)
    user = rows[user_pos]
    return pl.DataFrame({
        "usage_id": np.arange(first_id, first_id + n, dtype=np.int32),
        "user_id": ppl.user_id[user].astype(np.int32),
        "customer_id": ppl.customer_id[user].astype(np.int32),
        "feature_name": labels(NAMES, feature.astype(np.int64)),
        "usage_count": usage.astype(np.int32),
        "timestamp": stamps,
        "created_at": stamps,
    })


def _first_working_day(day: dt.date, weekdays: tuple[int, ...]) -> bool:
    """Whether day is the first day of its month falling on one of weekdays."""
    if not weekdays:
        return False
    first = day.replace(day=1)
    while first.weekday() not in weekdays:
        first += dt.timedelta(days=1)
    return day == first


def count(cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
          rng: np.random.Generator) -> int:
    """The partition's rows: what build makes (cheap enough to build twice)."""
    return build(cfg, inputs, part, same_day, rng).height
