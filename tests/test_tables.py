"""The DDL rendered from datagen/tables.py creates exactly the declared tables, column by column and key by key;
sql/schema.sql is that rendering, never stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from datagen import ddl
from datagen.catalog import create_event_tables
from datagen.tables import CORE_TABLES, EVENT_TABLES, LAYOUTS, TABLES, TAP_EVENTS_VIEW, ancestors
from tests.fix_db import create_core_tables

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ddl_matches_declarations(db_url: str, schema: str, layout: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        create_core_tables(conn, schema)
        create_event_tables(conn.cursor(), schema, layout)
        for t in CORE_TABLES + EVENT_TABLES:
            cols = conn.execute(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
                "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
                "ORDER BY a.attnum", (schema, t.name)).fetchall()
            assert cols == [(c.name, c.pg_type, not c.nullable) for c in t.stored_columns(layout)], t.key
            cons = conn.execute(
                "SELECT con.conname, con.contype, pg_get_constraintdef(con.oid) FROM pg_constraint con "
                "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s AND con.contype IN ('p', 'f') AND con.conparentid = 0 "
                "ORDER BY con.conname",
                (schema, t.name)).fetchall()
            want = {(t.pk_constraint(), "p", f"PRIMARY KEY ({t.primary_key})")}
            for fk in t.foreign_keys:
                parent = TABLES[fk.parent]
                want.add((t.fk_constraint(fk), "f",
                          f"FOREIGN KEY ({fk.column}) REFERENCES {schema}.{parent.name}({fk.parent_column})"))
            assert set(cons) == want, t.key
        view = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".{TAP_EVENTS_VIEW}',)).fetchone()
        assert (view is not None and view[0] is not None) == (layout == "typed")  # the view is the typed layout's


def test_the_checked_in_ddl_is_the_rendered_ddl() -> None:
    text = (ROOT / ddl.DDL_FILE).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("-- Generated from datagen/tables.py by `just ddl --write`")
    assert text == ddl.script(), f"{ddl.DDL_FILE} is stale: run `just ddl --write`"
    for t in CORE_TABLES + EVENT_TABLES:  # every table, key and comment is in it
        assert f'CREATE TABLE IF NOT EXISTS "raw"."{t.name}"' in text
        assert f'"{t.pk_constraint()}" PRIMARY KEY ("{t.primary_key}")' in text
        assert all(f'"{t.fk_constraint(fk)}" FOREIGN KEY ("{fk.column}")' in text for fk in t.foreign_keys)
        assert f"COMMENT ON TABLE \"raw\".\"{t.name}\" IS '{ddl.owner_comment(t)}';" in text
    assert sorted(p.name for p in (ROOT / "sql").iterdir()) == ["schema.sql"]  # nothing else is kept by hand


def test_the_ddl_command_prints_and_writes_the_file(tmp_path: Path) -> None:
    printed = subprocess.run([sys.executable, "-m", "datagen", "ddl", "--schema", "analytics"], capture_output=True,
                             text=True, check=True, cwd=ROOT).stdout
    assert printed == ddl.script("analytics") and '"analytics"."app_database_accounts"' in printed
    out = tmp_path / "schema.sql"
    done = subprocess.run([sys.executable, "-m", "datagen", "ddl", "--write", "--out", str(out)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == (ROOT / ddl.DDL_FILE).read_text(encoding="utf-8")
    (tmp_path / "a-file").write_text("")
    bad = tmp_path / "a-file" / "schema.sql"  # its folder is a file: cannot be written
    done = subprocess.run([sys.executable, "-m", "datagen", "ddl", "--out", str(bad)], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 2 and f"cannot write {bad}" in done.stderr and "Traceback" not in done.stderr


def test_the_rendered_ddl_runs_as_one_script(db_url: str, schema: str) -> None:
    """A DBA can run sql/schema.sql (for another schema) as it is: every table, key and comment."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(ddl.script(schema).encode())
        rows = conn.execute(
            "SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1",
            (schema,)).fetchall()
    assert rows == sorted((t.name, "p" if t.partitioned else "r", ddl.owner_comment(t))
                          for t in CORE_TABLES + EVENT_TABLES)


def test_the_layouts_differ_only_in_the_packed_columns() -> None:
    t = TABLES["tap_events"]
    assert t.packed is not None
    contract, typed = t.stored_columns("contract"), t.stored_columns("typed")
    assert typed == t.columns
    packed = {k for k, _ in t.packed.keys}
    assert [c.name for c in contract] == ["id", "device_id", "location_id", "timestamp", "event_type", "status",
                                          "metrics", "device_category", "created_at"]  # the legacy column order
    assert [c for c in typed if c.name not in packed] == [c for c in contract if c.name != "metrics"]
    assert {c.name for c in typed} - {c.name for c in contract} == packed == {
        "volume_ml", "temperature_c", "pressure_psi", "flow_rate_ml_per_sec", "duration_seconds"}
    for other in TABLES.values():
        if other.packed is None:
            assert other.stored_columns("contract") == other.stored_columns("typed") == other.columns


def test_every_staging_column_is_declared() -> None:
    # the columns the dbt staging models read (reference raw-tables.md §2-6, column S)
    staging = {
        "accounts": "id name email business_type location_count created_at updated_at",
        "locations": "id customer_id name address city state zip_code country location_type business_type size "
                     "expected_device_count install_date created_at updated_at",
        "users": "id customer_id first_name last_name email role created_date last_login_date created_at updated_at",
        "devices": "id location_id device_type category manufacturer model serial_number install_date "
                   "warranty_expiry purchase_price firmware_version ip_address mac_address status usage_pattern "
                   "expected_lifespan_years energy_consumption_watts network_connectivity created_at updated_at",
        "subscriptions": "id customer_id plan_name status start_date end_date monthly_price billing_cycle "
                         "created_at updated_at",
    }
    for key, cols in staging.items():
        missing = set(cols.split()) - set(TABLES[key].column_names)
        assert not missing, (key, missing)


def test_every_staging_event_column_is_declared() -> None:
    # reference raw-tables.md §7-10, column S, in the default (contract) layout: tap events store `metrics`
    staging = {
        "tap_events": "id device_id location_id timestamp event_type status metrics device_category created_at",
        "user_sessions": "session_id user_id customer_id start_time end_time duration_seconds page_views "
                         "actions_taken device_type browser created_at",
        "page_views": "page_view_id session_id user_id customer_id page_url page_title timestamp "
                      "time_on_page_seconds referrer_url created_at",
        "feature_usage": "usage_id user_id customer_id feature_name usage_count timestamp created_at",
    }
    for key, cols in staging.items():
        assert not set(cols.split()) - {c.name for c in TABLES[key].stored_columns()}, key


def test_day_of_inverts_partition_name() -> None:
    import datetime as dt

    from datagen.tables import TABLES
    t = TABLES["tap_events"]
    day = dt.date(2025, 6, 24)
    assert t.day_of(t.partition_name(day)) == day
    for name in ("app_database_tap_events_archive", "app_database_tap_events_p20251399", t.staging_name(day),
                 TABLES["page_views"].partition_name(day), "app_database_tap_events_p2025062"):
        assert t.day_of(name) is None, name


def test_ancestors_are_the_core_tables_events_depend_on_in_load_order() -> None:
    # generate-events compares exactly these with the config's frames before loading
    assert [t.key for t in ancestors({"tap_events"})] == ["accounts", "locations", "devices"]
    assert [t.key for t in ancestors({"user_sessions"})] == ["accounts", "users"]
    every = [t.key for t in ancestors({t.key for t in EVENT_TABLES})]
    assert every == [t.key for t in CORE_TABLES if t.key in every]  # load order
    assert "subscriptions" not in every and "device_maintenance_logs" not in every  # no event reads them
