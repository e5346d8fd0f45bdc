"""The Parquet sink and `validate --parquet`: the files, their bytes, windows, refusals, and that the dataset holds
what the PostgreSQL sink loads."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.fs as pafs
import pytest

from datagen.cli import main
from datagen.parquet_store import MANIFEST_FILE
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES
from tests.fix_db import DAYS, db_manifest, small_config
from tests.fix_db import parquet_files as files


def run(*args: str) -> int:
    return main([*args, "--no-progress"])


def write(config: Path, out: Path, *extra: str) -> None:
    args = ["--config", str(config), "--sink", "parquet", "--out", str(out), "--yes"]
    assert run("generate", *args) == 0
    assert run("generate-events", *args, *extra) == 0


def manifest(out: Path) -> dict[str, Any]:
    data = json.loads((out / MANIFEST_FILE).read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture
def dataset(small: Path, tmp_path: Path) -> Path:
    out = tmp_path / "lake"
    write(small, out)
    return out


def test_the_dataset_is_hive_style_and_validates(dataset: Path, small: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    names = set(files(dataset))
    want = {f"{t.key}/part-0.parquet" for t in CORE_TABLES}
    for t in EVENT_TABLES:
        for day in DAYS:
            days = {n for n in names if n.startswith(f"{t.key}/day={day}/")}
            assert days, (t.key, day)
            want |= days
    assert names == want
    assert all(n.rsplit("/", 1)[1].startswith("part-") for n in names)
    # the files hold the declared columns, typed
    tap = pl.read_parquet(dataset / "tap_events" / f"day={DAYS[0]}" / "part-0.parquet", hive_partitioning=False)
    assert tap.columns == [c.name for c in TABLES["tap_events"].columns]
    m = manifest(dataset)
    assert m["sink"] == "parquet" and [r["command"] for r in m["runs"]] == ["generate", "generate-events"]
    for t in CORE_TABLES:
        got = pl.read_parquet(dataset / t.key / "part-0.parquet")
        assert got.height == m["tables"][t.key]["rows"] > 0
    for t in EVENT_TABLES:
        parts = m["events"][t.key]["partitions"]
        assert sorted(parts) == list(DAYS)
        on_disk = pl.scan_parquet(str(dataset / t.key / "**" / "*.parquet")).select(pl.len()).collect().item()
        assert sum(p["rows"] for p in parts.values()) == m["events"][t.key]["rows"] == on_disk
    capsys.readouterr()
    assert run("validate", "--config", str(small), "--parquet", str(dataset), "--json") == 0
    result = json.loads(capsys.readouterr().out)
    names = [c["name"] for c in result["checks"]]
    assert result["passed"] and len(names) == 135  # every check but the contract layout's jsonb rule
    assert "tap_events.metrics_well_formed" not in names


def test_the_bytes_do_not_depend_on_workers(dataset: Path, small: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    write(small, again, "--workers", "3")
    assert files(again) == files(dataset)
    first, second = manifest(dataset), manifest(again)
    assert first["tables"] == second["tables"] and first["events"] == second["events"]


def test_a_partition_is_written_a_slice_at_a_time(dataset: Path, small: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """With slices smaller than a partition, each tap-event file holds one row group per slice, of whole devices
    and at most the slice's rows (plus a busy device's), and the rows, manifest and validation are the same as
    with whole partitions in one slice."""
    import pyarrow.parquet as pq

    from datagen import tuning

    monkeypatch.setattr(tuning, "PARQUET_SLICE_ROWS", 5_000)
    sliced = tmp_path / "sliced"
    write(small, sliced)
    m0, m1 = manifest(dataset), manifest(sliced)
    assert m1["tables"] == m0["tables"] and m1["events"] == m0["events"]
    f = sliced / "tap_events" / f"day={DAYS[0]}" / "part-0.parquet"
    meta, whole = pq.ParquetFile(f).metadata, pq.ParquetFile(dataset / f.relative_to(sliced)).metadata
    assert meta.num_row_groups > 3 and whole.num_row_groups == 1 and meta.num_rows == whole.num_rows
    groups = [pq.ParquetFile(f).read_row_group(i).column("device_id").to_pylist() for i in range(meta.num_row_groups)]
    assert all(len(g) <= 5_000 or len(set(g)) == 1 for g in groups)
    assert all(max(a) < min(b) for a, b in itertools.pairwise(groups))  # whole devices, in order
    assert pl.read_parquet(f).equals(pl.read_parquet(dataset / f.relative_to(sliced)))
    assert run("validate", "--config", str(small), "--parquet", str(sliced)) == 0


def test_a_slice_failing_mid_file_leaves_the_old_file(dataset: Path, small: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A tap-event partition whose third slice fails its checks after two row groups were written: the run
    stops with the check's message (exit 1, not a write error), the file keeps its old bytes and no temporary
    file is left."""
    from datagen import events, tuning
    from datagen.errors import ValidationFailed

    real = events.build_passed_slices

    def third_fails(streams: events.Streams, part: Any, max_rows: int) -> Iterator[events.Built]:
        for i, built in enumerate(real(streams, part, max_rows)):
            if i == 2:
                raise ValidationFailed(f"partition {part.table} {part.day} block {part.block}: slice 2 (the test)")
            yield built

    monkeypatch.setattr(tuning, "PARQUET_SLICE_ROWS", 5_000)
    monkeypatch.setattr(events, "build_passed_slices", third_fails)
    before = files(dataset)
    capsys.readouterr()
    args = ["--config", str(small), "--sink", "parquet", "--out", str(dataset), "--yes", "--tables", "tap_events"]
    assert run("generate-events", *args, "--start", DAYS[0], "--end", DAYS[0]) == 1
    err = capsys.readouterr().err
    assert "slice 2 (the test)" in err and "cannot write" not in err
    assert files(dataset) == before
    assert not list(dataset.rglob("*.tmp"))


def test_parquet_holds_what_postgres_loads(db_env: str, schema: str, dataset: Path, small: Path) -> None:
    args = ["--config", str(small), "--schema", schema, "--yes"]
    assert run("generate", *args) == 0 and run("generate-events", *args) == 0
    pg, pq = db_manifest(db_env, schema), manifest(dataset)
    assert pg["tables"] == pq["tables"]
    for t in EVENT_TABLES:
        want = {d: (p["first_id"], p["rows"], p["fingerprint"]) for d, p in pg["events"][t.key]["partitions"].items()}
        got = {d: (p["first_id"], p["rows"], p["fingerprint"]) for d, p in pq["events"][t.key]["partitions"].items()}
        assert got == want, t.key
        assert pq["events"][t.key]["fingerprint"] == pg["events"][t.key]["fingerprint"]


def test_a_window_rewrites_only_its_days(dataset: Path, small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = files(dataset)
    inodes = {p: os.stat(dataset / p).st_ino for p in before}
    stale = dataset / "tap_events" / f"day={DAYS[1]}" / "part-99.parquet"  # a block this plan does not have
    stale.write_bytes((dataset / "tap_events" / f"day={DAYS[1]}" / "part-0.parquet").read_bytes())
    half_written = dataset / "tap_events" / f"day={DAYS[1]}" / ".part-0.parquet.4242-deadbeef.tmp"  # a killed writer's
    half_written.write_bytes(b"PAR1")
    m0 = manifest(dataset)
    args = ["--config", str(small), "--sink", "parquet", "--out", str(dataset)]
    assert run("generate-events", *args, "--start", DAYS[1], "--end", DAYS[1]) == 2  # no terminal, no --yes
    assert "Replace 4 existing day partitions" in capsys.readouterr().err
    assert manifest(dataset) == m0 and stale.exists()
    assert run("generate-events", *args, "--start", DAYS[1], "--end", DAYS[1], "--yes") == 0
    assert not stale.exists() and not half_written.exists()
    assert files(dataset) == before  # the same bytes again
    for p in before:
        rewritten = f"/day={DAYS[1]}/" in p
        assert (os.stat(dataset / p).st_ino != inodes[p]) == rewritten, p
    m1 = manifest(dataset)
    assert m1["events"] == m0["events"] and m1["tables"] == m0["tables"]
    assert len(m1["runs"]) == 3 and m1["runs"][-1]["options"]["start"] == DAYS[1]
    assert run("validate", "--config", str(small), "--parquet", str(dataset)) == 0


def test_events_need_this_configs_core_tables(small: Path, tmp_path: Path, config_dict: dict[str, Any],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lake"
    args = ["--sink", "parquet", "--out", str(out), "--yes"]
    assert run("generate-events", "--config", str(small), *args) == 2
    assert "holds no core tables" in capsys.readouterr().err
    assert not list(out.rglob("*.parquet"))
    other = small_config(config_dict, tmp_path / "other.yaml", seed=7)
    assert run("generate", "--config", str(other), *args) == 0
    capsys.readouterr()
    assert run("generate-events", "--config", str(small), *args) == 2
    assert "is not what this config and seed generate" in capsys.readouterr().err
    assert not any(out.glob("tap_events"))


def test_a_window_next_to_days_of_another_config_is_refused(dataset: Path, small: Path, config_dict: dict[str, Any],
                                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = small_config(config_dict, tmp_path / "rates.yaml", **{"events.tap_events.per_device_per_day.bar.max": 450})
    before = files(dataset)
    capsys.readouterr()
    assert run("generate-events", "--config", str(other), "--sink", "parquet", "--out", str(dataset), "--yes",
               "--start", DAYS[0], "--end", DAYS[0]) == 2
    assert "was not generated from this config and seed" in capsys.readouterr().err
    assert files(dataset) == before


@pytest.mark.parametrize("corrupt, finding", [
    ("change", "altered"),
    ("delete", "missing"),
])
def test_validate_finds_a_damaged_partition(dataset: Path, small: Path, corrupt: str, finding: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    day = dataset / "user_sessions" / f"day={DAYS[2]}"
    if corrupt == "change":
        f = day / "part-0.parquet"
        frame = pl.read_parquet(f, hive_partitioning=False)
        frame.with_columns(pl.col("duration_seconds") + 1).write_parquet(f)
    else:
        for f in day.iterdir():
            f.unlink()
        day.rmdir()
    capsys.readouterr()
    assert run("validate", "--config", str(small), "--parquet", str(dataset), "--json") == 1
    result = json.loads(capsys.readouterr().out)
    failed = {c["name"]: c for c in result["checks"] if c["violations"]}
    assert "user_sessions.matches_manifest" in failed
    sample = " ".join(map(str, failed["user_sessions.matches_manifest"]["sample"]))
    assert f"app_database_user_sessions_p{DAYS[2].replace('-', '')}: {finding}" in sample
    # the other tables' manifest checks still pass
    assert not {"tap_events.matches_manifest", "feature_usage.matches_manifest"} & set(failed)


@pytest.mark.parametrize("args, message", [
    (["--sink", "parquet"], "--sink parquet needs --out PATH_OR_URL"),
    (["--out", "somewhere"], "--out is for --sink parquet"),
    (["--sink", "parquet", "--out", "foo://bucket/x"], "unknown scheme foo://"),
    (["--sink", "parquet", "--out", "{file}/lake"], "cannot write to"),
    (["--sink", "parquet", "--out", "{file}"], "is a file, not a folder"),
    (["--sink", "parquet", "--out", "{tmp}/lake", "--only", "devices"], "--only is for --sink postgres"),
])
def test_bad_sink_options_exit_2_and_write_nothing(small: Path, tmp_path: Path, args: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    argv = [a.format(file=a_file, tmp=tmp_path) for a in args]
    assert run("generate", "--config", str(small), "--yes", *argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("error:") == 1
    assert not list(tmp_path.rglob("*.parquet")) and a_file.read_text() == "not a folder\n"


# -- an S3-compatible object store: moto's server on localhost -------------------------------------------------
@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pafs.S3FileSystem:
    """A fresh bucket `lake` and the usual AWS settings pointing at it (credentials moto accepts, no files)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    fs = pafs.S3FileSystem(endpoint_override=s3_endpoint, region="us-east-1", allow_bucket_creation=True,
                           allow_bucket_deletion=True)
    if fs.get_file_info("lake").type != pafs.FileType.NotFound:
        fs.delete_dir("lake")
    fs.create_dir("lake")
    return fs


def s3_files(fs: pafs.S3FileSystem, prefix: str) -> dict[str, str]:
    out = {}
    for info in fs.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True)):
        if info.path.endswith(".parquet"):
            with fs.open_input_stream(info.path) as f:
                out[info.path[len(prefix) + 1:]] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_an_object_store_takes_the_same_bytes_and_validates(s3: pafs.S3FileSystem, dataset: Path, small: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert s3_files(s3, "lake/tapflow") == {}
    url = "s3://lake/tapflow"
    args = ["--config", str(small), "--sink", "parquet", "--out", url, "--yes"]
    assert run("generate", *args) == 0 and run("generate-events", *args) == 0
    assert s3_files(s3, "lake/tapflow") == files(dataset)
    with s3.open_input_stream(f"lake/tapflow/{MANIFEST_FILE}") as f:
        remote = json.loads(f.read())
    assert remote["events"] == manifest(dataset)["events"]
    capsys.readouterr()
    assert run("validate", "--config", str(small), "--parquet", url, "--json") == 0
    assert json.loads(capsys.readouterr().out)["passed"]


@pytest.mark.parametrize("setup, message", [
    ("no credentials", "no AWS credentials"),
    ("no bucket", "cannot write to s3://missing-bucket/x"),
    ("unreachable", "cannot write to s3://lake/x"),
])
def test_object_store_problems_are_one_message(s3: pafs.S3FileSystem, small: Path, monkeypatch: pytest.MonkeyPatch,
                                               setup: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = "s3://missing-bucket/x" if setup == "no bucket" else "s3://lake/x"
    if setup == "no credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    if setup == "unreachable":
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    capsys.readouterr()
    assert run("generate", "--config", str(small), "--sink", "parquet", "--out", url, "--yes") == 2
    err = capsys.readouterr().err
    assert message in err and err.count("error:") == 1 and "Traceback" not in err
    assert s3_files(s3, "lake/x") == {}


def test_an_interrupted_window_is_unlisted_until_run_again(dataset: Path, small: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A run that stops after writing some of its files leaves them whole and unlisted: the manifest lists only
    what the files hold, validate names the days, and running the command again completes it."""
    from datagen import events
    from datagen.errors import ValidationFailed

    real = events.build_passed_slices
    calls: list[int] = []

    def fail_the_third(streams: events.Streams, part: Any, max_rows: int) -> Iterator[events.Built]:
        calls.append(1)
        if len(calls) == 3:
            raise ValidationFailed(f"partition {part.table} {part.day} failed its checks (the test)")
        return real(streams, part, max_rows)

    before = files(dataset)
    m0 = manifest(dataset)
    monkeypatch.setattr(events, "build_passed_slices", fail_the_third)
    args = ["--config", str(small), "--sink", "parquet", "--out", str(dataset), "--yes", "--workers", "1"]
    assert run("generate-events", *args, "--start", DAYS[1], "--end", DAYS[2]) == 1
    monkeypatch.setattr(events, "build_passed_slices", real)
    assert files(dataset) == before  # each file whole: rewritten ones hold the same bytes
    assert not list(dataset.rglob("*.tmp"))  # the failed file's temporary name is gone too
    m1 = manifest(dataset)
    window = {DAYS[1], DAYS[2]}
    for t in EVENT_TABLES:
        listed = set(m1["events"][t.key]["partitions"])
        assert listed == set(DAYS) - window, t.key
        for d in listed:
            assert m1["events"][t.key]["partitions"][d] == m0["events"][t.key]["partitions"][d]
    assert m1["runs"] == m0["runs"]
    capsys.readouterr()
    assert run("validate", "--config", str(small), "--parquet", str(dataset), "--json") == 1
    failed = {c["name"]: c for c in json.loads(capsys.readouterr().out)["checks"] if c["violations"]}
    assert "extra (not in the manifest)" in " ".join(map(str, failed["tap_events.matches_manifest"]["sample"]))
    assert run("generate-events", *args, "--start", DAYS[1], "--end", DAYS[2]) == 0
    assert manifest(dataset)["events"] == m0["events"]
    assert run("validate", "--config", str(small), "--parquet", str(dataset)) == 0
