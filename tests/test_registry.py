"""The builder registry and the declarations agree; the stages take their wiring from them, not from table names."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from datagen import builders, inputs
from datagen.builders._protocol import CoreBuild, PartitionBuild, PartitionCount
from datagen.config import ID_TABLES
from datagen.events import event_tables
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES, same_day_groups, same_day_parents

PACKAGE = Path(builders.__file__).resolve().parent.parent


def test_every_declared_table_has_one_builder_of_its_kind() -> None:
    assert list(builders.CORE) == [t.key for t in CORE_TABLES]
    assert list(builders.EVENTS) == [t.key for t in EVENT_TABLES]
    assert (*builders.CORE, *builders.EVENTS) == ID_TABLES  # one id range per declared table
    for entry in builders.CORE.values():
        assert list(inspect.signature(entry.build).parameters) == list(
            inspect.signature(CoreBuild.__call__).parameters)[1:]
        assert set(entry.inputs) <= set(inputs.PREPARE)
    for ev in builders.EVENTS.values():
        assert list(inspect.signature(ev.build).parameters) == list(
            inspect.signature(PartitionBuild.__call__).parameters)[1:]
        assert list(inspect.signature(ev.count).parameters) == list(
            inspect.signature(PartitionCount.__call__).parameters)[1:]


def test_same_day_links_come_from_the_foreign_keys() -> None:
    assert {t.key: same_day_parents(t) for t in EVENT_TABLES if same_day_parents(t)} == {
        "page_views": ["user_sessions"]}
    assert same_day_groups() == [("tap_events",), ("user_sessions", "page_views"), ("feature_usage",)]
    assert event_tables(("page_views",)) == event_tables(("user_sessions",)) == ("user_sessions", "page_views")
    assert event_tables(("feature_usage", "tap_events")) == ("tap_events", "feature_usage")


def test_builders_neither_create_streams_nor_touch_files_nor_the_database() -> None:
    for path in sorted((PACKAGE / "builders").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for banned in ("stream(", "psycopg", "open(", "write_", "home_dir", "Path("):
            assert banned not in text, f"{path.name} uses {banned}"


def test_no_stage_dispatches_on_a_table_name() -> None:
    """`t.key == "devices"` and friends belong in the declarations or the registry, nowhere else."""
    names = "|".join(t.key for t in CORE_TABLES + EVENT_TABLES)
    dispatch = re.compile(rf"""(?:key|table|\bt|\bk)\s*(?:==|!=)\s*["'](?:{names})["']""")
    found = [f"{p.relative_to(PACKAGE)}:{i}" for p in sorted(PACKAGE.rglob("*.py"))
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if dispatch.search(line)]
    assert found == []


def test_a_same_day_parent_is_one_partition_a_day_with_no_same_day_parent_of_its_own() -> None:
    """What events.Streams.same_day supports: it builds a parent's one partition of the day from the part's ids."""
    for t in EVENT_TABLES:
        for key in same_day_parents(t):
            assert builders.EVENTS[key].blocks is None, (t.key, key)
            assert same_day_parents(TABLES[key]) == [], (t.key, key)
