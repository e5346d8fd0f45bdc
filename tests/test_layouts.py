"""Both tap-event layouts (events.tap_events.layout): the same rows either way; they load, validate, regenerate and
compose windows alike; a window next to days of the other layout is refused; a whole-range run switches."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from datagen.cli import main
from datagen.manifest import fingerprint
from datagen.tables import EVENT_TABLES, TAP_EVENTS_VIEW
from tests.fix_db import DAYS, read_table, small_config


def run(*args: str) -> int:
    return main([*args, "--no-progress"])


def _config(config_dict: dict[str, Any], tmp_path: Path, layout: str) -> Path:
    return small_config(config_dict, tmp_path / f"{layout}.yaml", **{"events.tap_events.layout": layout})


def _columns(url: str, schema: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = 'app_database_tap_events' "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (schema,)).fetchall()
    return [str(r[0]) for r in rows]


def _has_view(url: str, schema: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".{TAP_EVENTS_VIEW}',)).fetchone()
    return row is not None and row[0] is not None


def _fingerprints(url: str, schema: str) -> dict[str, str]:
    return {t.key: fingerprint(read_table(url, schema, t.key), t.key) for t in EVENT_TABLES}


def _manifest(schema: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(os.environ["DATAGEN_HOME"]) / "manifests" / f"{schema}.json").read_text())
    return data


@pytest.mark.timeout(300)
def test_both_layouts_hold_the_same_rows_and_validate(db_env: str, schema: str, config_dict: dict[str, Any],
                                                      tmp_path: Path) -> None:
    typed = _config(config_dict, tmp_path, "typed")
    other = f"{schema}_c"
    contract = _config(config_dict, tmp_path, "contract")
    try:
        for cfg, s in ((typed, schema), (contract, other)):
            assert run("generate", "--config", str(cfg), "--schema", s, "--yes") == 0
            # two windows, composed: the same as one run
            assert run("generate-events", "--config", str(cfg), "--schema", s, "--end", DAYS[1], "--yes") == 0
            assert run("generate-events", "--config", str(cfg), "--schema", s, "--start", DAYS[2], "--yes") == 0
            assert run("validate", "--config", str(cfg), "--schema", s) == 0
        assert "volume_ml" in _columns(db_env, schema) and "metrics" not in _columns(db_env, schema)
        assert _has_view(db_env, schema) and not _has_view(db_env, other)
        assert _columns(db_env, other) == ["id", "device_id", "location_id", "timestamp", "event_type", "status",
                                           "metrics", "device_category", "created_at"]
        assert _fingerprints(db_env, schema) == _fingerprints(db_env, other)  # same rows, stored two ways
        assert _manifest(schema)["events"]["tap_events"]["layout"] == "typed"
        assert {p["layout"] for p in _manifest(other)["events"]["tap_events"]["partitions"].values()} == {"contract"}
        assert _manifest(schema)["events"]["tap_events"]["partitions"] == \
            {d: {**p, "layout": "typed"} for d, p in _manifest(other)["events"]["tap_events"]["partitions"].items()}
        # regenerating a table alone works the same in the typed layout
        assert run("generate", "--config", str(typed), "--schema", schema, "--only", "devices", "--yes") == 0
        assert run("validate", "--config", str(typed), "--schema", schema) == 0
        assert "volume_ml" in _columns(db_env, schema)
    finally:
        with psycopg.connect(db_env, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(other)))


@pytest.mark.timeout(300)
def test_a_window_next_to_the_other_layout_is_refused_and_a_whole_range_run_switches(
        db_env: str, schema: str, config_dict: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    contract = _config(config_dict, tmp_path, "contract")
    typed = _config(config_dict, tmp_path, "typed")
    assert run("generate", "--config", str(contract), "--schema", schema, "--yes") == 0
    assert run("generate-events", "--config", str(contract), "--schema", schema, "--yes") == 0
    before = _fingerprints(db_env, schema)
    capsys.readouterr()
    assert run("generate-events", "--config", str(typed), "--schema", schema, "--start", DAYS[1], "--end", DAYS[1],
               "--yes") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "events.tap_events.layout is typed" in err and "contract layout" in err and "nothing was changed" in err
    assert _fingerprints(db_env, schema) == before and "metrics" in _columns(db_env, schema)
    # validate says the config and the table disagree, and still passes: the rows are right
    assert run("validate", "--config", str(typed), "--schema", schema) == 0
    assert "stored in the contract layout; the config asks for typed" in " ".join(capsys.readouterr().err.split())

    # the whole range switches (tap events only: the other tables keep theirs)
    assert run("generate-events", "--config", str(typed), "--schema", schema, "--yes") == 0
    assert "volume_ml" in _columns(db_env, schema) and _has_view(db_env, schema)
    assert _fingerprints(db_env, schema) == before
    assert run("validate", "--config", str(typed), "--schema", schema) == 0
    # and back, by regenerating tap events alone
    assert run("generate", "--config", str(contract), "--schema", schema, "--only", "tap_events", "--yes") == 0
    assert "metrics" in _columns(db_env, schema) and not _has_view(db_env, schema)
    assert _fingerprints(db_env, schema) == before
    assert run("validate", "--config", str(contract), "--schema", schema) == 0


def test_a_switch_is_refused_while_another_object_depends_on_the_table(
        db_env: str, schema: str, config_dict: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    contract = _config(config_dict, tmp_path, "contract")
    typed = _config(config_dict, tmp_path, "typed")
    assert run("generate", "--config", str(contract), "--schema", schema, "--yes") == 0
    assert run("generate-events", "--config", str(contract), "--schema", schema, "--tables", "tap_events",
               "--yes") == 0
    before = _fingerprints(db_env, schema)["tap_events"]
    with psycopg.connect(db_env, autocommit=True) as conn:  # a user's own view on the raw table
        conn.execute(sql.SQL("CREATE VIEW {}.my_pours AS SELECT id FROM {}.app_database_tap_events").format(
            sql.Identifier(schema), sql.Identifier(schema)))
    capsys.readouterr()
    assert run("generate-events", "--config", str(typed), "--schema", schema, "--tables", "tap_events",
               "--yes") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "nothing was changed" in err and "my_pours" in err
    assert "metrics" in _columns(db_env, schema) and _fingerprints(db_env, schema)["tap_events"] == before


def test_validate_compares_the_layout_with_the_manifest(db_env: str, schema: str, config_dict: dict[str, Any],
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    contract = _config(config_dict, tmp_path, "contract")
    assert run("generate", "--config", str(contract), "--schema", schema, "--yes") == 0
    assert run("generate-events", "--config", str(contract), "--schema", schema, "--tables", "tap_events",
               "--yes") == 0
    path = Path(os.environ["DATAGEN_HOME"]) / "manifests" / f"{schema}.json"
    manifest = _manifest(schema)
    manifest["events"]["tap_events"]["layout"] = "typed"
    path.write_text(json.dumps(manifest))
    capsys.readouterr()
    assert run("validate", "--config", str(contract), "--schema", schema, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    failed = [c for c in report["checks"] if c["status"] == "FAIL"]
    assert [c["name"] for c in failed] == ["tap_events.matches_manifest"]
    assert any("stored in the contract layout (manifest typed)" in s for s in failed[0]["sample"])
