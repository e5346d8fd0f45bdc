"""What the user sees: the progress bar on a terminal."""

from __future__ import annotations

import io
import re
import sys

import pytest
from rich.console import Console

from datagen import report


@pytest.mark.parametrize("speed", [False, True])
def test_progress_bar_renders_on_a_terminal(monkeypatch: pytest.MonkeyPatch, speed: bool) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr(report, "err", Console(file=buffer, force_terminal=True, width=120))
    with report.progress(1_000, "events", enabled=True, speed=speed) as advance:
        for _ in range(10):
            advance("tap_events", 100)
    # the frames rich drew: the last one before the (transient) bar is cleared shows every row counted
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())  # drop the terminal's colour and cursor codes
    frames = [f for f in text.replace("\r", "\n").split("\n") if "/1000" in f]
    assert frames, buffer.getvalue()
    last = frames[-1]
    assert last.lstrip().startswith("events tap_events") and "1000/1000" in last
    assert ("rows/s" in last) is speed  # the speed column only where asked for
