"""The embedded PostgreSQL server, against the real bundled binaries (no mocks)."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from datagen.embedded import ensure_server, home_dir, server_url, stop_server
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
