"""Where the data goes: DATABASE_URL, the libpq PG* variables, or the embedded server. Passwords never leave."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg

from datagen import embedded
from datagen.errors import DatabaseError
from datagen.tuning import CONNECT_TIMEOUT_S

_PG_TARGET_VARS = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")


@dataclass(frozen=True)
class Target:
    conninfo: str
    source: str  # "DATABASE_URL", "PG* variables" or "embedded server"

    @property
    def display(self) -> str:
        return redact(self.conninfo) if self.conninfo else "(libpq defaults from PG* variables)"


def resolve(url: str | None = None) -> Target:
    """The explicit URL, else DATABASE_URL, else PG* variables, else the embedded server (started if needed)."""
    if url:
        return Target(url, "--database-url")
    env_url = os.environ.get("DATABASE_URL", "").strip()
    if env_url:
        return Target(env_url, "DATABASE_URL")
    if any(os.environ.get(v) for v in _PG_TARGET_VARS):
        return Target("", "PG* variables")
    return Target(embedded.ensure_server(), "embedded server")


def embeds(url: str | None = None) -> bool:
    """Whether resolve(url) would use the embedded server (nothing names another)."""
    return not url and not os.environ.get("DATABASE_URL", "").strip() and not any(
        os.environ.get(v) for v in _PG_TARGET_VARS)


def redact(text: str) -> str:
    """Hide passwords in URLs, key=value conninfo strings and PGPASSWORD's value wherever they appear."""
    out = re.sub(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    out = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", out, flags=re.IGNORECASE)
    pw = os.environ.get("PGPASSWORD")
    if pw:
        out = out.replace(pw, "***")
    for secret in _url_passwords():
        out = out.replace(secret, "***")
    return out


def _url_passwords() -> list[str]:
    found = []
    for name in ("DATABASE_URL", "TEST_DATABASE_URL"):
        value = os.environ.get(name, "")
        try:
            pw = urlsplit(value).password if "://" in value else None
        except ValueError:
            pw = None
        if pw:
            found.append(pw)
    return found


def describe(conninfo: str) -> str:
    """host:port/dbname for messages, without user or password."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "the configured server"
    host = str(parts.get("host") or os.environ.get("PGHOST") or "localhost")
    port = str(parts.get("port") or os.environ.get("PGPORT") or "5432")
    db = str(parts.get("dbname") or os.environ.get("PGDATABASE") or "(default database)")
    return f"{host}:{port}/{db}"


def connect(target: Target) -> psycopg.Connection[tuple[object, ...]]:
    """Open a connection or raise DatabaseError naming the server and the reason, never the password."""
    try:
        return psycopg.connect(target.conninfo, connect_timeout=CONNECT_TIMEOUT_S, autocommit=False,
                               application_name="datagen")
    except psycopg.ProgrammingError as exc:
        raise DatabaseError(f"invalid connection string in {target.source}: {redact(str(exc))}",
                            hint="use the form postgresql://user:password@host:5432/dbname") from None
    except psycopg.OperationalError as exc:
        reason = redact(str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc))
        raise DatabaseError(
            f"cannot connect to PostgreSQL at {describe(target.conninfo)} (from {target.source}): {reason}",
            hint="check that the server is running and that DATABASE_URL names the right host, port, user "
                 "and database; unset DATABASE_URL and PG* variables to use the embedded server",
        ) from None


def _connection_lost(exc: psycopg.Error) -> bool:
    """No answer from the server (no SQLSTATE), a connection exception (class 08) or the backend shut down
    (57P01-57P03). psycopg also classes cancelled statements, lock timeouts, deadlocks, a full disk and too
    many connections as OperationalError: those are the server refusing the load over a working connection."""
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def load_failed(exc: psycopg.Error, target: Target) -> DatabaseError:
    """What a failed load says. The transaction rolled back either way, so the previous data is intact."""
    text = str(exc).strip()
    first = redact(text.splitlines()[0]) if text else repr(exc)
    if _connection_lost(exc):
        return DatabaseError(f"lost the connection to {describe(target.conninfo)} during the load; the "
                             f"transaction was rolled back and the previous data is intact: {first}",
                             hint="re-run the command once the server is reachable")
    return DatabaseError(f"PostgreSQL refused the load; nothing was changed: {first}")
