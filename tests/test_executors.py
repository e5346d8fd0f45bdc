"""--executor local, dask-local and dask: the same bytes, a lost worker's task run again with the same result, and
the refusals (no scheduler, an unreachable one, other versions on a worker, the embedded server)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datagen.cli import main
from datagen.executors import FAULT_WAIT_ENV
from datagen.parquet_store import MANIFEST_FILE
from datagen.tables import EVENT_TABLES
from tests.fix_db import db_manifest
from tests.fix_db import parquet_files as files

HERE = Path(__file__).resolve().parent


def run(*args: str) -> int:
    return main([*args, "--no-progress"])


def parquet(config: Path, out: Path, *executor: str) -> dict[str, Any]:
    args = ["--config", str(config), "--sink", "parquet", "--out", str(out), "--yes"]
    assert run("generate", *args) == 0
    assert run("generate-events", *args, *executor) == 0
    data = json.loads((out / MANIFEST_FILE).read_text())
    assert isinstance(data, dict)
    return data


def partitions(manifest: dict[str, Any]) -> dict[str, Any]:
    """Every table's and day's rows, first id and fingerprint (what must not depend on the executor)."""
    return {"tables": manifest["tables"],
            "events": {k: {d: (p["first_id"], p["rows"], p["fingerprint"]) for d, p in e["partitions"].items()}
                       for k, e in manifest["events"].items()}}


@pytest.fixture(scope="module")
def local_lake(tmp_path_factory: pytest.TempPathFactory, raw_config: dict[str, Any]) -> tuple[Path, Path]:
    """The small config written by the local executor: the reference every other executor must equal."""
    import copy

    from tests.fix_db import small_config

    root = tmp_path_factory.mktemp("local")
    config = small_config(copy.deepcopy(raw_config), root / "small.yaml")
    parquet(config, root / "lake")
    return config, root / "lake"


@pytest.mark.parametrize("workers", ["1", "2"])
def test_dask_local_writes_the_bytes_of_local(local_lake: tuple[Path, Path], tmp_path: Path, workers: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    config, reference = local_lake
    capsys.readouterr()
    environment = dict(os.environ)
    got = parquet(config, tmp_path / "lake", "--executor", "dask-local", "--dask-workers", workers)
    assert f"Executor: dask-local, {workers} worker processes" in capsys.readouterr().err
    assert dict(os.environ) == environment  # the workers' settings (executors.WORKER_ENV) stayed theirs
    assert files(tmp_path / "lake") == files(reference)
    assert partitions(got) == partitions(json.loads((reference / MANIFEST_FILE).read_text()))


def test_dask_local_loads_postgres_as_local_does(db_env: str, schema: str, small: Path) -> None:
    other = f"{schema}_dask"
    out: list[dict[str, Any]] = []
    try:
        for s, extra in ((schema, []), (other, ["--executor", "dask-local", "--dask-workers", "2"])):
            args = ["--config", str(small), "--schema", s, "--yes"]
            assert run("generate", *args) == 0 and run("generate-events", *args, *extra) == 0
            out.append(partitions(db_manifest(db_env, s)))
        assert out[0] == out[1]
        assert run("validate", "--config", str(small), "--schema", other) == 0
    finally:
        import psycopg

        with psycopg.connect(db_env, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{other}" CASCADE')


def _kill_when_claimed(claim: Path, stop: threading.Event) -> list[int]:
    """Wait for a task to claim the fault file, then kill its worker process (SIGKILL: no cleanup)."""
    killed: list[int] = []

    def watch() -> None:
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            text = claim.read_text() if claim.exists() else ""
            if text.strip():
                pid = int(text)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    return killed


@pytest.mark.parametrize("sink, at", [("parquet", "start"), ("parquet", "after"), ("postgres", "after")])
def test_a_killed_worker_changes_nothing(local_lake: tuple[Path, Path], tmp_path: Path, db_env: str, schema: str,
                                         monkeypatch: pytest.MonkeyPatch, sink: str, at: str) -> None:
    """A worker is killed while one of its tasks runs (before its work, or after its file is written or its
    staging table committed); Dask runs the task again elsewhere and the result is the local executor's."""
    config, reference = local_lake
    claim = tmp_path / "claim"
    monkeypatch.setenv(FAULT_WAIT_ENV, f"{claim}@{at}")
    stop = threading.Event()
    killed = _kill_when_claimed(claim, stop)
    dask = ["--executor", "dask-local", "--dask-workers", "2"]
    try:
        if sink == "parquet":
            got = parquet(config, tmp_path / "lake", *dask)
            assert files(tmp_path / "lake") == files(reference)
            assert partitions(got) == partitions(json.loads((reference / MANIFEST_FILE).read_text()))
        else:
            args = ["--config", str(config), "--schema", schema, "--yes"]
            assert run("generate", *args) == 0 and run("generate-events", *args, *dask) == 0
            want = partitions(json.loads((reference / MANIFEST_FILE).read_text()))
            assert partitions(db_manifest(db_env, schema))["events"] == want["events"]
            assert run("validate", "--config", str(config), "--schema", schema) == 0
    finally:
        stop.set()
    assert len(killed) == 1  # the kill happened, and only once: the retry found the file claimed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cluster(logs: Path, *worker_args: str) -> Iterator[str]:
    """A Dask scheduler and one worker process, started as a user would (`dask scheduler`, `dask worker`); the
    worker's log goes to logs/worker.log."""
    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    log = (logs / "worker.log").open("w")
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", port,
                               "--dashboard-address", "127.0.0.1:0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while True:  # a worker started before the scheduler listens gives up
            try:
                socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise AssertionError("the Dask scheduler did not start") from None
                time.sleep(0.1)
        procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1",
                                       "--no-dashboard", *worker_args], cwd=HERE.parent,
                                      stdout=subprocess.DEVNULL, stderr=log))
        with Client(address, timeout=60) as c:
            c.wait_for_workers(1, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _cluster(tmp_path_factory.mktemp("cluster"))


@pytest.fixture(scope="module")
def other_versions_scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _cluster(tmp_path_factory.mktemp("other-cluster"), "--preload", str(HERE / "dask_other_versions.py"))


def test_an_existing_cluster_writes_the_bytes_of_local(local_lake: tuple[Path, Path], tmp_path: Path,
                                                       scheduler: str, capsys: pytest.CaptureFixture[str]) -> None:
    from distributed import Client

    config, reference = local_lake
    with Client(scheduler) as c:  # the tasks ran on the cluster's worker: it kept their count
        before = sum(c.run(lambda dask_worker: dask_worker.state.executed_count).values())
    capsys.readouterr()
    got = parquet(config, tmp_path / "lake", "--executor", "dask", "--scheduler", scheduler)
    assert f"Executor: dask at {scheduler}" in capsys.readouterr().err
    with Client(scheduler) as c:
        after = sum(c.run(lambda dask_worker: dask_worker.state.executed_count).values())
    assert after > before
    assert files(tmp_path / "lake") == files(reference)
    assert partitions(got) == partitions(json.loads((reference / MANIFEST_FILE).read_text()))


def test_a_worker_with_other_versions_is_refused(local_lake: tuple[Path, Path], tmp_path: Path,
                                                 other_versions_scheduler: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = local_lake
    args = ["--config", str(config), "--sink", "parquet", "--out", str(tmp_path / "lake"), "--yes"]
    assert run("generate", *args) == 0
    capsys.readouterr()
    assert run("generate-events", *args, "--executor", "dask", "--scheduler", other_versions_scheduler) == 2
    err = capsys.readouterr().err
    assert "runs numpy 1.0.0, this process" in err and "could write different bytes" in err
    assert not any((tmp_path / "lake").glob(f"{EVENT_TABLES[0].key}/*"))


@pytest.mark.parametrize("args, message", [
    (["--executor", "dask"], "--executor dask needs --scheduler tcp://HOST:PORT"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler is for --executor dask"),
    (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:{port}"], "cannot reach the Dask scheduler"),
])
def test_bad_executor_options_exit_2(local_lake: tuple[Path, Path], tmp_path: Path, args: list[str], message: str,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from datagen import tuning

    monkeypatch.setattr(tuning, "DASK_CONNECT_TIMEOUT_S", 2)
    config, _ = local_lake
    out = tmp_path / "lake"
    argv = [a.format(port=_free_port()) for a in args]
    capsys.readouterr()
    assert run("generate-events", "--config", str(config), "--sink", "parquet", "--out", str(out), "--yes",
               *argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("error:") == 1 and "Traceback" not in err
    assert not list(out.rglob("*.parquet"))


def test_dask_with_the_embedded_server_names_database_url(local_lake: tuple[Path, Path],
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = local_lake
    for name in list(os.environ):
        if name == "DATABASE_URL" or name.startswith("PG"):
            monkeypatch.delenv(name)
    capsys.readouterr()
    assert run("generate-events", "--config", str(config), "--yes", "--executor", "dask",
               "--scheduler", "tcp://127.0.0.1:1") == 2
    err = capsys.readouterr().err
    assert "embedded server listens on a Unix socket only" in err and "DATABASE_URL" in err


def test_only_builds_its_event_days_on_the_cluster(db_env: str, schema: str, small_loaded: list[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """generate --only devices regenerates devices and what depends on them, the tap-event days on dask-local
    workers; with the same config nothing moves."""
    before = db_manifest(db_env, schema)
    capsys.readouterr()
    assert run("generate", *small_loaded, "--only", "devices", "--yes", "--executor", "dask-local",
               "--dask-workers", "2") == 0
    assert "Executor: dask-local, 2 worker processes" in capsys.readouterr().err
    after = db_manifest(db_env, schema)
    assert partitions(after) == partitions(before)
    assert after["runs"][-1]["command"] == "generate --only"
    capsys.readouterr()
    assert run("generate", *small_loaded, "--yes", "--executor", "dask-local") == 2
    assert "--executor applies to generate-events and to the event days of generate --only" in \
        capsys.readouterr().err
    assert db_manifest(db_env, schema)["runs"] == after["runs"]
