"""--scale S and `auto` id ranges: the scaled plan, its limits, its pins, and the commands that must agree on S."""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datagen import checks, events
from datagen.cli import main
from datagen.config import Config, config_digest, largest_remainder, parse_config
from datagen.config.model import ID_LIMITS
from datagen.config.scale import scale_config
from datagen.errors import ConfigError, UsageError
from datagen.generate import generate
from datagen.manifest import fingerprint
from datagen.plan import make_plan
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES
from tests.fix_db import built_event_fingerprints, db_manifest, printed_tables, set_key, small_config

# The shipped config at --scale 0.1 (15 accounts): the core tables and the first event day. Set on 2026-12-03.
PINNED_SCALED = {
    "accounts": "15:5a8b40d42f2dca9eacc0db973a596e1c",
    "locations": "38:27f68ace2aafbfe16c9c7da473d65cf0",
    "devices": "558:e6a4d5d64d883e3d2830ef1c84356b96",
    "users": "132:498293399e8ddf2b1376433802ddfebe",
    "subscriptions": "15:f61140145149be237b72d761f9894cbe",
    "device_maintenance_logs": "875:5b5e97369298899ed457045d4fb45505",
    "tap_events": "52111:5f90e71a6c08a94f9dce8a6ec9d648bf",
    "user_sessions": "134:e2b7f26c1e8ee624527180f85a43271e",
    "page_views": "2448:18aa93e0aa11105907f5384e6fee195d",
    "feature_usage": "310:26f61127cf137f1da7f905f83a0879a6",
}


def test_scale_one_is_the_config_itself(cfg: Config) -> None:
    assert scale_config(cfg, 1.0) is cfg
    assert scale_config(cfg, 1) is cfg


def test_a_scaled_dataset_is_pinned(cfg: Config) -> None:
    scaled = scale_config(cfg, 0.1)
    gen = generate(scaled)
    got = {k: fingerprint(f, k) for k, f in gen.frames.items()}
    streams = events.Streams(scaled, gen)
    day = scaled.events.start_date
    got |= built_event_fingerprints(streams, streams.plan(tuple(t.key for t in EVENT_TABLES), day, day))
    assert got == PINNED_SCALED


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scale=st.floats(min_value=0.02, max_value=3.0, allow_nan=False))
def test_every_share_holds_at_any_scale(cfg: Config, scale: float) -> None:
    scaled = scale_config(cfg, scale)
    total = math.floor(150 * scale + 0.5)
    assert scaled.accounts_total == total and scaled.scale == scale
    # sizes split the scaled total by largest remainder, as they split the written one
    assert scaled.accounts_per_size() == largest_remainder(total, {s.name: s.share for s in cfg.sizes})
    # everything but the accounts and the id ranges is as written
    assert dataclasses.replace(scaled, accounts_total=cfg.accounts_total, id_ranges=cfg.id_ranges,
                               auto_ids=cfg.auto_ids, scale=1.0) == cfg
    for (table, (lo, hi)), (_, (lo0, _)) in zip(scaled.id_ranges, cfg.id_ranges, strict=True):
        grown = scale != 1  # --scale 1 is the config as written
        assert (lo, hi == ID_LIMITS[table].max_id, table in scaled.auto_ids) == (lo0, grown, grown)
    gen = generate(scaled)
    assert gen.frames["accounts"].height == total
    by_size = dict(gen.frames["accounts"].group_by("size").len().iter_rows())
    assert {k: v for k, v in scaled.accounts_per_size().items() if v} == by_size
    failed = [o.check.name for o in checks.run_checks(gen.frames, scaled) if not o.passed]
    assert failed == []
    assert all(r.fits for r in make_plan(scaled, {k: f.height for k, f in gen.frames.items()}))


def test_the_digest_follows_the_scale(cfg: Config) -> None:
    assert config_digest(scale_config(cfg, 2)) != config_digest(cfg) != config_digest(scale_config(cfg, 0.5))


@pytest.mark.parametrize("scale", [0.0, -1.0, math.inf, math.nan, 0.003])
def test_a_scale_that_leaves_nothing_is_refused(cfg: Config, scale: float) -> None:
    with pytest.raises(UsageError, match="--scale") as err:
        scale_config(cfg, scale)
    if scale == 0.003:  # 150 x 0.003 = 0.45 accounts
        assert "leaves no account" in str(err.value) and "0.00333" in str(err.value)


def test_a_scale_past_a_declared_limit_names_the_key_and_the_limit(cfg: Config) -> None:
    scaled = scale_config(cfg, 700)
    assert scaled.id_range("devices") == (1, 2**24 - 1)  # grown to the limit, not past it
    with pytest.raises(ConfigError) as err:
        generate(scaled)
    text = str(err.value)
    assert "id_ranges.devices" in text and "16,777,215" in text and "MAC addresses" in text
    assert "lower --scale" in text


def _raw(raw_config: dict[str, Any], **ranges: Any) -> dict[str, Any]:
    raw = copy.deepcopy(raw_config)
    for table, value in ranges.items():
        set_key(raw, f"id_ranges.{table}", value)
    return raw


def test_an_auto_id_range_gives_the_same_rows(raw_config: dict[str, Any], cfg: Config) -> None:
    auto = parse_config(_raw(raw_config, devices="auto", tap_events="auto"))
    assert auto.id_range("devices") == (1, 2**24 - 1) and auto.id_range("tap_events") == (1, 2**31 - 1)
    assert set(auto.auto_ids) == {"devices", "tap_events"}
    assert config_digest(auto) == config_digest(dataclasses.replace(
        cfg, id_ranges=auto.id_ranges))  # auto itself is not a data setting
    gen, base = generate(auto), generate(cfg)
    assert {k: fingerprint(f, k) for k, f in gen.frames.items()} == {
        k: fingerprint(f, k) for k, f in base.frames.items()}
    day = cfg.events.start_date
    got = [built_event_fingerprints(s, s.plan(("tap_events",), day, day))
           for s in (events.Streams(auto, gen), events.Streams(cfg, base))]
    assert got[0] == got[1]


def test_auto_fits_a_longer_range_with_one_edit(raw_config: dict[str, Any]) -> None:
    """Six event days need more than the written tap_events range holds; `auto` takes what the plan needs."""
    raw = _raw(raw_config)
    set_key(raw, "events.range", {"start_date": "2025-06-18", "end_date": "2025-06-25"})
    written = parse_config(copy.deepcopy(raw))
    gen = generate(written)
    with pytest.raises(ConfigError, match=r"(?s)id_ranges\.tap_events: .* needs [\d,]+ tap_events ids .*or write auto"):
        events.Streams(written, gen).plan(("tap_events",))
    set_key(raw, "id_ranges.tap_events", "auto")
    auto = parse_config(raw)
    plan = events.Streams(auto, gen).plan(("tap_events",))
    assert plan.range_rows["tap_events"] > 10_000_000
    assert plan.parts["tap_events"][0].first_id == 1


@pytest.mark.parametrize("value", ["automatic", "", "1-100"])
def test_an_id_range_that_is_neither_a_range_nor_auto_is_refused(raw_config: dict[str, Any], value: str) -> None:
    with pytest.raises(ConfigError, match=r"id_ranges\.users: must be \[first, last\] or auto"):
        parse_config(_raw(raw_config, users=value))


def test_the_dry_runs_show_scaled_counts_and_auto_ranges(
    raw_config: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump(_raw(raw_config, tap_events="auto"), sort_keys=False), encoding="utf-8")
    assert main(["generate", "--config", str(path), "--scale", "0.1", "--dry-run"]) == 0
    plan = {r["table"]: r for r in printed_tables(capsys.readouterr().out)["Plan (nothing written)"]}
    assert plan["accounts"]["planned (this seed)"] == "15" and plan["accounts"]["runbook"] == "~15"
    assert main(["generate-events", "--config", str(path), "--scale", "0.1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    rows = next(v for k, v in printed_tables(out).items() if k.startswith("Event plan"))
    tap = next(r for r in rows if r["table"] == "tap_events")
    assert tap["id range"] == f"auto 1-{tap['range rows']}" and tap["fits"] == "yes"


def test_the_commands_agree_on_the_scale(db_env: str, schema: str, config_dict: dict[str, Any], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """generate records --scale; generate-events and validate at another scale are refused, naming the one to
    pass, and change nothing; at the same scale every check passes."""
    small = small_config(config_dict, tmp_path / "small.yaml")  # 12 accounts; --scale 0.5: 6
    args = ["--config", str(small), "--schema", schema]
    assert main(["generate", *args, "--scale", "0.5", "--yes", "--no-progress"]) == 0
    with psycopg.connect(db_env) as conn:
        assert conn.execute(f"SELECT count(*) FROM {schema}.app_database_accounts").fetchone() == (6,)
    run = db_manifest(db_env, schema)["runs"][-1]
    assert run["scale"] == 0.5
    capsys.readouterr()
    assert main(["generate-events", *args, "--yes", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--scale 0.5 (its manifest records it)" in err and "pass --scale 0.5" in err
    assert not db_manifest(db_env, schema)["events"]
    assert main(["validate", *args, "--no-progress"]) == 2
    assert "validate with --scale 0.5" in capsys.readouterr().err
    assert main(["generate", *args, "--only", "devices", "--yes", "--no-progress"]) == 2
    assert "pass --scale 0.5" in capsys.readouterr().err
    assert main(["generate-events", *args, "--scale", "0.5", "--yes", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["validate", *args, "--scale", "0.5", "--json", "--no-progress"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["passed"] and len(result["checks"]) == 136
    rows = {k: v["rows"] for k, v in db_manifest(db_env, schema)["tables"].items()}
    want = generate(scale_config(parse_config(yaml.safe_load(small.read_text())), 0.5)).frames
    assert rows == {t.key: want[t.key].height for t in CORE_TABLES}
    assert TABLES["accounts"].key in rows
