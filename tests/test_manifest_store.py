"""The manifest lives with the data: `<schema>._datagen_manifest`, written in the load's transaction, read by
validate and `datagen status` from any machine."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from datagen.cli import main
from datagen.manifest import combine
from datagen.tables import TABLES
from tests.fix_db import DAYS, db_manifest, read_table, table_exists


def run(*args: str) -> int:
    return main([*args, "--no-progress"])


def _execute(url: str, schema: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(s=sql.Identifier(schema)))


@pytest.fixture
def other_database(db_url: str) -> Iterator[str]:
    """A second database on the same server (a dev and a test database, say)."""
    name = f"dg_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_conninfo(db_url, dbname=name)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = run("validate", *args, "--json")
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.timeout(300)
def test_two_databases_with_the_same_schema_each_validate_from_anywhere(
        db_env: str, schema: str, small: Path, other_database: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(small), "--schema", schema]
    for url in (db_env, other_database):  # the first, then the second, as a user with two databases would
        monkeypatch.setenv("DATABASE_URL", url)
        assert run("generate", *args, "--yes") == 0
        assert run("generate-events", *args, "--yes", "--end", DAYS[1]) == 0
    assert run("generate-events", *args, "--yes", "--start", DAYS[2]) == 0  # the second one gets all four days
    for url, days in ((db_env, 2), (other_database, 4)):
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.setenv("DATAGEN_HOME", str(tmp_path / f"fresh-{uuid.uuid4().hex[:6]}"))  # no local file at all
        code, rep = _validate(capsys, *args)
        assert code == 0, [c for c in rep["checks"] if c["status"] != "ok"]
        assert rep["manifest_found"] and not [c for c in rep["checks"] if c["status"] == "skipped"]
        assert rep["tables"]["tap_events"]["manifest_partitions"] == days
        assert not (tmp_path / "home" / "manifests").exists()  # nothing is written on the client


def test_what_a_run_records(db_env: str, schema: str, small: Path) -> None:
    assert run("generate", "--config", str(small), "--schema", schema, "--yes") == 0
    assert run("generate-events", "--config", str(small), "--schema", schema, "--yes", "--tables", "tap_events") == 0
    m = db_manifest(db_env, schema)
    assert [r["command"] for r in m["runs"]] == ["generate", "generate-events"]
    gen, events = m["runs"]
    for r in m["runs"]:
        assert r["seed"] == 42 and r["datagen_version"] and len(r["config_digest"]) == 16
        assert r["started_at"] <= r["ended_at"]
        assert "database_url" not in r["options"] and db_env not in json.dumps(r)  # never a URL
    assert gen["rows"] == {k: m["tables"][k]["rows"] for k in m["tables"]}
    assert events["options"]["tables"] == ["tap_events"]
    assert events["rows"] == {"tap_events": m["events"]["tap_events"]["rows"]}
    # the manifest describes the data: rows, id spans and fingerprints of every table and partition
    for key, entry in m["tables"].items():
        frame = read_table(db_env, schema, key)
        assert (entry["rows"], entry["id_min"], entry["id_max"]) == \
            (frame.height, frame["id"].min(), frame["id"].max())
    taps = m["events"]["tap_events"]
    assert taps["rows"] == sum(p["rows"] for p in taps["partitions"].values()) == \
        read_table(db_env, schema, "tap_events").height
    assert taps["fingerprint"] == combine([p["fingerprint"] for p in taps["partitions"].values()])
    assert taps["layout"] == "contract" and sorted(taps["partitions"]) == list(DAYS)


EDITS = {
    "core rows": ("UPDATE {s}._datagen_manifest SET rows = rows + 1 WHERE kind = 'table' AND table_key = 'devices'",
                  "devices.matches_manifest", "rows"),
    "core id span": ("UPDATE {s}._datagen_manifest SET last_id = last_id + 5 WHERE kind = 'table' "
                     "AND table_key = 'users'", "users.matches_manifest", "id_max"),
    "partition fingerprint": ("UPDATE {s}._datagen_manifest SET fingerprint = '1:' || repeat('0', 32) "
                              "WHERE kind = 'partition' AND name = 'app_database_tap_events_p20250621'",
                              "tap_events.matches_manifest", "app_database_tap_events_p20250621: altered"),
    "partition removed": ("DELETE FROM {s}._datagen_manifest WHERE kind = 'partition' "
                          "AND name = 'app_database_feature_usage_p20250622'",
                          "feature_usage.matches_manifest", "app_database_feature_usage_p20250622: extra"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_manifest_row_edited_by_hand_fails_validate_naming_it(
        db_env: str, schema: str, small_loaded: list[str], capsys: pytest.CaptureFixture[str], edit: str) -> None:
    assert _validate(capsys, *small_loaded)[0] == 0
    statement, check, named = EDITS[edit]
    _execute(db_env, schema, statement)
    code, rep = _validate(capsys, *small_loaded)
    failed = [c for c in rep["checks"] if c["status"] == "FAIL"]
    assert code == 1 and [c["name"] for c in failed] == [check]
    assert any(named in s for s in failed[0]["sample"]), failed[0]["sample"]


def test_run_rows_are_informational(db_env: str, schema: str, small_loaded: list[str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    _execute(db_env, schema, "UPDATE {s}._datagen_manifest SET run = run || '{{\"seed\": 42, \"command\": \"x\"}}' "
                             "WHERE kind = 'run'")
    assert _validate(capsys, *small_loaded)[0] == 0


@pytest.mark.parametrize("adopt", [False, True])
def test_a_same_named_table_datagen_did_not_create_is_refused_even_with_adopt(
        db_env: str, schema: str, small: Path, capsys: pytest.CaptureFixture[str], adopt: bool) -> None:
    _execute(db_env, schema, "CREATE SCHEMA {s}")
    _execute(db_env, schema, "CREATE TABLE {s}._datagen_manifest (note text)")
    capsys.readouterr()
    assert run("generate", "--config", str(small), "--schema", schema, "--yes", *(["--adopt"] if adopt else [])) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{schema}._datagen_manifest is in the way" in err and "nothing was changed" in err
    assert not table_exists(db_env, schema, "accounts")


def test_status_prints_the_schema_and_exports_the_manifest(
        db_env: str, schema: str, small_loaded: list[str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    export = tmp_path / "export.json"
    assert main(["status", "--schema", schema, "--export", str(export)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "The manifest matches the catalog" in out and "seed 42" in out and "generate-events" in out
    assert f"{DAYS[0]} to {DAYS[-1]}" in out and "contract" in out
    assert json.loads(export.read_text()) == json.loads(json.dumps(db_manifest(db_env, schema), default=str))
    # an export is what validate --manifest compares with
    assert _validate(capsys, *small_loaded, "--manifest", str(export))[0] == 0
    # a day dropped behind datagen's back: status and validate both name it
    part = TABLES["page_views"].partition_name(__import__("datetime").date.fromisoformat(DAYS[1]))
    _execute(db_env, schema, f"ALTER TABLE {{s}}.app_database_page_views DETACH PARTITION {{s}}.{part}")
    _execute(db_env, schema, f"DROP TABLE {{s}}.{part}")
    capsys.readouterr()
    assert main(["status", "--schema", schema]) == 1
    assert f"app_database_page_views: missing (in the manifest, not in the catalog): {part}" in \
        " ".join(capsys.readouterr().out.split())
    code, rep = _validate(capsys, *small_loaded)
    assert code == 1 and any(f"{part}: missing" in s for c in rep["checks"] for s in c["sample"])


def test_status_of_an_old_or_empty_schema(db_env: str, schema: str, small_loaded: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _execute(db_env, schema, "DROP TABLE {s}._datagen_manifest")
    capsys.readouterr()
    assert main(["status", "--schema", schema]) == 0
    assert "no manifest table" in " ".join(capsys.readouterr().out.split())
    assert main(["status", "--schema", f"{schema}_nothing"]) == 2


def test_generate_and_events_export_with_manifest(db_env: str, schema: str, small: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run("generate", "--config", str(small), "--schema", schema, "--yes", "--manifest", str(a)) == 0
    assert run("generate-events", "--config", str(small), "--schema", schema, "--yes", "--manifest", str(b)) == 0
    assert set(json.loads(a.read_text())["tables"]) == {t for t in TABLES if not TABLES[t].partitioned}
    assert json.loads(b.read_text())["events"]["tap_events"]["rows"] > 0


def test_dbt_sources_leave_the_manifest_table_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dbt-sources"]) == 0
    assert "_datagen_manifest" not in capsys.readouterr().out
