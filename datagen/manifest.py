"""Content fingerprints, and the manifest's JSON form (an export of the manifest table, see manifest_store)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datagen._hash import mix_for_fingerprints
from datagen.errors import OutputError
from datagen.tables import TABLES, cast_to_declared

MANIFEST_VERSION = 2  # 2: the fingerprint's second sum is a mix of the row hash, not a second hash
# A fixed seed for polars' row hash: the fingerprint is only meaningful with the locked polars version.
_HASH_SEED = 0x7A9F51C3


def fingerprint(frame: pl.DataFrame, table: str) -> str:
    """Order-independent content hash of a table's declared columns: row count plus two 64-bit sums, of the row
    hashes and of a mix of them (_hash.mix_for_fingerprints; one hashing pass, and the second sum is not linear
    in the first)."""
    h1 = cast_to_declared(frame, TABLES[table]).hash_rows(seed=_HASH_SEED).to_numpy()
    h2 = mix_for_fingerprints(h1)
    # uint64 sums wrap around on overflow, which is what we want: a sum modulo 2**64
    s1 = int(np.sum(h1, dtype=np.uint64)) if h1.size else 0
    s2 = int(np.sum(h2, dtype=np.uint64)) if h2.size else 0
    return f"{frame.height}:{s1:016x}{s2:016x}"


def combine(fingerprints: list[str]) -> str:
    """The fingerprint of the union of disjoint row sets, from theirs (sums modulo 2**64 add up)."""
    rows, s1, s2 = 0, 0, 0
    for fp in fingerprints:
        n, _, h = fp.partition(":")
        rows += int(n)
        s1 = (s1 + int(h[:16], 16)) % 2**64
        s2 = (s2 + int(h[16:], 16)) % 2**64
    return f"{rows}:{s1:016x}{s2:016x}"


def table_entries(frames: dict[str, pl.DataFrame]) -> dict[str, dict[str, Any]]:
    """What the manifest records of each loaded core table: rows, id span, fingerprint."""
    tables = {}
    for key, frame in frames.items():
        ids = frame[TABLES[key].primary_key]
        tables[key] = {
            "table": TABLES[key].name,
            "rows": frame.height,
            "id_min": int(ids.min()) if frame.height else None,  # type: ignore[arg-type]
            "id_max": int(ids.max()) if frame.height else None,  # type: ignore[arg-type]
            "fingerprint": fingerprint(frame, key),
        }
    return tables


def check_writable(path: Path) -> None:
    """Fail before the load, not after it, when the manifest's export (--manifest PATH) cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.with_suffix(".probe")
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write the manifest {path}: {exc.strerror or exc}; nothing was loaded",
                          hint="pass --manifest a writable path, or leave it out (the manifest is recorded in "
                               "the schema either way)") from None


def write_manifest(manifest: dict[str, Any], path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a manifest
    except OSError as exc:
        raise OutputError(f"the manifest could not be exported to {path}: {exc.strerror or exc} (what was loaded "
                          "and its manifest in the schema are committed)",
                          hint="export it again with `datagen status --export PATH`") from None


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at path, or None when there is none (or it is unreadable: it is rewritten)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def core_scale(manifest: dict[str, Any] | None) -> float | None:
    """The --scale the manifest's core tables were generated at (its last `generate` run; runs recorded before
    --scale existed were at 1), or None when it records no such run."""
    for run in reversed((manifest or {}).get("runs", [])):
        if str(run.get("command", "")).startswith("generate") and run.get("command") != "generate-events":
            return float(run.get("scale", 1.0))
    return None


def scale_mismatch(manifest: dict[str, Any] | None, scale: float, where: str) -> str | None:
    """Why this run's --scale cannot go with the core tables in where (a schema, a dataset), or None."""
    recorded = core_scale(manifest)
    if recorded is None or recorded == scale:
        return None
    return (f"{where} holds core tables generated with --scale {recorded:g} (its manifest records it), and "
            f"this run has --scale {scale:g}")
