"""The closed value sets of the categorical (string) columns, from the config and the builders' own constants.

A dbt sources YAML declares its `accepted_values` tests from `domains(cfg)`: what each builder *can* write
for a config, never what one generated dataset happens to hold. Free-text and open-ended columns (names,
emails, addresses, cities, ZIP codes, URLs, page titles, serial numbers, IP and MAC addresses, firmware
versions, technicians) are left out.

Where a builder names its values in a constant, it is imported here. Where it writes an inline literal,
the literal is copied below with the builder line it comes from; tests/test_domains.py checks generated
data against every domain and the copies against the builders' source, so a drift fails there.
"""

from __future__ import annotations

from collections.abc import Iterable

from datagen.builders import accounts, device_maintenance_logs, feature_usage, tap_events, user_sessions
from datagen.config import MAINTENANCE_TYPES, Config
from datagen.tables import TABLES

# Inline literals of the builders (they are not constants there, so they are copied, not imported).
# accounts.build: business_type=pl.when(pl.col("_on_trial")).then(pl.lit("trial")).otherwise(SIZE_BUSINESS_TYPE)
ACCOUNT_TRIAL_BUSINESS_TYPE = "trial"
# accounts.build: status=pl.when(_on_trial).then(pl.lit("trial")).when(_churned).then(pl.lit("churned"))
#                 .otherwise(pl.lit("active"))
ACCOUNT_STATUSES = ("trial", "churned", "active")
# locations.build: location_type = np.where(index == 0, "flagship", <other_location_types>)
FLAGSHIP_LOCATION_TYPE = "flagship"
# locations.build: country=pl.lit("US")
LOCATION_COUNTRIES = ("US",)
# subscriptions.build: plan_name = np.where(on_trial, "trial", <tier keys>)
SUBSCRIPTION_TRIAL_PLAN = "trial"
# subscriptions.build: current rows' status = np.where(on_trial, "trial", np.where(churned, "canceled", "active")),
#                      history rows' status = ["expired"] * up.size
SUBSCRIPTION_STATUSES = ("trial", "canceled", "active", "expired")
# tap_events.build: "status": labels(("success", "warning", "error"), status)
TAP_STATUSES = ("success", "warning", "error")


def domains(cfg: Config) -> dict[str, dict[str, tuple[str, ...]]]:
    """table key -> column -> the values its builder can write (sorted, unique)."""
    dv = cfg.devices
    industries = [i.name for i in cfg.industries]
    sizes = [s.name for s in cfg.sizes]
    raw: dict[str, dict[str, Iterable[str]]] = {
        "accounts": {
            "business_type": [ACCOUNT_TRIAL_BUSINESS_TYPE,
                              *(accounts.SIZE_BUSINESS_TYPE.get(s, "business") for s in sizes)],
            "industry": industries,
            "status": ACCOUNT_STATUSES,
            "size": sizes,
        },
        "locations": {
            "state": [st for r in cfg.regions for st in r.states],
            "country": LOCATION_COUNTRIES,
            "location_type": [FLAGSHIP_LOCATION_TYPE, *(t for t, _ in cfg.other_location_types)],
            "business_type": [v for i in cfg.industries for v, _ in i.venue_types],
            "industry": industries,
            "size": sizes,
        },
        "devices": {
            "device_type": [t.name for t in dv.types],
            "category": [t.category for t in dv.types],
            "manufacturer": [m for t in dv.types for m, _ in t.manufacturers],
            "model": [model for t in dv.types for _, models in t.manufacturers for model in models],
            "status": [s for s, _ in dv.operational_status],
            "usage_pattern": [u for u, _ in dv.usage_pattern],
            "network_connectivity": [c for c, _ in dv.connectivity],
        },
        "users": {
            "role": [r.name for r in cfg.roles],
        },
        "subscriptions": {
            "plan_name": [SUBSCRIPTION_TRIAL_PLAN, *(t.key for t in cfg.subscriptions.tiers)],
            "status": SUBSCRIPTION_STATUSES,
            "billing_cycle": [cfg.subscriptions.billing_cycle],
            "cancellation_reason": cfg.churn_reasons,
        },
        "device_maintenance_logs": {
            "maintenance_type": MAINTENANCE_TYPES,
            "notes_category": [n for notes in device_maintenance_logs.NOTES for n in notes],
        },
        "tap_events": {
            "event_type": tap_events.EVENT_TYPES,
            "status": TAP_STATUSES,
            "device_category": [t.category for t in dv.types],
        },
        "user_sessions": {
            "device_type": [d for d, _ in user_sessions.DEVICE_TYPES],
            "browser": [b for d, _ in user_sessions.DEVICE_TYPES for b, _ in user_sessions.BROWSERS[d]],
        },
        "feature_usage": {
            "feature_name": feature_usage.NAMES,
        },
    }
    undeclared = [f"{k}.{c}" for k, cols in raw.items() for c in cols
                  if k not in TABLES or c not in TABLES[k].column_names]
    if undeclared:  # a typo here must not silently drop a test from the sources YAML
        raise AssertionError(f"domains for undeclared columns: {', '.join(undeclared)}")
    # tables and columns in declaration order, so the generated YAML reads like the schema
    return {key: {c: tuple(sorted(set(raw[key][c]))) for c in table.column_names if c in raw[key]}
            for key, table in TABLES.items() if key in raw}
