"""What the user sees: the progress bar on a terminal."""

from __future__ import annotations

import io
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
    assert "events" in buffer.getvalue()
    if speed:
        assert "rows/s" in buffer.getvalue()
