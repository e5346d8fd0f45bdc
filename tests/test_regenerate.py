"""`generate --only` on a real PostgreSQL: the asked tables and their dependents are regenerated, every other
table keeps its bytes, refusals name the missing or different parent and the command that fixes it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from datagen.cli import main
from datagen.config import load_config
from datagen.generate import generate
from datagen.manifest import fingerprint
from datagen.regenerate import closure
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES
from tests.fix_db import db_manifest, kill_during_copy, read_table, small_config, table_exists


def run(*args: str) -> int:
    return main([*args, "--no-progress"])


def fingerprints(url: str, schema: str) -> dict[str, str]:
    return {t.key: fingerprint(read_table(url, schema, t.key), t.key) for t in CORE_TABLES + EVENT_TABLES
            if table_exists(url, schema, t.key)}


def test_regenerating_any_table_alone_with_the_same_config_changes_no_byte(
        db_env: str, schema: str, small_loaded: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    before = fingerprints(db_env, schema)
    assert set(before) == set(TABLES)
    for key in [t.key for t in CORE_TABLES] + ["tap_events", "user_sessions", "feature_usage"]:
        assert run("generate", *small_loaded, "--only", key, "--yes") == 0, key
        assert fingerprints(db_env, schema) == before, key
    capsys.readouterr()
    assert run("validate", *small_loaded) == 0, capsys.readouterr().out[-3000:]


def test_only_devices_after_a_config_change_rebuilds_exactly_its_dependents(
        db_env: str, schema: str, small_loaded: list[str], config_dict: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = fingerprints(db_env, schema)
    types = config_dict["devices"]["types"]
    types["tap_controller"]["share"], types["sensor"]["share"] = 0.30, 0.60
    changed = small_config(config_dict, tmp_path / "changed.yaml")
    args = ["--config", str(changed), "--schema", schema]
    capsys.readouterr()
    assert run("generate", *args, "--only", "devices", "--yes") == 0
    out = capsys.readouterr().out
    assert "subscriptions is derived from devices" in out and "device_maintenance_logs.device_id references" in out
    after = fingerprints(db_env, schema)
    for key in ("accounts", "locations", "users", "user_sessions"):  # nothing of theirs reads devices
        assert after[key] == before[key], key
    for key in ("devices", "tap_events"):  # device types and the tap events' device_category moved
        assert after[key] != before[key], key
    # what is loaded is what the changed config generates, and it validates
    gen = generate(load_config(changed))
    for key in ("devices", "subscriptions", "device_maintenance_logs"):
        assert after[key] == fingerprint(gen.frames[key], key), key
    assert run("validate", *args) == 0, capsys.readouterr().out[-3000:]


def test_only_prints_the_plan_and_a_dry_run_writes_nothing(db_env: str, schema: str, small_loaded: list[str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    before = fingerprints(db_env, schema)
    rows = {k: int(f.split(":")[0]) for k, f in before.items()}
    capsys.readouterr()
    assert run("generate", *small_loaded, "--only", "users", "--dry-run") == 0
    out = capsys.readouterr().out
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 4}
    assert set(lines) >= {"users", "user_sessions", "page_views", "feature_usage", "accounts", "tap_events"}
    assert "asked for" in lines["users"] and f"{rows['users']:,}" in lines["users"]
    assert "user_sessions.user_id references users" in lines["user_sessions"]
    assert "untouched" in lines["tap_events"] and "untouched" in lines["accounts"]
    assert "Dry run: nothing was written." in out
    assert fingerprints(db_env, schema) == before


def test_a_missing_parent_is_refused_with_the_command_that_fixes_it(
        db_env: str, schema: str, small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(small), "--schema", schema]
    assert run("generate", *args, "--only", "devices", "--yes") == 2
    err = capsys.readouterr().err
    assert "devices.location_id references locations" in err
    assert "has no app_database_locations rows" in err and "just generate --only locations,devices" in err
    assert not table_exists(db_env, schema, "devices")


def test_a_parent_that_differs_from_the_config_is_refused_and_nothing_changes(
        db_env: str, schema: str, small_loaded: list[str], config_dict: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = fingerprints(db_env, schema)
    config_dict["locations"]["other_location_types"] = {"standard": 0.5, "express": 0.45, "kiosk": 0.05}
    other = small_config(config_dict, tmp_path / "other.yaml")
    capsys.readouterr()
    assert run("generate", "--config", str(other), "--schema", schema, "--only", "devices", "--yes") == 2
    err = capsys.readouterr().err
    assert "app_database_locations is not what this config and seed generate" in err
    assert "just generate --only locations,devices" in err
    assert fingerprints(db_env, schema) == before
    assert run("generate", "--only", "nosuch", "--schema", schema) == 2
    assert "unknown table nosuch" in capsys.readouterr().err


def test_maintenance_logs_follow_the_config(cfg: Any, default_gen: Any) -> None:
    logs, dev = default_gen.frames["device_maintenance_logs"], default_gen.frames["devices"]
    j = logs.join(dev.select(pl.col("id").alias("device_id"), pl.col("created_at").alias("_installed"),
                             pl.col("health_score").cast(pl.Float64).alias("_health"),
                             pl.col("last_maintenance_date").alias("_last")), on="device_id")
    interval = cfg.maintenance_interval_days
    due_days = (pl.col("scheduled_date") - pl.col("_installed").dt.date()).dt.total_days()
    assert j.filter((due_days <= 0) | (due_days % interval != 0)).height == 0
    # none before installation or after the end date
    assert j.filter((pl.col("performed_at") <= pl.col("_installed")) | (pl.col("performed_at") > cfg.end)).height == 0
    kind = pl.col("maintenance_type")
    late = (pl.col("performed_at").dt.date() - pl.col("scheduled_date")).dt.total_days()
    assert j.filter((kind == "scheduled") & (late != 0)).height == 0
    assert j.filter((kind == "overdue") & ~late.is_between(7, 30)).height == 0
    assert j.filter((kind == "emergency") & ~late.is_between(-interval, 0)).height == 0
    # the configured shares, and emergencies where health is poor
    share = dict(logs["maintenance_type"].value_counts(normalize=True).iter_rows())
    for name, want in cfg.maintenance_types:
        assert abs(share[name] - want) < 0.015, (name, share[name])
    health = dict(j.group_by("maintenance_type").agg(pl.col("_health").mean()).iter_rows())
    assert health["emergency"] < health["scheduled"] - 0.05
    # the last planned visit of every device is its last_maintenance_date, unless that visit is running late
    # (due within a month of the end, not performed yet: then the one before it is the last in the log)
    last = j.group_by("device_id").agg(pl.col("scheduled_date").max(), pl.col("_last").first())
    pending = (pl.col("_last") > cfg.end_date - dt.timedelta(days=30)) & (
        pl.col("scheduled_date") == pl.col("_last") - dt.timedelta(days=interval))
    assert last.filter((pl.col("scheduled_date") != pl.col("_last")) & ~pending).height == 0
    assert last.filter(pending).height < 0.05 * last.height
    assert logs["id"].to_list() == list(range(1, logs.height + 1))


def test_the_closure_comes_from_the_declarations() -> None:
    assert list(closure(("devices",))) == ["devices", "subscriptions", "device_maintenance_logs", "tap_events",
                                           "user_sessions", "page_views", "feature_usage"]
    assert list(closure(("subscriptions",))) == ["subscriptions"]
    assert list(closure(("users",))) == ["users", "user_sessions", "page_views", "feature_usage"]
    assert list(closure(("accounts",))) == [t.key for t in CORE_TABLES + EVENT_TABLES]



def test_a_kill_inside_the_one_transaction_leaves_every_table_as_it_was(
        db_env: str, schema: str, small_loaded: list[str], config_dict: dict[str, Any], tmp_path: Path) -> None:
    """--only devices stages the event days, then replaces the core tables and swaps the days in, in one
    transaction: killed in the middle of it (during the devices COPY), nothing has changed."""
    before, manifest = fingerprints(db_env, schema), db_manifest(db_env, schema)
    config_dict["devices"]["types"]["tap_controller"]["share"] = 0.30
    config_dict["devices"]["types"]["sensor"]["share"] = 0.60
    changed = small_config(config_dict, tmp_path / "changed.yaml")
    kill_during_copy(db_env, ["generate", "--config", str(changed), "--schema", schema, "--only", "devices", "--yes"],
                     pause="devices:60", copying=f'COPY "{schema}"."app_database_devices"')
    assert fingerprints(db_env, schema) == before
    assert db_manifest(db_env, schema) == manifest
    # the next run cleans up the staged days and completes
    assert run("generate", "--config", str(changed), "--schema", schema, "--only", "devices", "--yes") == 0
    after = fingerprints(db_env, schema)
    assert after["devices"] == fingerprint(generate(load_config(changed)).frames["devices"], "devices")
    assert after["locations"] == before["locations"] and after["tap_events"] != before["tap_events"]
    recorded = db_manifest(db_env, schema)  # the manifest follows: every table's fingerprint is the data's
    assert {k: (recorded["events"] if TABLES[k].partitioned else recorded["tables"])[k]["fingerprint"]
            for k in after} == after
    assert recorded["runs"][-1]["command"] == "generate --only"
