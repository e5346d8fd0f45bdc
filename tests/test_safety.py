"""Safety under faults and bad input, on a real PostgreSQL: kill -9 at seeded moments, connection loss,
concurrent runs, statement timeouts, ownership of tables, hostile configs, arguments and URLs, no secrets."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from psycopg import sql

from datagen import readback
from datagen.catalog import lock_key
from datagen.cli import main
from datagen.config import load_config
from datagen.db import Target, load_failed
from datagen.generate import generate
from datagen.manifest import fingerprint
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES
from tests.fix_db import db_manifest, small_config, table_exists

TRIALS = 10  # kill moments per command
LOAD_PHASES = ("COPY", "keys and swap", "DDL")  # a statement of the load was running when the kill landed
ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> int:
    return main([*args, "--no-progress"])


def prints(url: str, schema: str, tables: tuple[Any, ...]) -> dict[str, str]:
    """Fingerprints of the tables that exist (read back as validate reads them: fast enough for 20 trials)."""
    with readback.connect(Target(url, "test")) as conn:
        return {t.key: fingerprint(readback.read(conn, schema, t), t.key) for t in tables
                if table_exists(url, schema, t.key)}


def recorded(url: str, schema: str, tables: tuple[Any, ...]) -> dict[str, str]:
    """The fingerprints the schema's manifest table records for those tables."""
    m = db_manifest(url, schema)
    return {t.key: (m["events"] if t.partitioned else m["tables"])[t.key]["fingerprint"] for t in tables
            if t.key in (m["events"] if t.partitioned else m["tables"])}


def _datagen_backends(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[str, str]]:
    return [(str(s), str(q)) for s, q in conn.execute(
        "SELECT state, query FROM pg_stat_activity WHERE application_name = 'datagen' AND pid <> pg_backend_pid()"
    ).fetchall()]


def _phase(query: str) -> str:
    q = query.lstrip().upper()
    for word, phase in (("COPY", "COPY"), ("ALTER TABLE", "keys and swap"), ("CREATE", "DDL"), ("TRUNCATE", "DDL"),
                        ("DROP", "DDL"), ("COMMENT", "DDL")):
        if q.startswith(word):
            return phase
    return "other"


def kill_after(url: str, args: list[str], delay: float | None) -> tuple[str, float]:
    """Run `python -m datagen ARGS`; once it has a connection, wait `delay` s and kill -9 it (None: let it
    finish). Returns the phase its busiest backend was in at the kill, and the seconds it was connected."""
    env = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.Popen([sys.executable, "-m", "datagen", *args, "--no-progress"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    phase, connected = "not connected", 0.0
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 120
        while proc.poll() is None and not _datagen_backends(conn) and time.monotonic() < deadline:
            time.sleep(0.005)
        t0 = time.perf_counter()
        if delay is None:
            proc.wait(timeout=300)
            return "finished", time.perf_counter() - t0
        while proc.poll() is None and time.perf_counter() - t0 < delay:
            time.sleep(0.005)
        busy = [q for s, q in _datagen_backends(conn) if s == "active"]
        phase = _phase(busy[0]) if busy else ("finished" if proc.poll() is not None else "idle")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        connected = time.perf_counter() - t0
        for _ in range(200):  # the server rolls the dead backends back
            if not _datagen_backends(conn):
                break
            time.sleep(0.05)
    return phase, connected


def moments(seed: int, span: float) -> list[float]:
    """TRIALS seeded moments, one in each tenth of the span (so every phase longer than a tenth is hit)."""
    rng = random.Random(seed)
    return [(i + rng.random()) / TRIALS * span for i in range(TRIALS)]


@pytest.fixture
def full_configs(raw_config: dict[str, Any], tmp_path: Path) -> tuple[Path, Path]:
    """The shipped config and the same with another seed: a COPY long enough to be hit."""
    a, b = tmp_path / "full_a.yaml", tmp_path / "full_b.yaml"
    a.write_text(yaml.safe_dump(raw_config, sort_keys=False), encoding="utf-8")
    b.write_text(yaml.safe_dump({**raw_config, "seed": 7}, sort_keys=False), encoding="utf-8")
    return a, b


@pytest.fixture
def two_configs(config_dict: dict[str, Any], tmp_path: Path) -> tuple[Path, Path]:
    a = small_config(config_dict, tmp_path / "a.yaml")
    b = small_config(config_dict, tmp_path / "b.yaml", seed=7,
                     **{"events.tap_events.per_device_per_day.bar.max": 500})
    return a, b


def test_generate_killed_at_seeded_moments_leaves_old_or_new_never_a_mix(
        db_env: str, schema: str, full_configs: tuple[Path, Path]) -> None:
    a, b = full_configs
    want = {p: {k: fingerprint(f, k) for k, f in generate(load_config(p)).frames.items()} for p in (a, b)}
    assert run("generate", "--config", str(a), "--schema", schema, "--yes") == 0
    _, span = kill_after(db_env, ["generate", "--config", str(a), "--schema", schema, "--yes"], None)
    current, phases = a, []
    for i, moment in enumerate(moments(20261125, span)):
        target = b if current == a else a
        phase, _ = kill_after(db_env, ["generate", "--config", str(target), "--schema", schema, "--yes"], moment)
        phases.append(phase)
        got = prints(db_env, schema, CORE_TABLES)
        assert got in (want[current], want[target]), (i, phase)  # every table old, or every table new
        assert recorded(db_env, schema, CORE_TABLES) == got, (i, phase)  # and the manifest says exactly that
        current = current if got == want[current] else target
    assert sum(p in LOAD_PHASES for p in phases) >= 2, phases  # the moments hit the load itself, not just startup
    assert run("generate", "--config", str(b), "--schema", schema, "--yes") == 0
    assert prints(db_env, schema, CORE_TABLES) == want[b]


def test_generate_events_killed_at_seeded_moments_leaves_old_or_new_never_a_mix(
        db_env: str, schema: str, small: Path, config_dict: dict[str, Any], tmp_path: Path) -> None:
    a = small
    busier = small_config(config_dict, tmp_path / "busier.yaml",
                          **{"events.tap_events.per_device_per_day.bar.max": 500})
    args = {p: ["generate-events", "--config", str(p), "--schema", schema, "--yes"] for p in (a, busier)}
    assert run("generate", "--config", str(a), "--schema", schema, "--yes") == 0
    assert run(*args[busier]) == 0
    want = {busier: prints(db_env, schema, EVENT_TABLES)}
    _, span = kill_after(db_env, args[a], None)
    want[a] = prints(db_env, schema, EVENT_TABLES)
    assert want[a] != want[busier]
    current, phases = a, []
    for i, moment in enumerate(moments(20261126, span)):
        target = busier if current == a else a
        phase, _ = kill_after(db_env, args[target], moment)
        phases.append(phase)
        got = prints(db_env, schema, EVENT_TABLES)
        assert got in (want[current], want[target]), (i, phase)
        assert recorded(db_env, schema, EVENT_TABLES) == got, (i, phase)
        current = current if got == want[current] else target
    assert sum(p in LOAD_PHASES for p in phases) >= 2, phases
    assert run(*args[busier]) == 0  # the re-run cleans up what the dead runs staged and completes
    assert prints(db_env, schema, EVENT_TABLES) == want[busier]
    with psycopg.connect(db_env) as conn:
        left = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = %s AND c.relname LIKE %s", (schema, "%\\_load")).fetchone()
    assert left == (0,)


def _terminate_during_copy(url: str, args: list[str], pause: str, copying: str) -> tuple[int, str]:
    """Pause the run inside a COPY, terminate its backend (a dropped connection), return exit code and stderr."""
    env = {**os.environ, "DATABASE_URL": url, "DATAGEN_TEST_PAUSE_IN_COPY": pause}
    proc = subprocess.Popen([sys.executable, "-m", "datagen", *args, "--no-progress"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'datagen' "
                               "AND query LIKE %s", (copying + "%",)).fetchone()
            if row:
                conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                break
            time.sleep(0.02)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def test_a_dropped_connection_mid_copy_fails_clearly_and_changes_nothing(
        db_env: str, schema: str, two_configs: tuple[Path, Path]) -> None:
    a, b = two_configs
    assert run("generate", "--config", str(a), "--schema", schema, "--yes") == 0
    assert run("generate-events", "--config", str(a), "--schema", schema, "--yes") == 0
    before = prints(db_env, schema, CORE_TABLES + EVENT_TABLES)
    code, err = _terminate_during_copy(db_env, ["generate", "--config", str(b), "--schema", schema, "--yes"],
                                       "devices:3", f'COPY "{schema}"."app_database_devices"')
    assert code == 2 and "lost the connection" in err and "previous data is intact" in err and "Traceback" not in err
    assert prints(db_env, schema, CORE_TABLES + EVENT_TABLES) == before
    code, err = _terminate_during_copy(db_env, ["generate-events", "--config", str(a), "--schema", schema, "--yes"],
                                       "tap_events:3", f'COPY "{schema}"."app_database_tap_events_p')
    assert code == 2 and "Traceback" not in err and "lost the connection" in err and "data is intact" in err, err
    assert prints(db_env, schema, CORE_TABLES + EVENT_TABLES) == before
    assert run("generate-events", "--config", str(a), "--schema", schema, "--yes") == 0  # the re-run succeeds
    assert prints(db_env, schema, CORE_TABLES + EVENT_TABLES) == before


def test_two_runs_at_once_queue_and_never_interleave(db_env: str, schema: str,
                                                     two_configs: tuple[Path, Path]) -> None:
    a, b = two_configs
    want_b = {k: fingerprint(f, k) for k, f in generate(load_config(b)).frames.items()}
    assert run("generate", "--config", str(a), "--schema", schema, "--yes") == 0
    env = {**os.environ, "DATABASE_URL": db_env}
    slow = subprocess.Popen([sys.executable, "-m", "datagen", "generate", "--config", str(a), "--schema", schema,
                             "--yes", "--no-progress"], env={**env, "DATAGEN_TEST_PAUSE_IN_COPY": "devices:4"},
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with psycopg.connect(db_env, autocommit=True) as conn:
        deadline = time.monotonic() + 120
        # this schema's COPY and lock waits only: another suite may be loading into the same server
        while not any(q.startswith(f'COPY "{schema}".') for _, q in _datagen_backends(conn)):
            assert time.monotonic() < deadline and slow.poll() is None, "the first run never reached its COPY"
            time.sleep(0.02)
        second = subprocess.Popen([sys.executable, "-m", "datagen", "generate", "--config", str(b), "--schema",
                                   schema, "--yes", "--no-progress"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        waited = False
        for _ in range(200):
            row = conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE NOT l.granted AND a.application_name = 'datagen' AND ((l.locktype = 'advisory' "
                "AND (l.classid::bigint << 32 | l.objid::bigint) = %s) OR "
                "l.relation IN (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s))", (lock_key(schema), schema)).fetchone()
            waited = waited or bool(row and row[0])
            if waited or second.poll() is not None:
                break
            time.sleep(0.05)
    assert slow.wait(timeout=120) == 0 and second.wait(timeout=120) == 0
    assert waited  # the second run queued on the schema's advisory lock while the first held it
    assert prints(db_env, schema, CORE_TABLES) == want_b  # the second committed last: all of it, nothing of the first


@pytest.mark.parametrize(("error", "lost"), [
    (psycopg.OperationalError("server closed the connection unexpectedly"), True),  # no SQLSTATE: no answer
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
    (psycopg.errors.ConnectionFailure("connection failure"), True),
    (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
    (psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"), False),
    (psycopg.errors.DeadlockDetected("deadlock detected"), False),
    (psycopg.errors.DiskFull("could not extend file"), False),
])
def test_a_failed_load_names_a_lost_connection_apart_from_a_refusal(error: psycopg.Error, lost: bool) -> None:
    msg = str(load_failed(error, Target("postgresql://u:secret@db.example:5433/x", "DATABASE_URL")))
    assert str(error) in msg and "secret" not in msg
    if lost:
        assert "lost the connection to db.example:5433/x" in msg and "previous data is intact" in msg
    else:
        assert msg.startswith("PostgreSQL refused the load; nothing was changed")


def test_a_statement_timeout_fails_clearly_and_changes_nothing(
        db_env: str, schema: str, two_configs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    a, b = two_configs
    assert run("generate", "--config", str(a), "--schema", schema, "--yes") == 0
    before = prints(db_env, schema, CORE_TABLES)
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=1")
    capsys.readouterr()
    assert run("generate", "--config", str(b), "--schema", schema, "--yes") == 2
    err = capsys.readouterr().err
    # with a 1 ms timeout PostgreSQL sometimes reports the cancel as "due to user request" (the timeout
    # fired as the statement ended): either way the cancel is named
    assert "canceling statement due to" in err and "nothing was changed" in err and "Traceback" not in err
    monkeypatch.delenv("PGOPTIONS")
    assert prints(db_env, schema, CORE_TABLES) == before


# -- ownership ---------------------------------------------------------------------------------------------
def test_a_same_named_table_datagen_did_not_create_is_refused_unless_adopted(
        db_env: str, schema: str, small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("generate", "--config", str(small), "--schema", schema, "--yes") == 0
    with psycopg.connect(db_env, autocommit=True) as conn:
        s = sql.Identifier(schema)
        conn.execute(sql.SQL("COMMENT ON TABLE {}.app_database_users IS 'the CRM sync owns this'").format(s))
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}.app_database_users").format(s)).fetchone()
    before = prints(db_env, schema, CORE_TABLES)
    capsys.readouterr()
    assert run("generate", "--config", str(small), "--schema", schema, "--yes") == 2
    err = capsys.readouterr().err
    assert f"{schema}.app_database_users was not created by datagen" in err and "--adopt" in err
    assert prints(db_env, schema, CORE_TABLES) == before
    with psycopg.connect(db_env) as conn:
        assert conn.execute(sql.SQL("SELECT count(*) FROM {}.app_database_users").format(
            sql.Identifier(schema))).fetchone() == rows
    assert run("generate", "--config", str(small), "--schema", schema, "--yes", "--adopt") == 0
    assert run("generate", "--config", str(small), "--schema", schema, "--yes") == 0  # ours now


def test_a_partition_datagen_did_not_make_is_never_dropped(db_env: str, schema: str, small: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(small), "--schema", schema, "--yes"]
    assert run("generate", *args) == 0
    assert run("generate-events", *args) == 0
    with psycopg.connect(db_env, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {s}.archive PARTITION OF {s}.app_database_tap_events "
                             "FOR VALUES FROM (9000000) TO (9000001)").format(s=sql.Identifier(schema)))
    capsys.readouterr()
    assert run("generate-events", *args) == 2
    assert "partition" in capsys.readouterr().err
    assert run("generate", *args) == 2  # emptying the event tables would drop it too
    assert f"partition {schema}.archive of app_database_tap_events was not made by datagen" in \
        capsys.readouterr().err
    with psycopg.connect(db_env) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f'"{schema}".archive',)).fetchone() != (None,)


def test_datagen_never_touches_another_schema(db_env: str, schema: str, small: Path) -> None:
    other = f"t_{uuid.uuid4().hex[:12]}"
    try:
        assert run("generate", "--config", str(small), "--schema", other, "--yes") == 0
        before = prints(db_env, other, CORE_TABLES)
        assert run("generate", "--config", str(small), "--schema", schema, "--yes") == 0
        assert run("generate-events", "--config", str(small), "--schema", schema, "--yes") == 0
        assert run("generate", "--config", str(small), "--schema", schema, "--only", "devices", "--yes") == 0
        assert prints(db_env, other, CORE_TABLES) == before
        assert not any(table_exists(db_env, other, t.key) for t in EVENT_TABLES)
    finally:
        with psycopg.connect(db_env, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(other)))


# -- secrets -----------------------------------------------------------------------------------------------
SECRET = "Sup3r-s3cret-pw"


def test_passwords_never_appear_in_output_errors_or_manifests(
        db_env: str, schema: str, small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    parts = psycopg.conninfo.conninfo_to_dict(db_env)
    host, port, db = parts.get("host", "127.0.0.1"), parts.get("port", "5432"), parts.get("dbname", "test")
    user = parts.get("user", "postgres")
    # a server that accepts us (trust auth ignores the password): a full run, then a refused one
    url = (f"postgresql://{user}:{SECRET}@/{db}?host={host}&port={port}" if str(host).startswith("/")
           else f"postgresql://{user}:{SECRET}@{host}:{port}/{db}")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PGPASSWORD", SECRET + "-env")
    outputs = []
    for args in (["generate", "--config", str(small), "--schema", schema, "--yes"],
                 ["generate-events", "--config", str(small), "--schema", schema, "--yes"],
                 ["validate", "--config", str(small), "--schema", schema],
                 ["generate-events", "--config", str(small), "--schema", schema, "--start", "2030-01-01"],
                 ["generate", "--config", str(small), "--schema", schema]):  # no --yes, no terminal: refused
        main([*args, "--no-progress"])
        outputs.append(capfd.readouterr())
    # servers that refuse us: wrong port, unknown host, wrong database
    for url in (f"postgresql://{user}:{SECRET}@127.0.0.1:1/{db}",
                f"postgresql://{user}:{SECRET}@{host}:{port}/no_such_db_{uuid.uuid4().hex[:6]}"):
        monkeypatch.setenv("DATABASE_URL", url)
        for cmd in (["generate"], ["generate-events"], ["validate"]):
            assert main([*cmd, "--config", str(small), "--schema", schema, "--yes" if cmd[0] != "validate" else
                         "--json", "--no-progress"]) == 2
            outputs.append(capfd.readouterr())
    text = "\n".join(o.out + o.err for o in outputs)
    text += json.dumps(db_manifest(db_env, schema), default=str)  # the runs' options: never the URL
    assert SECRET not in text
    assert "cannot connect to PostgreSQL at 127.0.0.1:1" in text and "does not exist" in text


# -- hostile input -----------------------------------------------------------------------------------------
HOSTILE = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=12), st.just("2025-13-45"), st.just("ünïcødé ☃"),
                    st.lists(st.integers(), max_size=3),
                    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


KEY_PATH = re.compile(r"[a-z_]+(\.[A-Za-z0-9_\[\]-]+)+|[a-z_]+\[\d+\]|\b(seed|business_name|time_range|accounts|"
                      r"industries|regions|locations|devices|user_roles|subscriptions|events|id_ranges|growth_patterns"
                      r"|churn|maintenance|data_quality)\b")


@given(data=st.data())
def test_hostile_configs_load_or_exit_2_naming_a_key_and_write_nothing(
        db_url: str, raw_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject) -> None:
    import copy
    cfg = copy.deepcopy(raw_config)
    cfg["accounts"]["total"] = 6
    cfg["events"]["range"] = {"start_date": "2025-06-24", "end_date": "2025-06-25"}
    paths = sorted(_paths(cfg), key=repr)
    path = data.draw(st.sampled_from(paths))
    action = data.draw(st.sampled_from(["replace", "delete", "unknown"]))
    node = cfg
    for p in path[:-1]:
        node = node[p]
    if action == "delete" and isinstance(node, dict):
        del node[path[-1]]
    elif action == "unknown" and isinstance(node, dict):
        node[data.draw(st.text(min_size=1, max_size=8))] = data.draw(HOSTILE)
    else:
        node[path[-1]] = data.draw(HOSTILE)
    tmp = tmp_path_factory.mktemp("hostile")
    cfg_path = tmp / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "DATABASE_URL": db_url, "DATAGEN_HOME": str(tmp / "home")}
    proc = subprocess.run([sys.executable, "-m", "datagen", "generate", "--config", str(cfg_path), "--schema", schema,
                           "--yes", "--no-progress"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    try:
        assert proc.returncode in (0, 2), proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        if proc.returncode == 2:
            assert proc.stderr.startswith("error:") and KEY_PATH.search(proc.stderr), proc.stderr
            with psycopg.connect(db_url) as conn:  # nothing written: not even the schema
                row = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
            assert row == (0,)
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@given(start=st.one_of(st.dates(), st.text(max_size=12)), end=st.one_of(st.dates(), st.text(max_size=12)),
       workers=st.sampled_from(["0", "-1", "x", "1", "2"]))
def test_hostile_event_arguments_exit_0_or_2_without_a_traceback(start: Any, end: Any, workers: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["generate-events", "--dry-run", "--start", str(start), "--end", str(end), "--workers", workers])
    out = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in out.err
    if code == 2:
        assert out.err.startswith("error:")


def test_table_keys_are_the_declared_ones() -> None:
    assert {t.key for t in CORE_TABLES + EVENT_TABLES} == set(TABLES)
