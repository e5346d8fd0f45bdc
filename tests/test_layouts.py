"""Both tap-event layouts (events.tap_events.layout): the same rows either way; they load, validate, regenerate and
compose windows alike; a window next to days of the other layout is refused; a whole-range run switches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from datagen.cli import main
from datagen.manifest import fingerprint
from datagen.tables import EVENT_TABLES, TAP_EVENTS_VIEW
from tests.fix_db import DAYS, db_manifest, read_table, small_config


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


def _manifest(url: str, schema: str) -> dict[str, Any]:
    return db_manifest(url, schema)


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
        typed_taps, contract_taps = (_manifest(db_env, s)["events"]["tap_events"] for s in (schema, other))
        assert typed_taps["layout"] == "typed"
        assert {p["layout"] for p in contract_taps["partitions"].values()} == {"contract"}
        assert typed_taps["partitions"] == {d: {**p, "layout": "typed"} for d, p in contract_taps["partitions"].items()}
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
    with psycopg.connect(db_env, autocommit=True) as conn:  # the manifest row edited by hand
        conn.execute(sql.SQL("UPDATE {}._datagen_manifest SET layout = 'typed' WHERE kind = 'table' "
                             "AND table_key = 'tap_events'").format(sql.Identifier(schema)))
    capsys.readouterr()
    assert run("validate", "--config", str(contract), "--schema", schema, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    failed = [c for c in report["checks"] if c["status"] == "FAIL"]
    assert [c["name"] for c in failed] == ["tap_events.matches_manifest"]
    assert any("stored in the contract layout (manifest typed)" in s for s in failed[0]["sample"])


def test_a_switch_keeps_grants_and_refuses_to_lose_what_datagen_did_not_create(
        db_env: str, schema: str, config_dict: dict[str, Any], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    contract = _config(config_dict, tmp_path, "contract")
    typed = _config(config_dict, tmp_path, "typed")
    args = ["--schema", schema, "--tables", "tap_events", "--yes"]
    assert run("generate", "--config", str(typed), "--schema", schema, "--yes") == 0
    assert run("generate-events", "--config", str(typed), *args) == 0
    s = sql.Identifier(schema)
    with psycopg.connect(db_env, autocommit=True) as conn:  # a reader role for dbt, and a view on datagen's view
        conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'datagen_test_reader') "
                     "THEN CREATE ROLE datagen_test_reader; END IF; END $$")
        conn.execute(sql.SQL("GRANT SELECT ON {}.app_database_tap_events TO datagen_test_reader").format(s))
        conn.execute(sql.SQL("CREATE VIEW {}.my_metrics AS SELECT metrics FROM {}.app_database_tap_events_view"
                             ).format(s, s))
    capsys.readouterr()
    assert run("generate-events", "--config", str(contract), *args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "my_metrics" in err and "nothing was changed" in err and "events.tap_events.layout" in err
    with psycopg.connect(db_env, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP VIEW {}.my_metrics").format(s))
        conn.execute(sql.SQL("CREATE INDEX my_pours_by_device ON {}.app_database_tap_events (device_id)").format(s))
    assert run("generate-events", "--config", str(contract), *args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "index my_pours_by_device" in err and "nothing was changed" in err
    assert "volume_ml" in _columns(db_env, schema)
    with psycopg.connect(db_env, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP INDEX {}.my_pours_by_device").format(s))
    assert run("generate-events", "--config", str(contract), *args) == 0
    with psycopg.connect(db_env) as conn:
        grants = conn.execute("SELECT privilege_type FROM information_schema.role_table_grants WHERE table_schema = %s "
                              "AND table_name = 'app_database_tap_events' AND grantee = 'datagen_test_reader'",
                              (schema,)).fetchall()
    assert grants == [("SELECT",)] and "metrics" in _columns(db_env, schema)
    with psycopg.connect(db_env, autocommit=True) as conn:  # the role is the cluster's: leave none behind
        conn.execute(sql.SQL("REVOKE ALL ON {}.app_database_tap_events FROM datagen_test_reader").format(s))
        conn.execute("DROP ROLE datagen_test_reader")


def test_an_extra_column_on_an_event_table_is_refused_before_any_work(
        db_env: str, schema: str, small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("generate", "--config", str(small), "--schema", schema, "--yes") == 0
    assert run("generate-events", "--config", str(small), "--schema", schema, "--yes") == 0
    with psycopg.connect(db_env, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER TABLE {}.app_database_page_views ADD COLUMN note text").format(
            sql.Identifier(schema)))
    capsys.readouterr()
    assert run("generate-events", "--config", str(small), "--schema", schema, "--yes") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "app_database_page_views is in the way" in err and "extra columns note" in err


def test_an_emptied_table_takes_the_configured_layout_for_a_window(
        db_env: str, schema: str, config_dict: dict[str, Any], tmp_path: Path) -> None:
    typed = _config(config_dict, tmp_path, "typed")
    contract = _config(config_dict, tmp_path, "contract")
    assert run("generate", "--config", str(typed), "--schema", schema, "--yes") == 0
    assert run("generate-events", "--config", str(typed), "--schema", schema, "--yes") == 0
    # an upgrade: the core tables reloaded (which empties the event tables), then a window in the new default
    assert run("generate", "--config", str(contract), "--schema", schema, "--yes") == 0
    assert run("generate-events", "--config", str(contract), "--schema", schema, "--start", DAYS[1], "--end",
               DAYS[1], "--yes") == 0
    assert "metrics" in _columns(db_env, schema) and not _has_view(db_env, schema)
    assert run("validate", "--config", str(contract), "--schema", schema) == 0
