"""Where generate-events builds its partitions: threads in this process (`--executor local`, the default) or the
workers of a Dask cluster (`dask --scheduler tcp://HOST:PORT`, or `dask-local --dask-workers N`: a LocalCluster
datagen starts and stops).

On Dask the coordinator plans, sends the core frames and the event inputs to every worker once (scatter), and
submits one task per partition (Parquet: a day's block, written to its file) or per day (PostgreSQL: copied
into its staging table over the worker's own connection and committed). Tasks return only small results
(rows, fingerprints, check results); the coordinator writes the manifest (Parquet) or swaps the staged days in
with one transaction (PostgreSQL), as with local threads. A partition is a pure function of the config, seed,
table, day and block, so a task Dask retries after its worker died writes the same bytes; a PostgreSQL task
drops what an earlier attempt committed to its staging table first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from datagen import checks, tuning
from datagen.checks import Outcome
from datagen.errors import ClusterError, DatagenError, UsageError

if TYPE_CHECKING:
    from distributed import Client

EXECUTORS = ("local", "dask", "dask-local")
# What must match between the coordinator and every worker: a different numpy or polars can draw or write
# different bytes, and a different datagen different rows.
VERSIONED = ("datagen", "numpy", "polars", "pyarrow")
# Set by the worker-loss test to PATH or PATH@after: the first task to claim the file writes its process id into
# it and waits to be killed, before its work or after it (file written, staging table committed)
# (tests/test_executors.py); never set in normal runs.
FAULT_WAIT_ENV = "DATAGEN_FAULT_WAIT_TO_BE_KILLED"
# The environment of a LocalCluster's worker processes (Dask's nanny sets it before they start). Dask sets
# MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's mmap threshold at 128 KiB: every array of a partition
# is then a fresh mmap whose pages fault in one by one, and a tap-event build took 4x its time in the workers
# (docs/decisions.md, Scale out 11). One Polars thread a worker: each worker runs one task at a time.
WORKER_ENV = {"MALLOC_TRIM_THRESHOLD_": str(tuning.MALLOC_TRIM_BYTES),
              "MALLOC_MMAP_THRESHOLD_": str(tuning.MALLOC_MMAP_BYTES),
              "POLARS_MAX_THREADS": "1"}
# A LocalCluster's workers without Dask's statistical profiler, which walks every thread's stack every 10 ms
# under the GIL, a cost a partition's Python-level build steps feel (its dashboard is not shown anyway).
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


@dataclass(frozen=True)
class Executor:
    kind: str = "local"
    scheduler: str | None = None  # --scheduler, for kind dask
    dask_workers: int = 2  # --dask-workers, for kind dask-local

    @property
    def distributed(self) -> bool:
        return self.kind != "local"


def check_options(ex: Executor) -> None:
    """Usage errors before any work."""
    if ex.kind == "dask" and not ex.scheduler:
        raise UsageError("--executor dask needs --scheduler tcp://HOST:PORT",
                         hint="or use --executor dask-local to start a cluster on this machine")
    if ex.kind != "dask" and ex.scheduler:
        raise UsageError("--scheduler is for --executor dask", hint="add --executor dask, or leave out --scheduler")


def versions() -> dict[str, str]:
    return {name: version(name) for name in VERSIONED}


@contextlib.contextmanager
def client(ex: Executor) -> Iterator[Client]:
    """A client of the cluster ex names: an existing one (checked to run the same versions) or a LocalCluster
    started here and stopped on the way out."""
    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.ERROR)
    if ex.kind == "dask-local":
        with _own_environment():
            yield from _local_cluster(ex)
        return
    assert ex.scheduler is not None
    try:
        c = Client(ex.scheduler, timeout=tuning.DASK_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--scheduler {ex.scheduler}: cannot reach the Dask scheduler ({exc}); nothing was written",
                         hint="start one (`dask scheduler` and `dask worker tcp://HOST:PORT`), or use --executor "
                              "dask-local") from None
    try:
        _check_workers(c, ex.scheduler)
        yield c
    finally:
        c.close()


@contextlib.contextmanager
def _own_environment() -> Iterator[None]:
    """Dask's nanny sets WORKER_ENV in this process's environment before it starts (or restarts) a worker and
    leaves it there; put this process's own environment back once the cluster is gone."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _local_cluster(ex: Executor) -> Iterator[Client]:
    """A LocalCluster of ex.dask_workers processes and its client, stopped on the way out."""
    import dask
    from distributed import Client, LocalCluster

    try:
        # ":0": the scheduler's HTTP endpoint on a free port (its default, 8787, warns when another
        # cluster holds it)
        with dask.config.set({**{f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENV.items()},
                              **WORKER_CONFIG}):
            cluster = LocalCluster(n_workers=ex.dask_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.ERROR)
    except Exception as exc:  # what a cluster that does not start raises varies (OSError, TimeoutError ...)
        raise ClusterError(f"--executor dask-local: the local Dask cluster did not start: {exc}; nothing was "
                           "written", hint="use --executor local, or fewer --dask-workers") from None
    with cluster, Client(cluster) as c:
        yield c


def _check_workers(c: Client, scheduler: str) -> None:
    try:
        found = c.run(versions)
    except Exception as exc:  # a worker without datagen cannot even unpickle the function
        raise ClusterError(f"--scheduler {scheduler}: a worker cannot run datagen ({type(exc).__name__}: {exc}); "
                           "nothing was written", hint="install this checkout on every worker "
                           "(pip install -e .)") from None
    if not found:
        raise UsageError(f"--scheduler {scheduler}: the cluster has no workers", hint="start `dask worker "
                         f"{scheduler}` on the machines that should build")
    mine = versions()
    for worker, theirs in sorted(found.items()):
        for name in VERSIONED:
            if theirs.get(name) != mine[name]:
                raise UsageError(f"Dask worker {worker} runs {name} {theirs.get(name)}, this process {mine[name]}: "
                                 "it could write different bytes; nothing was written",
                                 hint="install the same versions on every worker (pip install -e . from this "
                                      "checkout), or use --executor local")


def wait_if_asked(where: str = "start") -> None:
    """The worker-loss test's hook (FAULT_WAIT_ENV): the first task to claim the file waits to be killed."""
    path, _, at = os.environ.get(FAULT_WAIT_ENV, "").partition("@")
    if not path or (at or "start") != where:
        return
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # claimed already: this is the retry, or another task
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(tuning.DASK_FAULT_WAIT_S)


OutcomeRow = tuple[str, int, list[object], float]  # check name, violations, sample, seconds


def outcome_rows(outcomes: list[Outcome]) -> list[OutcomeRow]:
    return [(o.check.name, o.violations, o.sample, o.seconds) for o in outcomes]


def outcomes_of(rows: list[OutcomeRow]) -> list[Outcome]:
    by_name = {c.name: c for c in checks.partition_catalogue()}
    return [Outcome(by_name[name], n, sample, seconds) for name, n, sample, seconds in rows]


def map_unordered(c: Client, shared: Any, task: Callable[..., Any], items: list[Any], name: str) -> Iterator[Any]:
    """task(shared, item) for every item on the cluster, shared sent to every worker once; results as they
    complete. A task whose worker dies is run again by Dask (up to distributed.scheduler.allowed-failures)."""
    from distributed import as_completed

    try:
        scattered = c.scatter(shared, broadcast=True, hash=False)
        futures = [c.submit(task, scattered, item, key=f"datagen-{name}-{i}", pure=False)
                   for i, item in enumerate(items)]
    except Exception as exc:
        raise ClusterError(f"the Dask cluster did not take the tasks: {type(exc).__name__}: {exc}") from None
    try:
        for f in as_completed(futures):
            try:
                result = f.result()
            except DatagenError:
                raise  # a task's own refusal (a partition that fails its checks): already a message
            except Exception as exc:  # KilledWorker past the retries, a lost scheduler ...
                raise ClusterError(f"a Dask task failed: {type(exc).__name__}: {exc}",
                                   hint="see the workers' logs; --executor local builds the same partitions") from None
            # forget it at once: a worker lost later must not make Dask run a finished task again
            f.release()
            yield result
    finally:
        c.cancel(futures)
