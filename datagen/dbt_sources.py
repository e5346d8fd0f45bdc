"""`datagen dbt-sources`: the dbt sources YAML for a loaded schema, written from the table declarations.

Source `app_database`, one table per declaration with its PostgreSQL name as `identifier`, every stored
column (in the config's tap-event layout) with a one-line description, and tests that follow from the
declarations alone, never from what the data happens to hold: `unique` + `not_null` on primary keys,
`not_null` on columns declared NOT NULL, `relationships` on foreign keys, `equals_parent` on denormalized
copies (a generic test shipped in tests/dbt/macros/equals_parent.sql: copy it into your project's macros),
and `accepted_values` on the value domains the builders write (datagen.domains).
"""

from __future__ import annotations

from typing import Any

import yaml

from datagen.config import Config
from datagen.domains import domains
from datagen.tables import CORE_TABLES, EVENT_TABLES, Column, Table

SOURCE = "app_database"  # the platform's staging models read source('app_database', '<table>')
MAX_LISTED = 8  # values named in a description; the accepted_values test lists all of them


def _ref(table: str) -> str:
    return f"source('{SOURCE}', '{table}')"


def _describe(t: Table, c: Column, domain: tuple[str, ...] | None, layout: str) -> str:
    packed = t.packed if t.packed is not None and t.layout_of(layout) == "contract" else None
    if packed is not None and c.name == packed.column:
        keys = ", ".join(f"{k} ({'integer' if d == 0 else f'{d} decimal' + ('s' if d > 1 else '')})"
                         for k, d in packed.keys)
        return (f"jsonb, never NULL: the measurements the event's type carries, as number keys {keys}; "
                "an empty object for events without measurements")
    parts = [c.pg_type + ("" if c.nullable else ", never NULL")]
    if c.name == t.primary_key:
        parts.append("primary key")
    parts += [f"references {fk.parent}.{fk.parent_column}" for fk in t.foreign_keys if fk.column == c.name]
    for column, via, parent_column in t.copies:
        if column == c.name:
            parent = next(fk.parent for fk in t.foreign_keys if fk.column == via)
            parts.append(f"a copy of {parent}.{parent_column} of the row {via} points at")
    if t.partitioned and c.name == t.time_column:
        parts.append("the event time; its day is the row's day partition (the incremental watermark)")
    if c.name == "created_at" and not t.partitioned:
        parts.append("when the row was created")
    if domain:
        shown = ", ".join(domain[:MAX_LISTED]) + (f" and {len(domain) - MAX_LISTED} more" if len(domain) > MAX_LISTED
                                                  else "")
        parts.append(f"one of {shown}")
    return "; ".join(parts)


def _tests(t: Table, c: Column, domain: tuple[str, ...] | None) -> list[Any]:
    tests: list[Any] = []
    if c.name == t.primary_key:
        tests.append("unique")
    if not c.nullable:
        tests.append("not_null")
    for fk in t.foreign_keys:
        if fk.column == c.name:
            tests.append({"relationships": {"to": _ref(fk.parent), "field": fk.parent_column}})
    for column, via, parent_column in t.copies:
        if column == c.name:
            fk = next(fk for fk in t.foreign_keys if fk.column == via)
            tests.append({"equals_parent": {"via": via, "to": _ref(fk.parent), "parent_key": fk.parent_column,
                                            "parent_field": parent_column}})
    if domain:
        tests.append({"accepted_values": {"values": list(domain)}})
    return tests


def sources(cfg: Config, *, schema: str, database: str | None = None) -> dict[str, Any]:
    """The sources document (a dict for yaml.safe_dump)."""
    layout = cfg.events.tap_layout
    values = domains(cfg)
    tables = []
    for t in CORE_TABLES + EVENT_TABLES:
        columns = []
        for c in t.stored_columns(layout):
            domain = values.get(t.key, {}).get(c.name)
            entry: dict[str, Any] = {"name": c.name, "description": _describe(t, c, domain, layout)}
            tests = _tests(t, c, domain)
            if tests:
                entry["data_tests"] = tests
            columns.append(entry)
        doc = t.doc
        if t.partitioned:
            doc += f" Partitioned by {t.primary_key} range, one partition per day of {t.time_column}."
        if t.packed is not None:
            doc += f" Stored in the {t.layout_of(layout)} layout (events.{t.key}.layout)."
        tables.append({"name": t.key, "identifier": t.name, "description": doc, "columns": columns})
    source: dict[str, Any] = {"name": SOURCE}
    if database:
        source["database"] = database
    source.update({
        "schema": schema,
        "loader": "datagen",
        "description": f"The TapFlow app database's raw tables, as `datagen` loads them (seed {cfg.seed}).",
        "tables": tables,
    })
    return {"version": 2, "sources": [source]}


def render(cfg: Config, *, schema: str, database: str | None = None, config_path: str = "") -> str:
    """The YAML text, with a header saying how it was made."""
    head = (f"# Written by `datagen dbt-sources` from datagen's table declarations"
            f"{f' and {config_path}' if config_path else ''}; regenerate it rather than editing it.\n"
            "# equals_parent is a generic test shipped in datagen's tests/dbt/macros/equals_parent.sql.\n")
    return head + yaml.safe_dump(sources(cfg, schema=schema, database=database), sort_keys=False, width=120,
                                 allow_unicode=True)

