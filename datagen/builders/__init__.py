"""The builder registry: one builder per declared table, under the two protocols of builders/_protocol.py.

Stages look a table's builder up here by its key (generate for the core tables, events for the partitions);
nothing else dispatches on table names. tests/test_registry.py holds the registry to the declarations."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from datagen.builders import (
    accounts,
    device_maintenance_logs,
    devices,
    feature_usage,
    locations,
    page_views,
    subscriptions,
    tap_events,
    user_sessions,
    users,
)
from datagen.builders._people import people
from datagen.builders._protocol import CoreBuilder, EventBuilder, EventInputs, Part
from datagen.config import Config

__all__ = ["CORE", "EVENTS", "CoreBuilder", "EventBuilder", "EventInputs", "Part", "prepare_event_inputs"]

# The inputs a core builder may declare besides its parents, prepared by datagen.inputs.
US_CITIES = "us_cities"

CORE: dict[str, CoreBuilder] = {
    "accounts": CoreBuilder(accounts.build),
    "locations": CoreBuilder(locations.build, inputs=(US_CITIES,)),
    "devices": CoreBuilder(devices.build),
    "users": CoreBuilder(users.build),
    "subscriptions": CoreBuilder(subscriptions.build),
    "device_maintenance_logs": CoreBuilder(device_maintenance_logs.build),
}


EVENTS: dict[str, EventBuilder] = {
    "tap_events": EventBuilder(tap_events.build, tap_events.count, blocks=lambda inputs: inputs.taps.blocks,
                               slices=tap_events.build_slices),
    "user_sessions": EventBuilder(user_sessions.build, user_sessions.count),
    "page_views": EventBuilder(page_views.build, page_views.count),
    "feature_usage": EventBuilder(feature_usage.build, feature_usage.count),
}


def prepare_event_inputs(cfg: Config, full: Mapping[str, pl.DataFrame]) -> EventInputs:
    """What the partition builders read from the core entities (as built), computed once per run."""
    return EventInputs(
        taps=tap_events.context(cfg, full["devices"], full["accounts"]),
        people=people(cfg, full["users"], full["accounts"], full["locations"], full["devices"]),
    )
