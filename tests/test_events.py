"""Event streams on a real PostgreSQL: keys, windows, determinism, temporal rules, staging reads, refusals."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
import yaml
from psycopg import sql

from datagen.cli import main
from datagen.config import parse_config
from datagen.generate import generate
from datagen.manifest import combine, fingerprint
from datagen.tables import EVENT_TABLES, TABLES
from tests.fix_db import DAYS, db_manifest, kill_during_copy, printed_tables, read_table, small_config


def run(*args: str) -> int:
    return main([*args, "--no-progress"])


def event_fingerprints(url: str, schema: str) -> dict[str, str]:
    return {t.key: fingerprint(read_table(url, schema, t.key), t.key) for t in EVENT_TABLES}


@pytest.fixture
def loaded(db_env: str, schema: str, small: Path) -> str:
    """Core and all four event tables of the small config, whole event range."""
    assert run("generate", "--config", str(small), "--schema", schema, "--yes") == 0
    assert run("generate-events", "--config", str(small), "--schema", schema, "--yes") == 0
    return schema


def q(url: str, query: str, schema: str) -> Any:
    s = sql.Identifier(schema)
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.SQL(query).format(s=s)).fetchone()
    return row[0] if row else None


def test_events_load_with_keys_in_place_and_match_the_manifest(db_env: str, loaded: str, tmp_path: Path) -> None:
    schema = loaded
    for t in EVENT_TABLES:
        assert q(db_env, f"SELECT count(*) FROM {{s}}.{t.name}", schema) > 0, t.key
    with psycopg.connect(db_env) as conn:
        fks = conn.execute(
            "SELECT c.relname, con.conname FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND con.contype = 'f' "
            "AND c.relkind = 'p' AND con.conparentid = 0", (schema,)).fetchall()
        parts = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE n.nspname = %s AND p.relname = 'app_database_tap_events' ORDER BY 1", (schema,)).fetchall()
    assert sorted(name for _, name in fks) == sorted(t.fk_constraint(fk) for t in EVENT_TABLES for fk in t.foreign_keys)
    assert [p[0] for p in parts] == [f"app_database_tap_events_p{d.replace('-', '')}" for d in DAYS]
    # no orphans, by the runbook's kind of SQL
    assert q(db_env, "SELECT count(*) FROM {s}.app_database_tap_events e LEFT JOIN {s}.app_database_devices d "
                     "ON d.id = e.device_id WHERE d.id IS NULL OR d.location_id <> e.location_id", schema) == 0
    assert q(db_env, "SELECT count(*) FROM {s}.app_database_page_views v JOIN {s}.app_database_user_sessions s "
                     "USING (session_id) WHERE v.user_id <> s.user_id OR v.customer_id <> s.customer_id", schema) == 0
    # ids sequential and gap-free from the start of each id range
    for t in EVENT_TABLES:
        lo, n, hi = (q(db_env, f"SELECT {agg}({t.primary_key}) FROM {{s}}.{t.name}", schema)
                     for agg in ("min", "count", "max"))
        assert (lo, hi) == (1, n), t.key
    # the manifest names every partition, and its fingerprints are the loaded content
    manifest = db_manifest(db_env, schema)
    for t in EVENT_TABLES:
        entry = manifest["events"][t.key]
        assert sorted(entry["partitions"]) == list(DAYS)
        assert combine([p["fingerprint"] for p in entry["partitions"].values()]) == \
            fingerprint(read_table(db_env, schema, t.key), t.key)


def test_staging_reads_metrics_from_the_table(db_env: str, loaded: str) -> None:
    schema = loaded  # the contract layout (the default): the staging model's reads, on the table itself

    def count(where: str) -> int:
        return int(q(db_env, "SELECT count(*) FROM {s}.app_database_tap_events WHERE " + where, schema))

    pours = count("event_type = 'pour'")
    assert pours > 0
    assert count("event_type = 'pour' AND (metrics->>'volume_ml')::numeric BETWEEN 20 AND 500 "
                 "AND (metrics->>'flow_rate_ml_per_sec')::numeric BETWEEN 10 AND 50 "
                 "AND (metrics->>'duration_seconds')::numeric > 0 AND metrics->>'temperature_c' IS NOT NULL") == pours
    readings = count("event_type IN ('temperature', 'pressure')")
    assert readings > 0
    assert count("(event_type = 'temperature' AND metrics->>'temperature_c' IS NOT NULL) OR "
                 "(event_type = 'pressure' AND (metrics->>'pressure_psi')::numeric > 0)") == readings
    # anomalies exist at roughly the configured rates and are outside the staging model's bounds
    temps = count("metrics ? 'temperature_c'")
    hot = count("(metrics->>'temperature_c')::numeric > 10")
    assert 0.01 < hot / temps < 0.03
    assert count("status NOT IN ('success', 'warning', 'error')") == 0
    assert count("event_type = 'error' AND status <> 'error'") == 0
    # each event carries exactly its type's keys, as numbers
    keys = {"pour": "{{duration_seconds,flow_rate_ml_per_sec,temperature_c,volume_ml}}",  # {{: sql.SQL's escape
            "temperature": "{{temperature_c}}", "pressure": "{{pressure_psi}}"}
    total = count("true")
    for event_type, want in keys.items():
        assert count(f"event_type = '{event_type}' AND ARRAY(SELECT jsonb_object_keys(metrics) ORDER BY 1) "
                     f"<> '{want}'::text[]") == 0
    assert count("metrics = '{{}}'::jsonb") == count("event_type NOT IN ('pour', 'temperature', 'pressure')") > 0
    assert count("jsonb_path_exists(metrics, '$.* ? (@.type() != \"number\")')") == 0
    assert total == count("metrics IS NOT NULL")


def test_temporal_rules_hold_in_the_database(db_env: str, loaded: str, small: Path) -> None:
    schema = loaded
    assert q(db_env, "SELECT count(*) FROM {s}.app_database_tap_events e JOIN {s}.app_database_devices d ON d.id = "
                     "e.device_id WHERE e.timestamp <= d.created_at OR e.timestamp > d.last_seen_at", schema) == 0
    assert q(db_env, "SELECT count(*) FROM {s}.app_database_user_sessions s JOIN {s}.app_database_users u "
                     "ON u.id = s.user_id WHERE s.start_time <= u.created_at OR s.end_time < s.start_time", schema) == 0
    assert q(db_env, "SELECT count(*) FROM {s}.app_database_page_views v JOIN {s}.app_database_user_sessions s "
                     "USING (session_id) WHERE v.timestamp < s.start_time OR "
                     "v.timestamp + make_interval(secs => v.time_on_page_seconds) > s.end_time", schema) == 0
    assert q(db_env, "SELECT count(*) FROM {s}.app_database_feature_usage f JOIN {s}.app_database_users u "
                     "ON u.id = f.user_id WHERE f.timestamp <= u.created_at", schema) == 0
    # churned accounts fall silent at their churn; only live accounts' users appear
    gen = generate(parse_config(yaml.safe_load(small.read_text())))
    churn = gen.full["accounts"].select(pl.col("id").alias("customer_id"), "_churn_at").drop_nulls()
    taps = read_table(db_env, schema, "tap_events").join(
        gen.frames["devices"].select(pl.col("id").alias("device_id"), "customer_id"), on="device_id")
    for frame, col in ((taps, "timestamp"), (read_table(db_env, schema, "feature_usage"), "timestamp"),
                       (read_table(db_env, schema, "user_sessions"), "end_time")):
        late = frame.join(churn, on="customer_id").filter(pl.col(col) >= pl.col("_churn_at"))
        assert late.height == 0
    # corporate sites pour in business hours only; everyone else mostly does
    hours = taps.join(gen.frames["accounts"].select(pl.col("id").alias("customer_id"), "industry"), on="customer_id")
    hour = pl.col("timestamp").dt.hour()
    assert hours.filter((pl.col("industry") == "corporate") & ((hour < 6) | (hour >= 23))).height == 0
    assert hours.filter((hour >= 6) & (hour < 23)).height / hours.height > 0.95


def test_windows_compose_and_chunking_does_not_matter(db_env: str, loaded: str, small: Path,
                                                      db_url: str) -> None:
    whole = event_fingerprints(db_env, loaded)
    other = f"{loaded}_w"
    try:
        assert run("generate", "--config", str(small), "--schema", other, "--yes") == 0
        # window B first, then window A, each with different chunking: same table content as all at once
        assert run("generate-events", "--config", str(small), "--schema", other, "--yes", "--start", DAYS[2],
                   "--end", DAYS[3], "--workers", "3", "--batch-rows", "1000", "--connections", "1") == 0
        assert run("generate-events", "--config", str(small), "--schema", other, "--yes", "--start", DAYS[0],
                   "--end", DAYS[1], "--workers", "2", "--batch-rows", "77", "--connections", "3") == 0
        assert event_fingerprints(db_env, other) == whole
        # re-running a window replaces that window only
        assert run("generate-events", "--config", str(small), "--schema", other, "--yes", "--start", DAYS[1],
                   "--end", DAYS[1]) == 0
        assert event_fingerprints(db_env, other) == whole
    finally:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(other)))


def test_replacing_a_window_needs_confirmation(db_env: str, loaded: str, small: Path,
                                              monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
                                              ) -> None:
    before = event_fingerprints(db_env, loaded)
    capsys.readouterr()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert run("generate-events", "--config", str(small), "--schema", loaded, "--start", DAYS[0], "--end",
               DAYS[0]) == 2
    assert "--yes" in capsys.readouterr().err
    assert event_fingerprints(db_env, loaded) == before


def test_regenerating_core_empties_the_events(db_env: str, loaded: str, small: Path) -> None:
    assert run("generate", "--config", str(small), "--schema", loaded, "--yes") == 0
    for t in EVENT_TABLES:
        assert q(db_env, f"SELECT count(*) FROM {{s}}.{t.name}", loaded) == 0
    with psycopg.connect(db_env) as conn:
        fks = conn.execute("SELECT count(*) FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
                           "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND con.contype = 'f' "
                           "AND con.conparentid = 0 AND c.relkind IN ('r', 'p')", (loaded,)).fetchone()
    assert fks == (8 + 9,)  # the core keys (maintenance logs: 3) and the event tables' keys are all back
    assert run("generate-events", "--config", str(small), "--schema", loaded, "--yes") == 0


def test_event_range_must_fit_the_id_ranges(db_env: str, schema: str, config_dict: dict[str, Any], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    tight = small_config(config_dict, tmp_path / "tight.yaml", **{"id_ranges.tap_events": [1, 1000]})
    assert run("generate", "--config", str(tight), "--schema", schema, "--yes") == 0
    capsys.readouterr()
    assert run("generate-events", "--config", str(tight), "--schema", schema, "--yes") == 2
    err = capsys.readouterr().err
    assert "id_ranges.tap_events" in err and "2025-06-20 to 2025-06-23" in err
    assert q(db_env, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname = '" + schema + "' AND c.relname LIKE 'app_database_tap%%'", schema) == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--start", "2025-06-19"], "outside the event range"),
    (["--start", "2025-06-23", "--end", "2025-06-21"], "after --end"),
    (["--start", "June 20"], "is not a date"),
    (["--workers", "0"], "positive integer"),
    (["--tables", "taps"], "unknown event table"),
])
def test_bad_windows_and_options_exit_2(db_env: str, schema: str, small: Path, args: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run("generate-events", "--config", str(small), "--schema", schema, "--yes", *args) == 2
    assert message in capsys.readouterr().err


def test_events_need_the_core_tables_of_the_same_config(db_env: str, schema: str, small: Path,
                                                        config_dict: dict[str, Any], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run("generate-events", "--config", str(small), "--schema", schema, "--yes") == 2
    assert "just generate" in capsys.readouterr().err
    other = small_config(config_dict, tmp_path / "seed7.yaml", seed=7)
    assert run("generate", "--config", str(other), "--schema", schema, "--yes") == 0
    capsys.readouterr()
    assert run("generate-events", "--config", str(small), "--schema", schema, "--yes") == 2
    err = capsys.readouterr().err
    assert "is not what this config and seed generate" in err and "nothing was changed" in err


def test_kill_during_event_copy_leaves_previous_events(db_env: str, loaded: str, config_dict: dict[str, Any],
                                                       tmp_path: Path) -> None:
    before, manifest = event_fingerprints(db_env, loaded), db_manifest(db_env, loaded)
    busier = small_config(config_dict, tmp_path / "busier.yaml",
                          **{"events.tap_events.per_device_per_day.bar.max": 500})
    kill_during_copy(db_env, ["generate-events", "--schema", loaded, "--yes", "--config", str(busier)],
                     pause="tap_events:60", copying=f'COPY "{loaded}"."app_database_tap_events_p')
    assert event_fingerprints(db_env, loaded) == before
    assert db_manifest(db_env, loaded) == manifest
    # the next run (the same config as the loaded data) cleans up what the dead one staged and completes
    small = tmp_path / "small.yaml"
    assert run("generate-events", "--config", str(small), "--schema", loaded, "--yes") == 0
    assert event_fingerprints(db_env, loaded) == before
    assert q(db_env, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname = '" + loaded + "' AND c.relname LIKE '%%\\_load'", loaded) == 0


def test_default_event_plan_fits_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate-events", "--dry-run"]) == 0
    out = capsys.readouterr().out
    title = "Event plan: window 2025-06-23 to 2025-06-25 (event range 2025-06-23 to 2025-06-25); nothing written"
    plan = printed_tables(out)[title]
    assert [(r["table"], r["window rows"], r["day partitions"], r["window ids"], r["fits"]) for r in plan] == [
        ("tap_events", "7,934,174", "3", "1-7,934,174", "yes"), ("user_sessions", "5,398", "3", "1-5,398", "yes"),
        ("page_views", "87,986", "3", "1-87,986", "yes"), ("feature_usage", "10,696", "3", "1-10,696", "yes")]
    assert out.splitlines()[-1].startswith("Dry run: nothing was written.")


def test_tables_declare_partitioned_events() -> None:
    assert all(t.partitioned and t.time_column for t in EVENT_TABLES)
    assert TABLES["page_views"].foreign_keys[0].parent == "user_sessions"



def test_numpy_encoder_loads_what_pgpq_loads(db_url: str, schema: str, small: Path) -> None:
    from datagen import copy_format, events, load_events, readback
    from datagen.db import Target
    from tests.fix_db import create_core_tables

    cfg = parse_config(yaml.safe_load(small.read_text()))
    streams = events.Streams(cfg, generate(cfg))
    part = streams.plan(("tap_events",)).parts["tap_events"][0]
    built = events.build_checked(streams, part)
    assert built.layout is not None
    fast = load_events.encode(built, 1000, "typed").body
    slow = load_events.encode(events.Built(part, built.frame, "", []), 1000, "typed").body  # no layout: pgpq
    assert len(fast) == len(slow) and bytes(fast) != bytes(slow)  # the same tuples, grouped differently
    packed = load_events.encode(built, 1000, "contract").body  # the jsonb metrics column in place of five
    t = TABLES["tap_events"]
    s = sql.Identifier(schema)
    fingerprints = []
    with psycopg.connect(db_url, autocommit=True) as conn:
        create_core_tables(conn, schema)
        for name, body, layout in (("fast", fast, "typed"), ("slow", slow, "typed"), ("packed", packed, "contract")):
            columns = t.stored_columns(layout)
            conn.execute(sql.SQL("CREATE TABLE {}.{} ({})").format(s, sql.Identifier(name), sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in columns)))
            with conn.cursor().copy(sql.SQL("COPY {}.{} FROM STDIN (FORMAT BINARY)").format(
                    s, sql.Identifier(name))) as copy:
                copy_format.write_copy(copy, [body])
        with readback.connect(Target(db_url, "test")) as rconn:
            for name, layout in (("fast", "typed"), ("slow", "typed"), ("packed", "contract")):
                fingerprints.append(fingerprint(readback.read(rconn, schema, t, name, layout), "tap_events"))
        # the contract layout's text reads back to exactly the typed values (pgpq's typed table as the reference)
        differ = conn.execute(sql.SQL(
            "SELECT count(*) FROM {s}.slow a JOIN {s}.packed b USING (id) WHERE "
            "a.volume_ml IS DISTINCT FROM (b.metrics->>'volume_ml')::integer OR "
            "a.temperature_c IS DISTINCT FROM (b.metrics->>'temperature_c')::real OR "
            "a.pressure_psi IS DISTINCT FROM (b.metrics->>'pressure_psi')::real OR "
            "a.flow_rate_ml_per_sec IS DISTINCT FROM (b.metrics->>'flow_rate_ml_per_sec')::real OR "
            "a.duration_seconds IS DISTINCT FROM (b.metrics->>'duration_seconds')::real").format(s=s)).fetchone()
        assert differ == (0,)
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}.packed").format(s)).fetchone()
        assert rows == (built.frame.height,)
    assert fingerprints == [built.fingerprint] * 3


@pytest.mark.timeout(120)
def test_a_loader_failing_after_copy_stops_the_run_cleanly(db_env: str, loaded: str, small: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    before = event_fingerprints(db_env, loaded)
    s = sql.Identifier(loaded)
    with psycopg.connect(db_env, autocommit=True) as conn:  # the staging key's name is taken: ADD PRIMARY KEY fails
        conn.execute(sql.SQL("CREATE TABLE {}.blocker (id int)").format(s))
        conn.execute(sql.SQL("CREATE INDEX app_database_tap_events_p20250621_load_pkey ON {}.blocker (id)").format(s))
    capsys.readouterr()
    assert run("generate-events", "--config", str(small), "--schema", loaded, "--yes") == 2
    assert "nothing was changed" in capsys.readouterr().err
    assert event_fingerprints(db_env, loaded) == before
    assert q(db_env, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname = '" + loaded + "' AND c.relname ~ '_load$'", loaded) == 0


def test_leftover_staging_tables_do_not_block_generate(db_env: str, loaded: str, config_dict: dict[str, Any],
                                                       tmp_path: Path) -> None:
    s = sql.Identifier(loaded)
    with psycopg.connect(db_env, autocommit=True) as conn:  # what a generate-events killed before its swap leaves
        conn.execute(sql.SQL("CREATE TABLE {}.app_database_tap_events_p20250620_load "
                             "(LIKE {}.app_database_tap_events)").format(s, s))
        conn.execute(sql.SQL("ALTER TABLE {}.app_database_tap_events_p20250620_load ADD FOREIGN KEY (device_id) "
                             "REFERENCES {}.app_database_devices (id)").format(s, s))
    other = small_config(config_dict, tmp_path / "seed7.yaml", seed=7)
    assert run("generate", "--config", str(other), "--schema", loaded, "--yes") == 0
    assert q(db_env, "SELECT to_regclass('" + loaded + ".app_database_tap_events_p20250620_load') IS NULL",
             loaded) is True


@pytest.mark.parametrize("change", [
    {"events.tap_events.per_device_per_day.bar.max": 500},  # other counts: the id bounds differ
    {"events.tap_events.temperature_c.anomaly_rate": 0.5},  # same counts and ids: only the content digest differs
])
def test_a_window_next_to_days_made_differently_is_refused(db_env: str, loaded: str, config_dict: dict[str, Any],
                                                           tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           change: dict[str, Any]) -> None:
    before = event_fingerprints(db_env, loaded)
    hotter = small_config(config_dict, tmp_path / "other.yaml", **change)
    capsys.readouterr()
    assert run("generate-events", "--config", str(hotter), "--schema", loaded, "--yes", "--start", DAYS[1],
               "--end", DAYS[1]) == 2
    assert "was not generated from this config" in capsys.readouterr().err
    assert event_fingerprints(db_env, loaded) == before
    assert run("generate-events", "--config", str(hotter), "--schema", loaded, "--yes") == 0  # the whole range is fine
    assert event_fingerprints(db_env, loaded)["tap_events"] != before["tap_events"]


def test_summary_lists_partitions_and_checks(db_env: str, loaded: str, small: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run("generate-events", "--config", str(small), "--schema", loaded, "--yes", "--start", DAYS[0],
               "--end", DAYS[0]) == 0
    out = capsys.readouterr().out
    manifest = db_manifest(db_env, loaded)
    for t in EVENT_TABLES:
        assert manifest["events"][t.key]["partitions"][DAYS[0]]["fingerprint"] in out, t.key
    assert "Partition checks" in out and "tap_events.within_device_life" in out and "replacing 4 day partitions" in out


def test_a_legacy_event_table_in_the_way_is_refused(db_env: str, schema: str, small: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert run("generate", "--config", str(small), "--schema", schema, "--yes") == 0
    s = sql.Identifier(schema)
    with psycopg.connect(db_env, autocommit=True) as conn:  # the legacy table: UUID ids, jsonb metrics
        conn.execute(sql.SQL("CREATE TABLE {}.app_database_tap_events (id varchar(50), metrics jsonb)").format(s))
        conn.execute(sql.SQL("INSERT INTO {}.app_database_tap_events VALUES ('a', '{{}}')").format(s))
    capsys.readouterr()
    assert run("generate-events", "--config", str(small), "--schema", schema, "--yes") == 2
    err = capsys.readouterr().err
    assert "app_database_tap_events is in the way" in err and "nothing was changed" in err
    assert q(db_env, "SELECT count(*) FROM {s}.app_database_tap_events", schema) == 1


def test_a_partition_that_fails_its_checks_is_never_copied(db_env: str, loaded: str, small: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The build pipeline checks each part and hands the loader only parts that pass: one bad day stops the run
    before its swap, naming the partition and the check, and every table keeps what it held."""
    import dataclasses
    import datetime as dt

    from datagen import builders

    before = event_fingerprints(db_env, loaded)
    good = builders.EVENTS["feature_usage"]
    bad_day = dt.date.fromisoformat(DAYS[2])

    def shifted(*args: Any) -> pl.DataFrame:  # ids off by one on one day: a builder bug
        frame = good.build(*args)
        return frame.with_columns(pl.col("usage_id") + 1) if args[2].day == bad_day else frame

    monkeypatch.setitem(builders.EVENTS, "feature_usage", dataclasses.replace(good, build=shifted))
    capsys.readouterr()
    assert run("generate-events", "--config", str(small), "--schema", loaded, "--yes") == 1
    err = capsys.readouterr().err
    assert f"partition feature_usage {DAYS[2]} block 0 failed its checks; nothing was written" in err
    assert "feature_usage.ids_continuous" in err
    assert event_fingerprints(db_env, loaded) == before
