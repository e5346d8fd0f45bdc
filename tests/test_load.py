"""The loader on a real PostgreSQL: end to end, the runbook's SQL checks, refusal, kill mid-COPY, bad targets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from datagen.checks import catalogue
from datagen.cli import main
from datagen.manifest import fingerprint
from datagen.tables import CORE_TABLES
from tests.fix_db import column, db_manifest, kill_during_copy, printed_tables, read_table, table_exists
from tests.test_generate import PINNED


def _fingerprints(url: str, schema: str) -> dict[str, str]:
    return {t.key: fingerprint(read_table(url, schema, t.key), t.key) for t in CORE_TABLES}


def test_generate_loads_the_default_dataset(db_env: str, schema: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.json"
    assert main(["generate", "--schema", schema, "--yes", "--manifest", str(manifest)]) == 0
    out = capsys.readouterr().out
    printed = printed_tables(out)
    assert list(printed) == ["Loaded", "Distributions against the config", "Stages"]
    loaded = printed["Loaded"]
    assert column(loaded, "table", "rows") == {k: f"{int(fp.split(':')[0]):,}" for k, fp in PINNED.items()}
    assert column(loaded, "table", "fingerprint") == PINNED
    sizes = [(r["value"], r["rows"], r["share"], r["config"]) for r in printed["Distributions against the config"]
             if r["column"] == "accounts.size"]
    assert sizes == [("small", "105", "0.700", "0.700"), ("medium", "30", "0.200", "0.200"),
                     ("large", "12", "0.080", "0.080"), ("enterprise", "3", "0.020", "0.020")]
    assert [r["stage"] for r in printed["Stages"]] == ["generate", "validate (pre-load)", "COPY", "keys (PK + FK)",
                                                        "total"]
    assert out.splitlines()[-1].startswith(f"Loaded 83,037 rows into schema {schema} at ")
    s = sql.Identifier(schema)
    with psycopg.connect(db_env) as conn:
        orphans = conn.execute(sql.SQL(
            "SELECT COUNT(*) FROM {}.app_database_devices d LEFT JOIN {}.app_database_locations l "
            "ON d.location_id = l.id WHERE l.id IS NULL").format(s, s)).fetchone()
        span = conn.execute(sql.SQL("SELECT MIN(id), MAX(id), COUNT(*) FROM {}.app_database_devices").format(s)
                            ).fetchone()
        accounts = conn.execute(sql.SQL("SELECT COUNT(*) FROM {}.app_database_accounts").format(s)).fetchone()
        fks = conn.execute("SELECT count(*) FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace "
                           "WHERE n.nspname = %s AND con.contype = 'f'", (schema,)).fetchone()
    assert orphans == (0,)
    assert span is not None and span[0] >= 1 and span[1] <= 30000 and span[2] == 25022
    assert accounts == (150,)
    assert fks == (8,)  # 5 among the legacy tables, 3 from the maintenance logs
    assert _fingerprints(db_env, schema) == PINNED
    written = json.loads(manifest.read_text())
    assert {k: v["fingerprint"] for k, v in written["tables"].items()} == PINNED
    assert written["seed"] == 42


def test_replacing_without_terminal_or_yes_refuses(db_env: str, schema: str, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--schema", schema, "--yes", "--no-progress"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["generate", "--schema", schema]) == 2
    err = capsys.readouterr().err
    assert "83,037 rows" in err and "--yes" in err and "Traceback" not in err
    assert _fingerprints(db_env, schema) == PINNED


def _changed_config(raw_config: dict[str, Any], path: Path) -> Path:
    raw = dict(raw_config)
    raw["seed"] = 7
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_kill_during_copy_leaves_previous_data(db_env: str, schema: str, raw_config: dict[str, Any],
                                               tmp_path: Path) -> None:
    assert main(["generate", "--schema", schema, "--yes", "--no-progress"]) == 0
    manifest = db_manifest(db_env, schema)
    cfg_path = _changed_config(raw_config, tmp_path / "seed7.yaml")
    kill_during_copy(db_env, ["generate", "--schema", schema, "--yes", "--config", str(cfg_path)],
                     pause="devices:60", copying=f'COPY "{schema}"."app_database_devices"')
    assert _fingerprints(db_env, schema) == PINNED
    assert db_manifest(db_env, schema) == manifest  # the manifest is as old as the data: no run recorded
    # and a re-run completes
    assert main(["generate", "--schema", schema, "--yes", "--no-progress", "--config", str(cfg_path)]) == 0
    assert _fingerprints(db_env, schema) != PINNED


def test_foreign_table_in_the_way_is_refused(db_env: str, schema: str, capsys: pytest.CaptureFixture[str]) -> None:
    s = sql.Identifier(schema)
    with psycopg.connect(db_env, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
        conn.execute(sql.SQL("CREATE TABLE {}.app_database_accounts (id varchar(50), name text)").format(s))
        conn.execute(sql.SQL("INSERT INTO {}.app_database_accounts VALUES ('a', 'keep me')").format(s))
    assert main(["generate", "--schema", schema, "--yes", "--no-progress"]) == 2
    assert f"{schema}.app_database_accounts was not created by datagen" in capsys.readouterr().err
    # even taken over, its columns are not ours: refused before anything changes
    assert main(["generate", "--schema", schema, "--yes", "--adopt", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{schema}.app_database_accounts is in the way" in err
    with psycopg.connect(db_env) as conn:
        assert conn.execute(sql.SQL("SELECT * FROM {}.app_database_accounts").format(s)).fetchall() == [
            ("a", "keep me")]
    assert not table_exists(db_env, schema, "devices")


def test_unreachable_server_names_host_and_hides_password(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://loader:s3cret-Pw@127.0.0.1:1/tapflow")
    assert main(["generate", "--yes", "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "127.0.0.1:1/tapflow" in captured.err
    assert "s3cret-Pw" not in captured.err + captured.out
    assert "Traceback" not in captured.err


def test_dry_run_writes_nothing(db_env: str, schema: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--schema", schema, "--dry-run"]) == 0
    out = capsys.readouterr().out
    plan = printed_tables(out)["Plan (nothing written)"]
    assert column(plan, "table", "planned (this seed)") == {k: f"{int(fp.split(':')[0]):,}" for k, fp in PINNED.items()}
    assert column(plan, "table", "fits") == {k: "yes" for k in PINNED}
    assert column(plan, "table", "id range")["devices"] == "1-30,000"
    assert out.splitlines()[-1] == "79 pre-load checks passed. Dry run: nothing was written."
    assert not table_exists(db_env, schema, "accounts")


def test_validate_in_memory_runs_the_core_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--in-memory", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is True
    assert [c["name"] for c in report["checks"]] == [c.name for c in catalogue()]
    assert all(c["violations"] == 0 for c in report["checks"])


def test_unwritable_manifest_stops_before_the_load(db_env: str, schema: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["generate", "--schema", schema, "--yes", "--manifest", str(blocker / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "cannot write the manifest" in err and "Traceback" not in err
    assert not table_exists(db_env, schema, "accounts")


def test_view_in_the_way_is_refused(db_env: str, schema: str, capsys: pytest.CaptureFixture[str]) -> None:
    s = sql.Identifier(schema)
    with psycopg.connect(db_env, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
        conn.execute(sql.SQL("CREATE VIEW {}.app_database_accounts AS SELECT 1/0 AS id").format(s))
    assert main(["generate", "--schema", schema, "--yes", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{schema}.app_database_accounts is in the way" in err


def test_a_column_an_older_datagen_did_not_have_is_added_in_the_load(db_env: str, schema: str) -> None:
    assert main(["generate", "--schema", schema, "--yes", "--no-progress"]) == 0
    before = _fingerprints(db_env, schema)
    with psycopg.connect(db_env, autocommit=True) as conn:  # users as datagen made them before `permissions`
        conn.execute(sql.SQL("ALTER TABLE {}.app_database_users DROP COLUMN permissions").format(
            sql.Identifier(schema)))
    assert main(["generate", "--schema", schema, "--yes", "--no-progress"]) == 0
    assert _fingerprints(db_env, schema) == before
    with psycopg.connect(db_env) as conn:
        roles = conn.execute(sql.SQL("SELECT role, permissions, count(*) FROM {}.app_database_users GROUP BY 1, 2 "
                                     "ORDER BY 1").format(sql.Identifier(schema))).fetchall()
    assert [(r, p) for r, p, _ in roles] == [("admin", "full_access"), ("manager", "location_management"),
                                             ("operator", "device_operation"), ("viewer", "read_only")]
