"""benchmarks/RESULTS.md: each benchmark keeps its runs together in its own section."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def add_to_section(header: str, intro: str, block: str, *, before: str | None = None) -> None:
    """Append block at the end of the section `header` (created with intro if missing), or before the
    section's line starting with `before` when there is one (e.g. the notes under a section)."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if header not in text:
        text += f"\n{header}\n\n{intro}"
    start = text.index(header)
    ends = [i for i in (text.find(f"\n{before}", start) if before else -1, text.find("\n## ", start + 1)) if i != -1]
    at = min(ends) if ends else len(text)
    RESULTS.write_text(text[:at].rstrip("\n") + "\n" + block.rstrip("\n") + "\n" + text[at:], encoding="utf-8")
