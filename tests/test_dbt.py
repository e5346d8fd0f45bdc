"""The dbt contract: a dbt project that reads what the platform's staging models read (tests/dbt/) builds on
what datagen loads, with the sources YAML `datagen dbt-sources` writes and the tests it declares; full, then
incremental after a second window; and the generated tests fail on corrupted data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from datagen.cli import main
from datagen.tables import EVENT_TABLES, TABLES
from tests.fix_db import DAYS

PROJECT = Path(__file__).resolve().parent / "dbt"
DBT = Path(sys.executable).parent / "dbt"  # dbt-core's console script, installed with the dev extras


def run(*args: str) -> int:
    return main([*args, "--no-progress"])


def _project(tmp_path: Path, schema: str) -> Path:
    """tests/dbt copied, with the sources YAML datagen writes for schema."""
    project = tmp_path / "dbt"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    out = project / "models" / "sources" / "app_database.yml"
    assert main(["dbt-sources", "--schema", schema, "--out", str(out)]) == 0
    return project


def _dbt(project: Path, db_url: str, target_schema: str, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    """Run dbt in the project against the test server; (exit code, run results, output)."""
    info = conninfo_to_dict(db_url)
    env = {**os.environ, "DBT_HOST": str(info.get("host") or "127.0.0.1"), "DBT_PORT": str(info.get("port") or 5432),
           "DBT_USER": str(info.get("user") or "postgres"), "DBT_PASSWORD": str(info.get("password") or ""),
           "DBT_DBNAME": str(info.get("dbname") or "postgres"), "DBT_SCHEMA": target_schema,
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_PROFILES_DIR": str(project)}
    proc = subprocess.run([str(DBT), "--no-use-colors", *args, "--project-dir", str(project)], env=env,
                          capture_output=True, text=True, timeout=600, check=False, cwd=project)
    results_path = project / "target" / "run_results.json"
    results = json.loads(results_path.read_text())["results"] if results_path.exists() else []
    results_path.unlink(missing_ok=True)
    return proc.returncode, results, proc.stdout + proc.stderr


@pytest.fixture
def target_schema(db_url: str, schema: str) -> Any:
    name = f"{schema}_dbt"
    yield name
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def _counts(db_url: str, schema: str, target_schema: str) -> list[tuple[int, int]]:
    """(raw rows, staging model rows) per table."""
    out = []
    with psycopg.connect(db_url) as conn:
        for t in TABLES.values():
            raw = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(t.name))).fetchone()
            model = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(target_schema), sql.Identifier(f"stg_app_database__{t.key}"))).fetchone()
            assert raw is not None and model is not None
            out.append((int(raw[0]), int(model[0])))
    return out


@pytest.mark.timeout(900)
def test_dbt_builds_full_then_incremental_and_every_generated_test_passes(
        db_env: str, schema: str, small: Path, tmp_path: Path, target_schema: str) -> None:
    args = ["--config", str(small), "--schema", schema]
    assert run("generate", *args, "--yes") == 0
    assert run("generate-events", *args, "--start", DAYS[0], "--end", DAYS[1], "--yes") == 0
    project = _project(tmp_path, schema)
    sources = yaml.safe_load((project / "models" / "sources" / "app_database.yml").read_text())
    tables = {t["name"]: t for t in sources["sources"][0]["tables"]}
    assert tables["tap_events"]["identifier"] == "app_database_tap_events"  # no view, no override

    code, results, output = _dbt(project, db_env, target_schema, "build")
    assert code == 0, output
    models = [r for r in results if r["unique_id"].startswith("model.")]
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    assert len(models) == len(TABLES) and all(r["status"] == "success" for r in models), output
    assert all(r["status"] == "pass" for r in tests), output
    names = " ".join(r["unique_id"] for r in tests)
    for kind in ("source_unique_", "source_not_null_", "source_relationships_", "source_accepted_values_",
                 "source_equals_parent_"):
        assert kind in names, kind  # every kind of generated test ran
    # exactly the tests the sources declare ran, each once
    declared = sum(len(c.get("data_tests", [])) for t in tables.values() for c in t["columns"])
    ran = [r["unique_id"] for r in tests if ".source_" in r["unique_id"]]
    assert len(set(ran)) == len(ran) == declared > 100
    full = _counts(db_env, schema, target_schema)
    assert all(raw == model > 0 for raw, model in full), full

    # the next days arrive; the incremental models append them, and everything still passes
    assert run("generate-events", *args, "--start", DAYS[2], "--end", DAYS[3], "--yes") == 0
    code, results, output = _dbt(project, db_env, target_schema, "build")
    assert code == 0, output
    assert all(r["status"] in ("success", "pass") for r in results), output
    after = _counts(db_env, schema, target_schema)
    assert all(raw == model for raw, model in after), after
    events = {t.key for t in EVENT_TABLES}
    grew = [key for key, (before, now) in zip(TABLES, zip(full, after, strict=True), strict=True)
            if now[1] > before[1]]
    assert set(grew) == events  # the event models grew; the entity models (views) did not need to
    assert "incremental" in (project / "models" / "staging" / "stg_app_database__tap_events.sql").read_text()


CORRUPTIONS = {
    # a relationship broken (its real foreign key dropped first, or PostgreSQL would refuse the damage)
    "relationships": ("ALTER TABLE {s}.app_database_tap_events DROP CONSTRAINT app_database_tap_events_device_id_fkey",
                      "UPDATE {s}.app_database_tap_events SET device_id = 99999999 "
                      "WHERE id = (SELECT min(id) FROM {s}.app_database_tap_events)",
                      "source_relationships_app_database_tap_events_device_id"),
    # a denormalized copy that no longer equals its parent's value (the key itself stays valid)
    "equals_parent": ("SELECT 1",
                      "UPDATE {s}.app_database_devices SET customer_id = "
                      "(SELECT max(id) FROM {s}.app_database_accounts) WHERE id = (SELECT min(d.id) FROM "
                      "{s}.app_database_devices d JOIN {s}.app_database_locations l "
                      "ON l.id = d.location_id WHERE l.customer_id <> (SELECT max(id) FROM {s}.app_database_accounts))",
                      "source_equals_parent_app_database_devices_customer_id"),
    # a value outside the declared domain
    "accepted_values": ("SELECT 1",
                        "UPDATE {s}.app_database_tap_events SET event_type = 'spill' "
                        "WHERE id = (SELECT min(id) FROM {s}.app_database_tap_events)",
                        "source_accepted_values_app_database_tap_events_event_type"),
}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_a_corrupted_relationship_fails_its_generated_test(db_env: str, schema: str, small: Path, tmp_path: Path,
                                                           target_schema: str, kind: str) -> None:
    args = ["--config", str(small), "--schema", schema]
    assert run("generate", *args, "--yes") == 0
    assert run("generate-events", *args, "--start", DAYS[0], "--end", DAYS[0], "--tables", "tap_events",
               "--yes") == 0
    project = _project(tmp_path, schema)
    # the sources' own tests only (the staging models' tests need the models built)
    select = ["--select", "source:app_database.tap_events source:app_database.devices",
              "--exclude", "path:models/staging"]
    code, results, output = _dbt(project, db_env, target_schema, "test", *select)
    assert code == 0 and results and all(r["status"] == "pass" for r in results), output
    drop, damage, failing = CORRUPTIONS[kind]
    with psycopg.connect(db_env, autocommit=True) as conn:
        for statement in (drop, damage):
            conn.execute(sql.SQL(statement).format(s=sql.Identifier(schema)))
    code, results, output = _dbt(project, db_env, target_schema, "test", *select)
    assert code != 0, output
    failed = [r["unique_id"] for r in results if r["status"] != "pass"]
    assert any(failing in name for name in failed), (failed, output)
    # only tests of that kind fail (a device's customer_id also feeds its maintenance logs' copies)
    assert all(f"source_{kind}_" in name for name in failed), (failed, output)
