"""Preloaded into a Dask worker by tests/test_executors.py (`dask worker --preload tests/dask_other_versions.py`):
that worker reports another numpy version than the coordinator, as a worker installed elsewhere would."""

from __future__ import annotations

from importlib.metadata import version

import datagen.executors as executors


def _other_numpy() -> dict[str, str]:
    return {**{name: version(name) for name in executors.VERSIONED}, "numpy": "1.0.0"}


executors.versions = _other_numpy
