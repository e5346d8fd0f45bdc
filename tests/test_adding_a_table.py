"""Adding a table takes its config section, one declaration, one builder and its rules: nothing else.

A toy table, tap cleanings (a cleaning visit per device), is declared and registered in a fresh interpreter
before the stages are imported, its id range added to a config, and `generate` and `validate` run end to end:
the DDL, the COPY column order, the keys, the foreign-key checks, read-back and the manifest all follow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from tests.fix_db import small_config

ROOT = Path(__file__).resolve().parent.parent

TOY = textwrap.dedent('''
    import sys
    from collections.abc import Mapping

    import numpy as np
    import polars as pl

    from datagen import tables
    from datagen.tables import I32, TS, ForeignKey, Table, _c, _vc

    # 1. one declaration, after its parents
    TOY = Table(
        key="tap_cleanings", doc="A cleaning visit to a device's lines.",
        columns=(_c("id", I32, "integer", False), _c("device_id", I32, "integer", False),
                 _c("location_id", I32, "integer", False), _vc("cleaner", 100),
                 _c("created_at", TS, "timestamp without time zone", False)),
        primary_key="id",
        foreign_keys=(ForeignKey("device_id", "devices"), ForeignKey("location_id", "locations")),
        copies=(("location_id", "device_id", "location_id"),),
        id_range_key="tap_cleanings", reads=("seed", "time_range.end_date", "id_ranges.tap_cleanings"))
    tables.CORE_TABLES = (*tables.CORE_TABLES, TOY)
    tables.TABLES[TOY.key] = TOY

    # 2. one builder under the core protocol, registered
    from datagen import builders
    from datagen.builders._common import allocate_ids

    def build(cfg, parents: Mapping[str, pl.DataFrame], rng: np.random.Generator) -> pl.DataFrame:
        devices = parents["devices"]
        return pl.DataFrame({
            "id": allocate_ids(cfg, "tap_cleanings", devices.height),
            "device_id": devices["id"], "location_id": devices["location_id"],
            "cleaner": rng.choice(["Ana", "Bo", "Cy"], devices.height),
            "created_at": devices["created_at"]})

    builders.CORE[TOY.key] = builders.CoreBuilder(build)

    from datagen.cli import main
    sys.exit(main(sys.argv[1:]))
''')


def _toy(args: list[str], url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-c", TOY, *args, "--no-progress"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_a_toy_table_from_its_declaration_alone(db_url: str, schema: str, config_dict: dict[str, Any],
                                                 tmp_path: Path) -> None:
    path = small_config(config_dict, tmp_path / "toy.yaml")
    raw = yaml.safe_load(path.read_text())
    raw["id_ranges"]["tap_cleanings"] = [1, 100_000]  # 3. its config section: the id range
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    args = ["--config", str(path), "--schema", schema]

    done = _toy(["generate", *args, "--yes"], db_url)
    assert done.returncode == 0, done.stderr
    s = sql.Identifier(schema)
    with psycopg.connect(db_url, autocommit=True) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = 'app_database_tap_cleanings' ORDER BY ordinal_position", (schema,)).fetchall()
        keys = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype IN ('p', 'f') ORDER BY 1",  # PostgreSQL 18 lists NOT NULL constraints here too
            (f'"{schema}".app_database_tap_cleanings',)).fetchall()
        rows, devices = (conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(s, sql.Identifier(name))).fetchone()
                         for name in ("app_database_tap_cleanings", "app_database_devices"))
        manifest = conn.execute(sql.SQL("SELECT rows, fingerprint FROM {}._datagen_manifest WHERE table_key = %s "
                                        "AND kind = 'table'").format(s), ("tap_cleanings",)).fetchone()
    assert columns == [("id", "integer", "NO"), ("device_id", "integer", "NO"), ("location_id", "integer", "NO"),
                       ("cleaner", "character varying", "YES"), ("created_at", "timestamp without time zone", "NO")]
    assert keys == [
        ("app_database_tap_cleanings_device_id_fkey",
         f"FOREIGN KEY (device_id) REFERENCES {schema}.app_database_devices(id)"),
        ("app_database_tap_cleanings_location_id_fkey",
         f"FOREIGN KEY (location_id) REFERENCES {schema}.app_database_locations(id)"),
        ("app_database_tap_cleanings_pkey", "PRIMARY KEY (id)")]
    assert rows == devices and rows is not None and rows[0] > 0
    assert manifest is not None and manifest[0] == rows[0] and manifest[1].startswith(f"{rows[0]}:")

    done = _toy(["validate", *args, "--json", "--tables", "tap_cleanings"], db_url)
    assert done.returncode == 0, done.stderr
    checks = {c["name"]: c["status"] for c in json.loads(done.stdout)["checks"]}
    declared = {"tap_cleanings.pk_unique", "tap_cleanings.ids_in_range", "tap_cleanings.device_id_fk",
                "tap_cleanings.location_id_fk", "tap_cleanings.location_id_matches_devices",
                "tap_cleanings.matches_manifest"}
    assert declared <= set(checks) and {checks[n] for n in declared} == {"ok"}, checks

    # the declared copy check reads it back and catches a row that disagrees with its device
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER TABLE {}.app_database_tap_cleanings DROP CONSTRAINT "
                             "app_database_tap_cleanings_location_id_fkey").format(s))
        conn.execute(sql.SQL("UPDATE {}.app_database_tap_cleanings SET location_id = location_id + 1 "
                             "WHERE id = (SELECT min(id) FROM {}.app_database_tap_cleanings)").format(s, s))
    done = _toy(["validate", *args, "--json", "--tables", "tap_cleanings"], db_url)
    checks = {c["name"]: c["status"] for c in json.loads(done.stdout)["checks"]}
    assert done.returncode == 1
    assert checks["tap_cleanings.location_id_matches_devices"] == "FAIL"
    assert checks["tap_cleanings.matches_manifest"] == "FAIL"
