"""Categorical domains (datagen.domains) against generated data, the table declarations, the builders and the config.

No database: the core frames and one day of event partitions (two tap-event blocks) are built in memory.
"""

from __future__ import annotations

import copy
import inspect
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from datagen import domains as dom
from datagen import events
from datagen.builders import accounts, locations, subscriptions, tap_events
from datagen.config import Config, load_config, parse_config
from datagen.domains import domains
from datagen.generate import generate
from datagen.tables import TABLES

CONFIG = Path(__file__).resolve().parent.parent / "config" / "tapflow.yaml"
EVENT_KEYS = ("tap_events", "user_sessions", "page_views", "feature_usage")
TAP_PARTS = 2  # tap-event blocks built per day: enough for every event type, fast

# At least these must be covered (what the dbt sources YAML tests first).
REQUIRED = {
    ("tap_events", "event_type"), ("tap_events", "status"), ("tap_events", "device_category"),
    ("devices", "device_type"), ("devices", "category"), ("devices", "status"),
    ("subscriptions", "plan_name"), ("subscriptions", "status"), ("subscriptions", "billing_cycle"),
    ("users", "role"), ("feature_usage", "feature_name"),
    ("user_sessions", "device_type"), ("user_sessions", "browser"),
    ("device_maintenance_logs", "maintenance_type"),
}
# Domain values the default data does not reach on the first event day, and why.
UNREACHED_BY_DEFAULT = {
    ("feature_usage", "monthly_report"),  # written on the first working day of a month; 2025-06-23 is not
}


def _frames(cfg: Config) -> dict[str, pl.DataFrame]:
    """The core frames and the first event day's partitions (as loaded: declared columns only)."""
    gen = generate(cfg)
    frames = dict(gen.frames)
    streams = events.Streams(cfg, gen)
    day = cfg.events.start_date
    plan = streams.plan(EVENT_KEYS, day, day)
    for key in EVENT_KEYS:
        parts = plan.parts[key][:TAP_PARTS] if key == "tap_events" else plan.parts[key]
        frames[key] = pl.concat([streams.build_conformed(p) for p in parts])
    return frames


def _outside(frames: dict[str, pl.DataFrame], doms: dict[str, dict[str, tuple[str, ...]]]) -> dict[str, list[str]]:
    """table.column -> values in the data that are not in its domain."""
    out = {}
    for table, cols in doms.items():
        for col, values in cols.items():
            extra = sorted(set(frames[table][col].drop_nulls().unique().to_list()) - set(values))
            if extra:
                out[f"{table}.{col}"] = extra
    return out


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    doc = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def default_cfg() -> Config:
    return load_config(CONFIG)


@pytest.fixture(scope="module")
def frames(default_cfg: Config) -> dict[str, pl.DataFrame]:
    return _frames(default_cfg)


@pytest.fixture(scope="module")
def doms(default_cfg: Config) -> dict[str, dict[str, tuple[str, ...]]]:
    return domains(default_cfg)


def test_generated_values_stay_inside_their_domains(frames: dict[str, pl.DataFrame],
                                                    doms: dict[str, dict[str, tuple[str, ...]]]) -> None:
    for key in EVENT_KEYS:
        assert frames[key].height > 0, key
    assert _outside(frames, doms) == {}


def test_domains_are_tight_on_the_default_data(frames: dict[str, pl.DataFrame],
                                               doms: dict[str, dict[str, tuple[str, ...]]]) -> None:
    # not a contract (a domain is what a builder *can* write), but a domain far wider than the data is a bug
    unreached = {(table, v) for table, cols in doms.items() for col, values in cols.items()
                 for v in set(values) - set(frames[table][col].drop_nulls().unique().to_list())}
    assert unreached == UNREACHED_BY_DEFAULT


def test_domains_are_non_empty_sorted_and_unique(doms: dict[str, dict[str, tuple[str, ...]]]) -> None:
    for table, cols in doms.items():
        assert cols, table
        for col, values in cols.items():
            assert values, f"{table}.{col}"
            assert all(isinstance(v, str) and v for v in values), f"{table}.{col}"
            assert len(set(values)) == len(values), f"{table}.{col}"
            assert list(values) == sorted(values), f"{table}.{col}"


def test_domain_columns_are_declared_string_columns_that_hold_every_value(
        doms: dict[str, dict[str, tuple[str, ...]]]) -> None:
    for table, cols in doms.items():
        assert table in TABLES
        declared = {c.name: c for c in TABLES[table].columns}
        for col, values in cols.items():
            assert col in declared, f"{table}.{col} is not declared"
            c = declared[col]
            assert c.dtype == pl.String(), f"{table}.{col} is {c.dtype}"
            width = re.fullmatch(r"character varying\((\d+)\)", c.pg_type)
            assert width, f"{table}.{col} is {c.pg_type}"
            assert max(len(v) for v in values) <= int(width.group(1)), f"{table}.{col}"


def test_the_main_categorical_columns_are_covered(doms: dict[str, dict[str, tuple[str, ...]]]) -> None:
    covered = {(t, c) for t, cols in doms.items() for c in cols}
    assert sorted(REQUIRED - covered) == []


def test_copied_literals_match_their_builders() -> None:
    # domains.py copies the literals builders write inline; renaming one in the builder fails here, adding
    # one fails test_generated_values_stay_inside_their_domains
    copies = [
        (accounts, (dom.ACCOUNT_TRIAL_BUSINESS_TYPE, *dom.ACCOUNT_STATUSES)),
        (locations, (dom.FLAGSHIP_LOCATION_TYPE, *dom.LOCATION_COUNTRIES)),
        (subscriptions, (dom.SUBSCRIPTION_TRIAL_PLAN, *dom.SUBSCRIPTION_STATUSES)),
        (tap_events, dom.TAP_STATUSES),
    ]
    for module, values in copies:
        source = inspect.getsource(module)
        for v in values:
            assert f'"{v}"' in source, (module.__name__, v)
    assert f"labels({dom.TAP_STATUSES!r}".replace("'", '"') in inspect.getsource(tap_events._rows)


def test_domains_follow_the_config(raw: dict[str, Any], doms: dict[str, dict[str, tuple[str, ...]]]) -> None:
    changed = copy.deepcopy(raw)
    changed["user_roles"]["viewer"]["share"] = 0.05
    changed["user_roles"]["auditor"] = {"share": 0.05, "permissions": "read_only"}
    changed["events"]["role_activity"]["auditor"] = dict(changed["events"]["role_activity"]["viewer"])
    changed["events"]["feature_usage"]["dashboard_views_per_day"]["auditor"] = [1, 2]
    changed["devices"]["operational_status"] = {"online": 0.80, "offline": 0.10, "maintenance": 0.05, "error": 0.05}
    tiers = changed["subscriptions"]["tiers"]
    changed["subscriptions"]["tiers"] = {
        "starter": tiers["starter"], "professional": tiers["professional"], "business": tiers["business"],
        "scale": {"price": 4999.00, "device_limit": 500}, "enterprise": tiers["enterprise"]}
    changed["subscriptions"]["billing_cycle"] = "annual"
    changed["regions"]["midwest"]["states"].append("TX")
    cfg = parse_config(changed)
    after = domains(cfg)

    def plus(table: str, col: str, value: str) -> tuple[str, ...]:
        return tuple(sorted({*doms[table][col], value}))

    expected = copy.deepcopy(doms)
    expected["users"]["role"] = plus("users", "role", "auditor")
    expected["devices"]["status"] = plus("devices", "status", "error")
    expected["subscriptions"]["plan_name"] = plus("subscriptions", "plan_name", "scale")
    expected["subscriptions"]["billing_cycle"] = ("annual",)
    expected["locations"]["state"] = plus("locations", "state", "TX")
    assert after == expected

    # and the builders do write the new values, inside the new domains
    data = _frames(cfg)
    assert _outside(data, after) == {}
    assert (data["users"]["role"] == "auditor").any()
    assert (data["devices"]["status"] == "error").any()
    assert set(data["subscriptions"]["billing_cycle"].drop_nulls().unique()) == {"annual"}
    assert (data["locations"]["state"] == "TX").any()
