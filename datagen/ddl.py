"""The DDL of every table, rendered from its declaration in datagen/tables.py (as dlt renders each destination's
DDL from its table schema). The loaders execute these statements; sql/schema.sql is the same text for a DBA to
read, written by `just ddl --write` and held to this module by a test. Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Iterator

from psycopg import sql

from datagen.tables import CORE_TABLES, DEFAULT_LAYOUT, EVENT_TABLES, SCHEMA, TABLES, ForeignKey, Table

DDL_FILE = "sql/schema.sql"  # relative to the repository root
# Ownership: datagen comments every table it creates and only ever replaces tables that carry such a comment
# (or day partitions named like its own and commented "datagen events ..."); --adopt takes a table over.
OWNER_PREFIX = "managed by datagen"
OWNER_COMMENT = f"{OWNER_PREFIX}: replaced by `just generate`"
EVENT_OWNER_COMMENT = f"{OWNER_PREFIX}: day partitions replaced by `just generate-events`"


def owner_comment(t: Table) -> str:
    return EVENT_OWNER_COMMENT if t.partitioned else OWNER_COMMENT


def _name(schema: str, relation: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(relation))


def create_table(t: Table, schema: str, layout: str = DEFAULT_LAYOUT, *, relation: str | None = None) -> sql.Composed:
    """CREATE TABLE IF NOT EXISTS for t in layout. A core table gets its keys after the data (add_primary_key,
    add_foreign_key: faster than checking row by row); an event table is the parent of its day partitions,
    PARTITION BY RANGE of its primary key, with the keys on the parent (PostgreSQL checks them for each day as
    it is attached). With relation: a plain table of t's columns by that name (a day being staged), keys
    added after its COPY."""
    lines = [sql.SQL("    {} {}{}").format(sql.Identifier(c.name), sql.SQL(c.pg_type),
                                           sql.SQL("" if c.nullable else " NOT NULL"))
             for c in t.stored_columns(layout)]
    if relation is not None:
        return sql.SQL("CREATE TABLE {} (\n{}\n)").format(_name(schema, relation), sql.SQL(",\n").join(lines))
    if t.partitioned:
        lines.append(sql.SQL("    CONSTRAINT {} PRIMARY KEY ({})").format(
            sql.Identifier(t.pk_constraint()), sql.Identifier(t.primary_key)))
        lines += [sql.SQL("    CONSTRAINT {} {}").format(sql.Identifier(t.fk_constraint(fk)), _references(fk, schema))
                  for fk in t.foreign_keys]
    tail = sql.SQL(") PARTITION BY RANGE ({})").format(sql.Identifier(t.primary_key)) if t.partitioned else sql.SQL(")")
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} (\n{}\n{}").format(
        _name(schema, t.name), sql.SQL(",\n").join(lines), tail)


def _references(fk: ForeignKey, schema: str) -> sql.Composed:
    return sql.SQL("FOREIGN KEY ({}) REFERENCES {} ({})").format(
        sql.Identifier(fk.column), _name(schema, TABLES[fk.parent].name), sql.Identifier(fk.parent_column))


def comment(t: Table, schema: str, text: str, *, relation: str | None = None) -> sql.Composed:
    return sql.SQL("COMMENT ON TABLE {} IS {}").format(_name(schema, relation or t.name), sql.Literal(text))


def add_primary_key(t: Table, schema: str, *, relation: str | None = None,
                    constraint: str | None = None) -> sql.Composed:
    """t's primary key (on relation, a staging table of t's, under constraint, when given)."""
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
        _name(schema, relation or t.name), sql.Identifier(constraint or t.pk_constraint()),
        sql.Identifier(t.primary_key))


def add_foreign_key(t: Table, fk: ForeignKey, schema: str, *, relation: str | None = None,
                    constraint: str | None = None) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
        _name(schema, relation or t.name), sql.Identifier(constraint or t.fk_constraint(fk)),
        _references(fk, schema))


def drop_constraint(t: Table, constraint: str, schema: str) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
        _name(schema, t.name), sql.Identifier(constraint))


def packed_view(t: Table, schema: str) -> sql.Composed:
    """The view over t's typed layout that reads like its contract layout: the packed columns as one jsonb
    object, without the keys an event type does not carry (jsonb_strip_nulls, as the legacy per-type objects)."""
    assert t.packed is not None, t.key
    keys = {k for k, _ in t.packed.keys}
    pairs = [sql.SQL("        {}, {}").format(sql.Literal(k), sql.Identifier(k)) for k, _ in t.packed.keys]
    packed = sql.SQL("jsonb_strip_nulls(jsonb_build_object(\n{}\n    )) AS {}").format(
        sql.SQL(",\n").join(pairs), sql.Identifier(t.packed.column))
    select = [packed if c.name == t.packed.column else sql.SQL("{}").format(sql.Identifier(c.name))
              for c in t.stored_columns("contract") if c.name not in keys]
    return sql.SQL("CREATE OR REPLACE VIEW {} AS\nSELECT\n{}\nFROM {}").format(
        _name(schema, t.view_name), sql.SQL(",\n").join(sql.SQL("    {}").format(s) for s in select),
        _name(schema, t.name))


def _statements(schema: str) -> Iterator[tuple[str, sql.Composed] | tuple[str, sql.Composed, bool]]:
    """Every statement of the schema file, each after the comment lines that say when datagen runs it (and
    True when the file shows it commented out)."""
    for t in CORE_TABLES:
        yield f"{t.key}: {t.doc}", create_table(t, schema)
    yield "The core tables' keys, added in one transaction after COPY and dropped by name before a replace.", \
        sql.SQL(";\n").join(add_primary_key(t, schema) for t in CORE_TABLES)
    yield "", sql.SQL(";\n").join(add_foreign_key(t, fk, schema) for t in CORE_TABLES for fk in t.foreign_keys)
    for t in EVENT_TABLES:
        note = (f"{t.key}: {t.doc} One partition per day of the event range, named {t.name}_pYYYYMMDD; a day's "
                "ids are one contiguous run, so a window of days is replaced by swapping whole partitions.")
        if t.packed is not None:
            note += (f" In the contract layout (events.{t.key}.layout: contract, the default) {t.packed.column} "
                     "holds the measurements the staging model reads as jsonb keys.")
        yield note, create_table(t, schema)
        if t.packed is not None:
            yield (f"{t.key} in the typed layout (events.{t.key}.layout: typed), which datagen creates instead of "
                   f"the table above: the measurements as typed columns, with the view {t.view_name} that reads "
                   "like the contract layout. Commented out here: a schema holds one layout."), \
                sql.SQL("{};\n{}").format(create_table(t, schema, "typed"), packed_view(t, schema)), True
    for t in CORE_TABLES + EVENT_TABLES:
        yield ("Every table datagen creates carries its ownership comment; datagen replaces only tables that do "
               "(or that --adopt takes over).") if t is CORE_TABLES[0] else "", comment(t, schema, owner_comment(t))


def script(schema: str = SCHEMA) -> str:
    """The whole schema as SQL text: what sql/schema.sql holds."""
    out = ["-- Generated from datagen/tables.py by `just ddl --write` (python -m datagen ddl --write); do not edit.",
           f"-- Schema {schema}: `just ddl --schema NAME` prints it for another schema. datagen runs these statements",
           "-- itself (core tables when missing, keys after each load, event tables when missing).", ""]
    for note, stmt, *commented in _statements(schema):
        out += _wrap(note)
        text = stmt.as_string() + ";"
        out += ["\n".join("-- " + line for line in text.splitlines()) if commented else text, ""]
    return "\n".join(out)


def _wrap(note: str, width: int = 110) -> list[str]:
    lines: list[str] = []
    for word in note.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append("-- " + word)
    return lines
