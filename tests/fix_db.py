"""Shared fixtures: a real PostgreSQL (TEST_DATABASE_URL or the embedded server) and a fresh schema per test."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
import yaml
from hypothesis import HealthCheck, settings
from psycopg import sql

from datagen import ddl, embedded
from datagen.config import DEFAULT_CONFIG, Config, load_config
from datagen.events import Plan, Streams
from datagen.generate import Generated, generate
from datagen.manifest import combine, fingerprint
from datagen.tables import CORE_TABLES, TABLES, Column

settings.register_profile("ci", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def db_url() -> str:
    """The test server: TEST_DATABASE_URL (CI sets it) or the embedded server."""
    return os.environ.get("TEST_DATABASE_URL") or embedded.ensure_server()


@pytest.fixture
def schema(db_url: str) -> Iterator[str]:
    """A fresh, empty schema name; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def db_env(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> str:
    """Environment for running the CLI in-process against the test server."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DATAGEN_HOME", str(tmp_path / "home"))
    return db_url


@pytest.fixture(scope="session")
def cfg() -> Config:
    return load_config()


@pytest.fixture(scope="session")
def default_gen(cfg: Config) -> Generated:
    return generate(cfg)


def shipped_config() -> dict[str, Any]:
    """config/tapflow.yaml as parsed YAML (a fresh dict each call)."""
    with open(DEFAULT_CONFIG, encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


DELETE = object()  # set_key's value that removes the key


def set_key(config: dict[str, Any], key: str, value: Any) -> None:
    """Set (or, with DELETE, remove) a dotted key such as accounts.sizes.small.share in a parsed config."""
    *parents, last = key.split(".")
    node = config
    for p in parents:
        node = node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


def get_key(config: dict[str, Any], key: str) -> Any:
    """The value at a dotted key; the empty key is the whole config."""
    node: Any = config
    for p in key.split(".") if key else ():
        node = node[p]
    return node


def built_event_fingerprints(streams: Streams, plan: Plan) -> dict[str, str]:
    """Each planned event table's fingerprint over the plan's window, built in memory (as the manifest combines
    its partitions' fingerprints)."""
    return {t: combine([fingerprint(streams.build_conformed(p), t) for p in parts]) for t, parts in plan.parts.items()}


@pytest.fixture(scope="session")
def raw_config() -> dict[str, Any]:
    return shipped_config()


@pytest.fixture
def config_dict(raw_config: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of the shipped config, free to mutate."""
    return copy.deepcopy(raw_config)


def read_table(url: str, schema: str, key: str) -> pl.DataFrame:
    """A loaded table read back into Polars with the declared dtypes."""
    t = TABLES[key]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        stored = {str(r[0]) for r in cur.execute(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0",
            (schema, t.name)).fetchall()}
        packed = dict(t.packed.keys) if t.packed is not None and t.packed.column in stored else {}

        def column(c: Column) -> sql.Composable:  # the contract layout's keys, typed on the server
            if c.name not in packed:
                return sql.Identifier(c.name)
            assert t.packed is not None
            return sql.SQL("({}->>{})::{} AS {}").format(sql.Identifier(t.packed.column), sql.Literal(c.name),
                                                         sql.SQL(c.pg_type), sql.Identifier(c.name))

        cur.execute(sql.SQL("SELECT {} FROM {}.{} ORDER BY {}").format(
            sql.SQL(", ").join(column(c) for c in t.columns), sql.Identifier(schema),
            sql.Identifier(t.name), sql.Identifier(t.primary_key)))
        rows = cur.fetchall()
    return pl.DataFrame(rows, schema=t.polars_schema, orient="row")


def create_core_tables(conn: psycopg.Connection[Any], schema: str) -> None:
    """The schema and its core tables with their keys, as a load leaves them (no rows)."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    for t in CORE_TABLES:
        conn.execute(ddl.create_table(t, schema))
    for t in CORE_TABLES:
        conn.execute(ddl.add_primary_key(t, schema))
    for t in CORE_TABLES:
        for fk in t.foreign_keys:
            conn.execute(ddl.add_foreign_key(t, fk, schema))


def table_exists(url: str, schema: str, key: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".{TABLES[key].name}',)).fetchone()
    return row is not None and row[0] is not None


def kill_during_copy(url: str, args: list[str], *, pause: str, copying: str) -> None:
    """Run `python -m datagen ARGS` with DATAGEN_TEST_PAUSE_IN_COPY=pause, kill -9 it once a COPY whose text
    starts with `copying` is running, and wait until the server has rolled its backends back."""
    env = {**os.environ, "DATABASE_URL": url, "DATAGEN_TEST_PAUSE_IN_COPY": pause}
    proc = subprocess.Popen([sys.executable, "-m", "datagen", *args, "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, seen = time.monotonic() + 60, False
        with psycopg.connect(url, autocommit=True) as conn:
            while time.monotonic() < deadline and not seen:
                row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'datagen' "
                                   "AND query LIKE %s", (copying + "%",)).fetchone()
                seen = bool(row and row[0])
                time.sleep(0.05)
        assert seen, f"the loader never reached {copying}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(100):
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'datagen'").fetchone() \
                    == (0,):
                break
            time.sleep(0.1)


DAYS = ("2025-06-20", "2025-06-21", "2025-06-22", "2025-06-23")  # Friday to Monday: weekdays and a weekend


def small_config(config_dict: dict[str, Any], path: Path, **changes: Any) -> Path:
    """The shipped config with 12 accounts and a four-day event range: thousands of events a day, not millions."""
    config_dict["accounts"]["total"] = 12
    config_dict["events"]["range"] = {"start_date": DAYS[0], "end_date": DAYS[-1]}
    for key, value in changes.items():
        set_key(config_dict, key, value)
    path.write_text(yaml.safe_dump(config_dict, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def small(config_dict: dict[str, Any], tmp_path: Path) -> Path:
    return small_config(config_dict, tmp_path / "small.yaml")


@pytest.fixture
def small_loaded(db_env: str, schema: str, small: Path) -> list[str]:
    """Core and events of the small config loaded into a fresh schema; the CLI arguments that name them."""
    from datagen.cli import main

    args = ["--config", str(small), "--schema", schema]
    assert main(["generate", *args, "--yes", "--no-progress"]) == 0
    assert main(["generate-events", *args, "--yes", "--no-progress"]) == 0
    return args


def parquet_files(root: Path) -> dict[str, str]:
    """Every data file of a Parquet dataset (relative path -> sha256), the manifest left out."""
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.parquet"))}


def db_manifest(url: str, schema: str) -> dict[str, Any]:
    """The manifest recorded in the schema's manifest table (the JSON export's shape)."""
    from datagen import manifest_store

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        manifest = manifest_store.read(cur, schema)
    assert manifest is not None, f"schema {schema} has no manifest table"
    return manifest


def printed_tables(out: str) -> dict[str, list[dict[str, str]]]:
    """The rich tables in a command's output, by the title line printed before each: rows as {header: cell}.

    A row whose first cell is empty continues the group above it (as the Distributions table prints), so it
    keeps that cell from the row before. A cell too wide for its column wraps onto such a row too, so callers
    key on cells that do not wrap at the report's width of 120 (or skip rows without a status, as validate's)."""
    tables: dict[str, list[dict[str, str]]] = {}
    title, header, rows = "", list[str](), list[dict[str, str]]()
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("┏"):
            title, header, rows = lines[i - 1].strip(), [], []
            tables[title] = rows
        elif line.startswith("┃"):
            header = [c.strip() for c in line.strip("┃").split("┃")]
        elif line.startswith("│") and header:
            cells = [c.strip() for c in line.strip("│").split("│")]
            if not cells[0] and rows:
                cells[0] = rows[-1][header[0]]
            rows.append(dict(zip(header, cells, strict=True)))
    return tables


def column(rows: list[dict[str, str]], key: str, value: str) -> dict[str, str]:
    """{the key column's cell: the value column's cell}, one per row; a key printed twice (a duplicated or a
    wrapped row) fails rather than hiding a row."""
    keys = [r[key] for r in rows]
    assert len(set(keys)) == len(keys), f"{key} repeats in the printed table: {keys}"
    return {r[key]: r[value] for r in rows}
