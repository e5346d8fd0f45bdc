"""The one place datagen asks the user something: a y/N question on the terminal, refused without one unless
--yes (the runbook's "truncate only with confirmation")."""

from __future__ import annotations

import sys

from datagen.errors import RefusedError
from datagen.tables import TABLES


def confirm_replace(counts: dict[str, int], schema: str, *, yes: bool) -> None:
    """Ask before replacing rows; refuse without a terminal unless --yes."""
    total = sum(counts.values())
    if total == 0:
        return
    ask(f"Replace {len(counts)} tables in schema {schema} holding {total:,} rows"
        + (" (the event tables depend on them and are emptied too)" if any(TABLES[k].partitioned for k in counts)
           else "") + "?", yes=yes)


def ask(question: str, *, yes: bool) -> None:
    """Ask a y/N question on the terminal; without one, refuse unless --yes. Raises RefusedError on no."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise RefusedError(
            f"{question.rstrip('?')}: there is no terminal to confirm it; nothing was changed",
            hint="pass --yes to replace them (the old data stays until the new load commits)",
        )
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise RefusedError("not confirmed; nothing was changed")
