"""Config validation: the shipped config loads; malformed configs exit 2 naming the key, writing nothing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from datagen.cli import main
from datagen.config import load_config, parse_config
from datagen.errors import ConfigError
from tests.fix_db import DELETE, set_key, table_exists


def test_shipped_config_matches_the_legacy_parameters() -> None:
    cfg = load_config()
    assert cfg.seed == 42
    assert (str(cfg.start_date), str(cfg.end_date)) == ("2020-01-01", "2025-06-25")
    assert cfg.accounts_per_size() == {"small": 105, "medium": 30, "large": 12, "enterprise": 3}
    assert cfg.id_range("devices") == (1, 30000)
    assert [t.price for t in cfg.subscriptions.tiers] == [299.0, 999.0, 2999.0, 9999.0]
    assert cfg.maintenance_interval_days == 90


# (mutation path, new value, key path the error must name, a fragment of the message)
MALFORMED = [
    ("accounts.sizes.large.locations", [10, 5], "accounts.sizes.large.locations[1]", "must be >= the minimum"),
    ("accounts.sizes.small.share", 0.5, "accounts.sizes", "shares must sum to 1"),
    ("industries.bar.share", 0.05, "industries", "shares must sum to 1"),
    ("time_range.end_date", "2019-12-31", "time_range.end_date", "must be after"),
    ("time_range.start_date", "2020-13-01", "time_range.start_date", "YYYY-MM-DD"),
    ("accounts.total", 0, "accounts.total", "must be >= 1"),
    ("accounts.total", -5, "accounts.total", "must be >= 1"),
    ("accounts.total", "many", "accounts.total", "must be an integer"),
    ("seed", 4.2, "seed", "must be an integer"),
    ("accounts.colour", "blue", "accounts.colour", "unknown key"),
    ("devices.operational_status", DELETE, "devices.operational_status", "missing required key"),
    ("id_ranges.devices", [1, 1000], "id_ranges.devices", "the plan needs"),
    ("id_ranges.accounts", [1, 100], "id_ranges.accounts", "accounts.total is 150"),
    ("regions.midwest.states", ["IL", "XX"], "regions.midwest.states[1]", "two-letter US state"),
    ("accounts.count_shapes.locations", {"shape": "lognormal"}, "accounts.count_shapes.locations.shape",
     "must be one of uniform, skewed"),
    ("accounts.count_shapes.devices_per_location", {"shape": "skewed", "skew": 0.2},
     "accounts.count_shapes.devices_per_location.skew", "must be >= 1"),
    ("subscriptions.tiers.enterprise.device_limit", 100, "subscriptions.tiers.enterprise.device_limit",
     "must be > the previous tier"),
    ("growth_patterns.account_creation.established.days_before_end", [730, 9000],
     "growth_patterns.account_creation.established.days_before_end[1]", "length of time_range"),
    ("user_roles.admin", DELETE, "user_roles", "must include the role admin"),
    ("devices.operational_status", {"online": 0.9, "broken": 0.1}, "devices.operational_status.broken",
     "staging knows"),
    ("accounts.sizes.medium.users", [5], "accounts.sizes.medium.users", "at least 2"),
    ("id_ranges.devices", [1, 20_000_000], "id_ranges.devices", "three bytes"),
    ("events.tap_events.per_device_per_day.bar.max", 10, "events.tap_events.per_device_per_day.bar.max",
     "must be >= min"),
    ("events.range.start_date", "2019-12-31", "events.range.start_date", "inside time_range"),
    ("events.range.end_date", "2025-06-20", "events.range.end_date", "between events.range.start_date"),
    ("events.role_activity.admin.days", ["mon", "funday"], "events.role_activity.admin.days[1]", "funday"),
    ("events.role_activity.viewer.hours", [17, 9], "events.role_activity.viewer.hours[1]", "got 9"),
    ("events.tap_events.business_hours_only", ["casino"], "events.tap_events.business_hours_only[0]", "casino"),
    ("events.tap_events.volume_ml.common_sizes", [150, 900], "events.tap_events.volume_ml.common_sizes[1]",
     "<= 500"),
    ("events.tap_events.season.amplitude", 1.5, "events.tap_events.season.amplitude", "<= 0.99"),
    ("events.tap_events.event_days.share", 1.2, "events.tap_events.event_days.share", "<= 1"),
    ("events.tap_events.business_hours_only", ["corporate", "corporate"],
     "events.tap_events.business_hours_only[1]", "repeats 'corporate'"),
    ("events.role_activity.admin.days", ["mon", "tue", "mon"], "events.role_activity.admin.days[2]",
     "list each item once"),
    ("regions.midwest.states", ["IL", "OH", "IL"], "regions.midwest.states[2]", "repeats 'IL'"),
]


@pytest.mark.parametrize(("path", "value", "key", "fragment"), MALFORMED, ids=[m[0] + "|" + m[2] for m in MALFORMED])
def test_malformed_config_names_the_key(config_dict: dict[str, Any], path: str, value: Any, key: str,
                                        fragment: str) -> None:
    set_key(config_dict, path, value)
    with pytest.raises(ConfigError) as info:
        from datagen.generate import generate

        generate(parse_config(config_dict))
    assert info.value.path == key
    assert fragment in str(info.value)


def test_malformed_corpus_is_large_and_distinct() -> None:
    assert len({(m[0], repr(m[1])) for m in MALFORMED}) >= 15


@pytest.mark.parametrize("case", range(len(MALFORMED)))
def test_cli_exits_2_without_traceback_and_writes_nothing(
        case: int, config_dict: dict[str, Any], tmp_path: Path, db_env: str, schema: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    path, value, key, _ = MALFORMED[case]
    set_key(config_dict, path, value)
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text(yaml.safe_dump(config_dict, sort_keys=False), encoding="utf-8")
    rc = main(["generate", "--config", str(cfg_file), "--schema", schema, "--yes"])
    err = capsys.readouterr().err
    assert rc == 2
    assert key in err
    assert "Traceback" not in err
    assert not table_exists(db_env, schema, "accounts")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("seed: 42\naccounts: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line"):
        load_config(bad)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_is_frozen(raw_config: dict[str, Any]) -> None:
    cfg = parse_config(copy.deepcopy(raw_config))
    with pytest.raises(AttributeError):
        cfg.seed = 1  # type: ignore[misc]


def test_a_removed_key_is_rejected_by_name(raw_config: dict[str, Any]) -> None:
    cfg = copy.deepcopy(raw_config)
    cfg["business_name"] = "TapFlow Analytics"
    with pytest.raises(ConfigError) as err:
        parse_config(cfg)
    assert "business_name" in str(err.value) and "was removed" in str(err.value)


def test_a_tier_display_name_is_rejected_as_removed(raw_config: dict[str, Any]) -> None:
    """plan_name holds the tier key; a display name would be accepted and ignored, so it is refused."""
    cfg = copy.deepcopy(raw_config)
    cfg["subscriptions"]["tiers"]["starter"]["name"] = "Starter"
    with pytest.raises(ConfigError) as err:
        parse_config(cfg)
    assert err.value.path == "subscriptions.tiers.starter.name"
    assert err.value.problem.startswith("was removed: subscriptions.plan_name holds the tier's key")
    assert err.value.hint == "delete subscriptions.tiers.starter.name from the config"
