"""The two builder protocols and what they receive. Every builder is a pure function of its config, its parent
frames and the random stream the stage hands it; none touches a database or a file, none creates its own stream."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import polars as pl

from datagen.config import Config

if TYPE_CHECKING:
    from datagen.builders._people import People
    from datagen.builders.tap_events import Context


@dataclass(frozen=True)
class Part:
    """One unit of generation: rows first_id .. first_id + rows - 1 of table, all on day."""

    table: str
    day: dt.date
    block: int
    first_id: int
    rows: int
    # the first id on this day of each same-day parent (an event table this one references: page views' sessions)
    same_day_first: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class EventInputs:
    """What the partition builders need from the core entities, prepared once per run (builders.prepare)."""

    taps: Context
    people: People


class CoreBuild(Protocol):
    def __call__(self, cfg: Config, parents: Mapping[str, pl.DataFrame], rng: np.random.Generator) -> pl.DataFrame:
        """The table's rows, plus internal `_` columns its children read. parents: the built frames of the tables
        it declares as parents (foreign keys, derived_from) and the inputs it declares (CoreBuilder.inputs)."""


class PartitionBuild(Protocol):
    def __call__(self, cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
                 rng: np.random.Generator) -> pl.DataFrame:
        """The partition's part.rows rows, ids part.first_id onward. same_day: the same day's partitions of the
        event tables it references, as built."""


class PartitionCount(Protocol):
    def __call__(self, cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
                 rng: np.random.Generator) -> int:
        """How many rows the partition has (part.first_id and part.rows are not known yet), from the same stream
        the build draws from."""


@dataclass(frozen=True)
class CoreBuilder:
    build: CoreBuild
    inputs: tuple[str, ...] = ()  # prepared inputs besides the parent tables (datagen.inputs prepares them)


class PartitionSlices(Protocol):
    def __call__(self, cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
                 rng: np.random.Generator, max_rows: int | None) -> Iterator[pl.DataFrame]:
        """The partition as consecutive frames of at most max_rows rows each (where its units allow: a tap
        event slice holds whole devices), whose concatenation is exactly build's frame."""
        ...


@dataclass(frozen=True)
class EventBuilder:
    build: PartitionBuild
    count: PartitionCount
    # partitions per day (tap events: one per block of devices); None: one, and the stream key names no block
    blocks: Callable[[EventInputs], int] | None = None
    # the partition in slices, so a large one is built, checked and written a slice at a time (bounded memory,
    # whatever the fleet); None: the partition is one slice
    slices: PartitionSlices | None = None

    def stream_key(self, part: Part) -> tuple[str | int, ...]:
        """The key of the partition's random stream under the config seed: (table, day[, block])."""
        key: tuple[str | int, ...] = (part.table, part.day.isoformat())
        return key if self.blocks is None else (*key, part.block)
