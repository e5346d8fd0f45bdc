"""Stage 1: build every core table as a Polars frame from the config and its seed. No database."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from datagen.builders import accounts, device_maintenance_logs, devices, locations, subscriptions, users
from datagen.builders._common import with_nulls
from datagen.config import Config
from datagen.rng import stream
from datagen.tables import CORE_TABLES, conform


@dataclass(frozen=True)
class Generated:
    """Frames as loaded (declared columns only) and as built (with internal `_` columns for children)."""

    frames: dict[str, pl.DataFrame]
    full: dict[str, pl.DataFrame]
    seconds: float


def generate(cfg: Config, *, on_table: Callable[[str, int], None] | None = None) -> Generated:
    """Build the core tables in hierarchical order; each table draws from its own random stream."""
    t0 = time.perf_counter()
    full: dict[str, pl.DataFrame] = {}

    def rng(key: str):  # type: ignore[no-untyped-def]
        return stream(cfg.seed, key)

    steps: list[tuple[str, Callable[[], pl.DataFrame]]] = [
        ("accounts", lambda: accounts.build(cfg, rng("accounts"))),
        ("locations", lambda: locations.build(cfg, full["accounts"], rng("locations"))),
        ("devices", lambda: devices.build(cfg, full["locations"], rng("devices"))),
        ("users", lambda: users.build(cfg, full["accounts"], rng("users"))),
        ("subscriptions", lambda: subscriptions.build(cfg, full["accounts"], full["devices"],
                                                        rng("subscriptions"))),
        ("device_maintenance_logs", lambda: device_maintenance_logs.build(cfg, full["devices"],
                                                                          rng("device_maintenance_logs"))),
    ]
    for key, build in steps:
        full[key] = build()
        if on_table is not None:
            on_table(key, full[key].height)
    # optional columns NULL at data_quality's rate, in the frames as loaded (the builders above read `full`)
    frames = {t.key: with_nulls(conform(full[t.key], t), t, cfg.optional_null_rate, stream(cfg.seed, t.key, "nulls"))
              for t in CORE_TABLES}
    return Generated(frames=frames, full=full, seconds=time.perf_counter() - t0)
