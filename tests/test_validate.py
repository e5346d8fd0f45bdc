"""`validate` on a real PostgreSQL: passes on what generate loaded, and fails naming the check and the key for
each way the loaded data can be damaged, then passes again after regenerating."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from datagen import validate
from datagen.catalog import lock_key
from datagen.cli import main
from tests.fix_db import DAYS, column, printed_tables


def run(*args: str) -> int:
    return main([*args, "--no-progress"])


def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """validate --json: exit code and the parsed report."""
    capsys.readouterr()
    code = run("validate", "--json", *args)
    return code, json.loads(capsys.readouterr().out)


def by_name(rep: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in rep["checks"]}


def execute(url: str, schema: str, *statements: str) -> Any:
    """Run statements ({s} is the schema) as a superuser would in a migration; returns the last row."""
    row = None
    with psycopg.connect(url, autocommit=True) as conn:
        for st in statements:
            cur = conn.execute(sql.SQL(st).format(s=sql.Identifier(schema)))
            row = cur.fetchone() if cur.description else row
    return row[0] if row else None


def test_validate_passes_on_the_loaded_data_with_every_check_timed(
        db_env: str, schema: str, small_loaded: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, rep = report(capsys, *small_loaded)
    assert code == 0, [c for c in rep["checks"] if c["status"] != "ok"]
    assert rep["passed"] and rep["manifest_found"] and not rep["warnings"]
    names = {c["name"] for c in rep["checks"]}
    # the whole catalogue ran: core, every partition check, every manifest comparison
    assert names == {n for n, _ in validate.catalogue_names()}
    assert all(c["status"] == "ok" and c["runs"] >= 1 and c["seconds"] >= 0 for c in rep["checks"])
    parts = by_name(rep)["tap_events.device_id_fk"]
    assert parts["runs"] == len(DAYS)  # once per day partition
    tables = rep["tables"]
    for key, t in tables.items():
        assert t["rows"] == t["manifest_rows"] > 0, key
    assert tables["tap_events"]["partitions"] == tables["tap_events"]["manifest_partitions"] == len(DAYS)
    assert rep["event_rows_read"] == sum(tables[k]["rows"] for k in
                                         ("tap_events", "user_sessions", "page_views", "feature_usage"))
    # the runbook's SQL checks agree: 0 orphaned devices, device ids within range, counts per entity
    assert execute(db_env, schema, "SELECT count(*) FROM {s}.app_database_devices d LEFT JOIN "
                                   "{s}.app_database_locations l ON d.location_id = l.id WHERE l.id IS NULL") == 0
    lo, hi, n = (execute(db_env, schema, f"SELECT {a}(id) FROM {{s}}.app_database_devices")
                 for a in ("min", "max", "count"))
    assert lo >= 1 and hi <= 30_000 and n == tables["devices"]["rows"]
    # the readable report prints each check with its time
    capsys.readouterr()
    assert run("validate", *small_loaded) == 0
    out = capsys.readouterr().out
    printed = printed_tables(out)
    assert list(printed) == [f"Tables in schema {schema}", "Checks"]
    assert column(printed[f"Tables in schema {schema}"], "table", "rows") == {
        k: f"{t['rows']:,}" for k, t in tables.items() if t["rows"] is not None}
    # every check on a line of its own (the ones a long "where" wraps onto a second line are the same check)
    shown = {r["check"]: r for r in printed["Checks"] if r["status"]}
    assert set(shown) == names and all(r["status"] == "pass" and r["violations"] == "0" for r in shown.values())
    assert all(float(r["ms"]) >= 0 for r in printed["Checks"] if r["ms"])
    assert out.splitlines()[-1].startswith(f"{len(names)} of {len(names)} checks passed in ")
    assert f"; {rep['event_rows_read']:,} event rows read and checked in " in out.splitlines()[-1]


def _first(url: str, schema: str, query: str) -> int:
    return int(execute(url, schema, query))


# name -> (damage, the check that must fail, the key (or text) it must name); each damage returns that key
Damage = Callable[[str, str], object]


def _delete_location(url: str, s: str) -> object:
    device = _first(url, s, "SELECT min(id) FROM {s}.app_database_devices WHERE location_id = 2")
    execute(url, s, "SET session_replication_role = replica", "DELETE FROM {s}.app_database_locations WHERE id = 2")
    return device


def _event_before_installation(url: str, s: str) -> object:
    tap = _first(url, s, "SELECT min(id) + 100 FROM {s}.app_database_tap_events")
    execute(url, s, "UPDATE {s}.app_database_tap_events e SET timestamp = d.created_at - interval '1 hour' "
                    f"FROM {{s}}.app_database_devices d WHERE d.id = e.device_id AND e.id = {tap}")
    return tap


def _duplicate_id(url: str, s: str) -> object:
    execute(url, s, "ALTER TABLE {s}.app_database_users DROP CONSTRAINT app_database_users_pkey CASCADE",
            "INSERT INTO {s}.app_database_users SELECT * FROM {s}.app_database_users WHERE id = 5")
    return 5


def _change_one_value(url: str, s: str) -> object:
    tap = _first(url, s, "SELECT min(id) + 7 FROM {s}.app_database_tap_events_p20250622")
    execute(url, s, "UPDATE {s}.app_database_tap_events SET metrics = metrics || jsonb_build_object('volume_ml', "
                    f"coalesce((metrics->>'volume_ml')::int, 0) + 1) WHERE id = {tap}")  # the contract layout
    return "app_database_tap_events_p20250622: altered (fingerprint"


def _metrics(change: str, *, well_formed: bool) -> Damage:
    """Edit one tap event's metrics (the contract layout) the way a hand or a bad tool might: a change the typed
    read cannot see is named by the well-formedness check (the row's id), any other by the manifest."""
    def damage(url: str, s: str) -> object:
        tap = _first(url, s, "SELECT min(id) + 3 FROM {s}.app_database_tap_events_p20250621 "
                             "WHERE event_type = 'pour'")
        execute(url, s, f"UPDATE {{s}}.app_database_tap_events SET metrics = {change} WHERE id = {tap}")
        return "app_database_tap_events_p20250621: altered" if well_formed else tap
    return damage


def _drop_one_day(url: str, s: str) -> object:
    execute(url, s, "ALTER TABLE {s}.app_database_tap_events DETACH PARTITION {s}.app_database_tap_events_p20250621",
            "DROP TABLE {s}.app_database_tap_events_p20250621")
    return "app_database_tap_events_p20250621: missing"


def _id_out_of_range(url: str, s: str) -> object:
    execute(url, s, "INSERT INTO {s}.app_database_accounts SELECT 151, name || ' II', email, created_date, "
                    "business_type, location_count, industry, employee_count, annual_revenue, website, status, size, "
                    "created_at, updated_at FROM {s}.app_database_accounts WHERE id = 1")
    return 151


def _second_active_subscription(url: str, s: str) -> object:
    customer = _first(url, s, "SELECT min(customer_id) FROM {s}.app_database_subscriptions WHERE status = 'active'")
    execute(url, s, "INSERT INTO {s}.app_database_subscriptions SELECT (SELECT max(id) + 1 FROM "
                    "{s}.app_database_subscriptions), customer_id, plan_name, 'active', DATE '2025-06-01', NULL, "
                    "monthly_price, billing_cycle, monthly_amount, current_term_start, NULL, created_at, updated_at "
                    f"FROM {{s}}.app_database_subscriptions WHERE customer_id = {customer} AND status = 'active'")
    return customer


DAMAGES: dict[str, tuple[Damage, str]] = {
    "delete a location": (_delete_location, "devices.location_id_fk"),
    "move an event before its device's installation": (_event_before_installation, "tap_events.within_device_life"),
    "duplicate an id": (_duplicate_id, "users.pk_unique"),
    "change one value": (_change_one_value, "tap_events.matches_manifest"),
    "drop one day of events": (_drop_one_day, "tap_events.matches_manifest"),
    "add an id outside its range": (_id_out_of_range, "accounts.ids_in_range"),
    "give an account a second active subscription": (_second_active_subscription,
                                                     "subscriptions.one_live_per_account"),
    "add a key to metrics": (_metrics("metrics || '{{\"keg_id\": 7}}'", well_formed=False),
                             "tap_events.metrics_well_formed"),  # a key the staging model never reads
    "put a JSON null in metrics": (_metrics("metrics || '{{\"temperature_c\": null}}'", well_formed=False),
                                   "tap_events.metrics_well_formed"),
    "put a fraction in the integer volume": (_metrics("metrics || '{{\"volume_ml\": 350.5}}'", well_formed=True),
                                             "tap_events.matches_manifest"),  # read as 351, never an error
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_validate_names_the_check_and_key_then_passes_after_regenerating(
        db_env: str, schema: str, small_loaded: list[str], damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    corrupt, check = DAMAGES[damage]
    key = corrupt(db_env, schema)
    code, rep = report(capsys, *small_loaded)
    assert code == 1
    assert not rep["passed"]
    found = by_name(rep)[check]
    assert found["status"] == "FAIL" and found["violations"] >= 1
    assert any(s == key or (isinstance(key, str) and str(s).startswith(key)) for s in found["sample"]), found
    # the readable report names them too
    capsys.readouterr()
    assert run("validate", *small_loaded) == 1
    out = capsys.readouterr().out
    assert check in out and "FAIL" in out
    # regenerating repairs it
    assert run("generate", *small_loaded, "--yes") == 0
    assert run("generate-events", *small_loaded, "--yes") == 0
    code, rep = report(capsys, *small_loaded)
    assert code == 0, [c for c in rep["checks"] if c["status"] != "ok"]


def test_partition_checks_name_the_partition(db_env: str, schema: str, small_loaded: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    tap = _event_before_installation(db_env, schema)
    day = execute(db_env, schema,
                  f"SELECT tableoid::regclass::text FROM {{s}}.app_database_tap_events WHERE id = {tap}")
    code, rep = report(capsys, *small_loaded, "--checks", "tap_events.*")
    assert code == 1
    found = by_name(rep)["tap_events.within_device_life"]
    assert found["where"] == [day.split(".")[-1].strip('"')]
    # --checks picked only the tap-event checks
    assert all(c["name"].startswith("tap_events.") for c in rep["checks"])


def test_validate_without_a_manifest_warns_and_skips_only_the_comparison(
        db_env: str, schema: str, small_loaded: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAGEN_HOME", str(tmp_path / "elsewhere"))  # no local files either
    execute(db_env, schema, "DROP TABLE {s}._datagen_manifest")  # a schema loaded before manifests moved in
    code, rep = report(capsys, *small_loaded)
    assert code == 0
    assert not rep["manifest_found"] and "has no manifest table" in rep["warnings"][0]
    assert "`just generate` and `just generate-events`" in rep["warnings"][0]  # the hint names the commands
    skipped = {c["name"] for c in rep["checks"] if c["status"] == "skipped"}
    assert skipped == {n for n, _ in validate.catalogue_names() if n.endswith(".matches_manifest")}


def test_validate_counts_only_the_days_it_reads_and_plans_the_range_only_without_a_manifest(
        db_env: str, schema: str, small_loaded: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from datagen import events

    counted: list[tuple[str, str]] = []
    planned: list[tuple[str, ...]] = []
    day_rows, plan = events.Streams.day_rows, events.Streams.plan

    def count_day(self: events.Streams, table: str, day: Any) -> int:
        counted.append((table, day.isoformat()))
        return day_rows(self, table, day)

    def plan_all(self: events.Streams, tables: tuple[str, ...], *a: Any) -> events.Plan:
        planned.append(tables)
        return plan(self, tables, *a)

    monkeypatch.setattr(events.Streams, "day_rows", count_day)
    monkeypatch.setattr(events.Streams, "plan", plan_all)
    code, rep = report(capsys, *small_loaded, "--tables", "tap_events")
    assert code == 0 and planned == []  # the manifest holds every first id: nothing is planned
    assert sorted(counted) == [("tap_events", d) for d in DAYS]  # each day read is counted once, alone
    # the checks still hold the day to it: a day that lost its first row fails ids_continuous
    part = f"{{s}}.app_database_tap_events_p{DAYS[1].replace('-', '')}"
    execute(db_env, schema, f"DELETE FROM {part} WHERE id = (SELECT min(id) FROM {part})")
    code, rep = report(capsys, *small_loaded, "--tables", "tap_events")
    failed = {c["name"] for c in rep["checks"] if c["status"] == "FAIL"}
    assert code == 1 and "tap_events.ids_continuous" in failed
    # a manifest written with another config's digest is not this config's plan: the range is planned
    execute(db_env, schema, "UPDATE {s}._datagen_manifest SET run = jsonb_set(run, '{{config_digest}}', "
                            "'\"0000000000000000\"') WHERE kind = 'run'")
    code, rep = report(capsys, *small_loaded, "--tables", "tap_events")
    assert planned == [("tap_events",)]
    monkeypatch.setenv("DATAGEN_HOME", str(tmp_path / "elsewhere"))
    execute(db_env, schema, "DROP TABLE {s}._datagen_manifest")
    planned.clear()
    code, rep = report(capsys, *small_loaded, "--tables", "tap_events")
    assert planned == [("tap_events",)]  # no manifest: the first ids come from planning the range
    failed = {c["name"] for c in rep["checks"] if c["status"] == "FAIL"}
    assert code == 1 and "tap_events.ids_continuous" in failed


def test_validate_usage_and_connection_errors_exit_2(db_env: str, schema: str, small_loaded: list[str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("validate", *small_loaded, "--checks", "nosuch.*") == 2
    assert "matches no check" in capsys.readouterr().err
    assert run("validate", *small_loaded, "--tables", "tap_event") == 2
    assert "unknown table tap_event" in capsys.readouterr().err
    assert run("validate", *small_loaded, "--manifest", str(tmp_path / "none.json")) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run("validate", "--config", small_loaded[1], "--schema", "t_empty_nothing_here") == 2
    assert "holds no datagen table" in capsys.readouterr().err
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:s3cret-pw@127.0.0.1:1/test")
    assert run("validate", *small_loaded) == 2
    err = capsys.readouterr().err
    assert "cannot connect to PostgreSQL at 127.0.0.1:1/test" in err and "s3cret-pw" not in err


def test_validate_waits_for_a_running_load(db_env: str, schema: str, small_loaded: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    done: list[int] = []
    with psycopg.connect(db_env, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (lock_key(schema),))  # what a load holds
        worker = threading.Thread(target=lambda: done.append(run("validate", *small_loaded, "--json")))
        worker.start()
        time.sleep(1.5)
        assert not done  # blocked behind the load
        holder.execute("SELECT pg_advisory_unlock(%s)", (lock_key(schema),))
        worker.join(timeout=120)
    assert done == [0]
    assert "waited for a load" in capsys.readouterr().err


def test_list_prints_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--list"]) == 0
    out = capsys.readouterr().out
    names = [n for n, _ in validate.catalogue_names()]
    assert len(names) == len(set(names)) == 79 + 40 + 1 + 6 + 10  # core, partition, storage, distribution, manifest
    assert all(n in out for n in names)


def test_a_partition_datagen_did_not_make_is_reported_extra(db_env: str, schema: str, small_loaded: list[str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    execute(db_env, schema, "CREATE TABLE {s}.app_database_tap_events_archive PARTITION OF "
                            "{s}.app_database_tap_events FOR VALUES FROM (9000000) TO (9000001)")
    code, rep = report(capsys, *small_loaded)
    assert code == 1
    found = by_name(rep)["tap_events.matches_manifest"]
    assert found["sample"] == ["app_database_tap_events_archive: extra (not in the manifest)"]
    assert [c["name"] for c in rep["checks"] if c["status"] == "FAIL"] == ["tap_events.matches_manifest"]


def test_a_column_changed_after_the_load_is_an_error_naming_the_table(
        db_env: str, schema: str, small_loaded: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    execute(db_env, schema, "ALTER TABLE {s}.app_database_users ALTER COLUMN is_active TYPE text")
    capsys.readouterr()
    assert run("validate", *small_loaded) == 2
    err = capsys.readouterr().err
    assert f"{schema}.app_database_users does not read back as datagen declares it" in err and "Traceback" not in err
