"""What the PostgreSQL catalog says about a schema, and the changes to it that are not data: relation lookups,
ownership, columns and layouts, day partitions, staging tables and the advisory lock. Every loader, validate,
status and regenerate ask here; the DDL itself is rendered by datagen/ddl.py."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from datagen import ddl
from datagen.ddl import EVENT_OWNER_COMMENT, OWNER_COMMENT, OWNER_PREFIX
from datagen.errors import DatabaseError, RefusedError
from datagen.tables import CORE_TABLES, DEFAULT_LAYOUT, EVENT_TABLES, LAYOUTS, TABLES, Column, Table

Cursor = psycopg.Cursor[tuple[object, ...]]
PARTITION_PREFIX = "datagen events "  # the digest comment on every day partition (load_events.DIGEST_COMMENT)
# a range partition's bound, as pg_get_expr prints it
_BOUND = re.compile(r"FOR VALUES FROM \((-?\d+)\) TO \((-?\d+)\)")


@dataclass(frozen=True)
class Relation:
    kind: str  # pg_class.relkind: r table, p partitioned table, v view ...
    comment: str  # its COMMENT ON TABLE, "" when none
    is_partition: bool

    @property
    def is_table(self) -> bool:
        return self.kind in ("r", "p")


def relations(cur: Cursor, schema: str, names: Sequence[str] | None = None) -> dict[str, Relation]:
    """The relations of schema (only those named, when names are given): the one pg_class lookup."""
    query = ("SELECT c.relname, c.relkind, coalesce(obj_description(c.oid, 'pg_class'), ''), c.relispartition "
             "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s")
    if names is None:
        cur.execute(query, (schema,))
    else:
        cur.execute(query + " AND c.relname = ANY(%s)", (schema, list(names)))
    return {str(name): Relation(str(kind), str(comment), bool(part)) for name, kind, comment, part in cur.fetchall()}


def tables_present(cur: Cursor, schema: str, tables: Sequence[Table]) -> set[str]:
    """The keys of tables that exist in schema as tables (not views, not partitions)."""
    found = relations(cur, schema, [t.name for t in tables])
    return {t.key for t in tables if t.name in found and found[t.name].is_table and not found[t.name].is_partition}


def lock_key(schema: str) -> int:
    # one advisory lock per target schema: two loads into the same schema queue instead of interleaving
    return zlib.crc32(f"datagen:{schema}".encode()) - 2**31


def create_missing(cur: Cursor, schema: str, tables: Sequence[Table]) -> None:
    """Create every missing core table (when any of tables is missing), each with our comment."""
    before = relations(cur, schema, [t.name for t in CORE_TABLES])
    if all(t.name in before for t in tables):
        return
    for t in CORE_TABLES:
        if t.name not in before:
            cur.execute(ddl.create_table(t, schema))
            cur.execute(ddl.comment(t, schema, OWNER_COMMENT))


def claim(cur: Cursor, schema: str, tables: Sequence[Table], *, adopt: bool) -> None:
    """Refuse to replace a table of one of our names that datagen did not create; with adopt, take it over."""
    for name, rel in relations(cur, schema, [t.name for t in tables]).items():
        if not rel.is_table or rel.comment.startswith(OWNER_PREFIX):
            continue
        if not adopt:
            raise RefusedError(
                f"table {schema}.{name} was not created by datagen (it has no datagen comment), so datagen will not "
                "replace its rows; nothing was changed",
                hint=f"pass --adopt to let datagen take {schema}.{name} over (its rows will be replaced), or load "
                     "into another --schema")
        t = next(t for t in tables if t.name == name)
        cur.execute(ddl.comment(t, schema, ddl.owner_comment(t)))


def columns(cur: Cursor, schema: str, t: Table) -> dict[str, str]:
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (schema, t.name))
    return {str(name): str(typ) for name, typ in cur.fetchall()}


def _mismatch(found: dict[str, str], wanted: tuple[Column, ...]) -> str:
    missing = [c.name for c in wanted if c.name not in found]
    wrong = [f"{c.name} is {found[c.name]}, expected {c.pg_type}" for c in wanted
             if c.name in found and found[c.name] != c.pg_type]
    return "; ".join(([f"missing columns {', '.join(missing)}"] if missing else []) + wrong)


def _in_the_way(schema: str, t: Table, detail: str) -> DatabaseError:
    return DatabaseError(
        f"table {schema}.{t.name} is in the way: its columns do not match datagen's ({detail}); nothing was changed",
        hint=f"drop or rename {schema}.{t.name}, or load into another schema with --schema")


def add_new_columns(cur: Cursor, schema: str, t: Table) -> None:
    """A column datagen declares that an older datagen's table lacks (users.permissions, say) is added, in the
    load's transaction (the table is about to be refilled); a changed type is still refused by check_columns."""
    rel = relations(cur, schema, [t.name]).get(t.name)
    if rel is None or rel.kind != "r":  # a view or anything else of that name is check_columns' to refuse
        return
    found = columns(cur, schema, t)
    for c in t.columns:
        if c.name not in found and c.nullable:
            cur.execute(sql.SQL("ALTER TABLE {}.{} ADD COLUMN {} {}").format(
                sql.Identifier(schema), sql.Identifier(t.name), sql.Identifier(c.name), sql.SQL(c.pg_type)))


def check_columns(cur: Cursor, schema: str, t: Table,
                  layout: str = DEFAULT_LAYOUT) -> None:
    """A table of ours whose columns differ from the declaration (in layout) is in the way: refuse, change
    nothing."""
    detail = _mismatch(columns(cur, schema, t), t.stored_columns(layout))
    if detail:
        raise _in_the_way(schema, t, detail)


def layout_found(cur: Cursor, schema: str, t: Table, wanted: str) -> str | None:
    """The layout t is stored in (exactly its columns: an event table's day partitions must have exactly the
    parent's), the wanted one first; None when no layout of t's matches."""
    found = columns(cur, schema, t)
    first = t.layout_of(wanted)
    for layout in (first, *(x for x in LAYOUTS if t.packed is not None and x != first)):
        if not _mismatch(found, t.stored_columns(layout)) and len(found) == len(t.stored_columns(layout)):
            return layout
    return None


def stored_layout(cur: Cursor, schema: str, t: Table, wanted: str) -> str:
    """layout_found, where a table matching no layout of t's is in the way."""
    layout = layout_found(cur, schema, t, wanted)
    if layout is not None:
        return layout
    found = columns(cur, schema, t)
    wanted_columns = t.stored_columns(t.layout_of(wanted))
    extra = [c for c in found if c not in {w.name for w in wanted_columns}]
    detail = "; ".join(x for x in (_mismatch(found, wanted_columns),
                                   f"extra columns {', '.join(extra)}" if extra else "") if x)
    raise _in_the_way(schema, t, detail)


def existing_partitions(cur: Cursor, schema: str,
                        table: Table) -> dict[str, tuple[int, int, str]]:
    """Partitions of the table: name -> ([from, to) of their id range, their comment)."""
    cur.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), coalesce(obj_description(c.oid, 'pg_class'), '') "
        "FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace WHERE n.nspname = %s AND p.relname = %s", (schema, table.name))
    out = {}
    for name, bound, comment in cur.fetchall():
        m = _BOUND.search(str(bound))
        lo, hi = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        out[str(name)] = (lo, hi, str(comment))
    return out


def our_partitions(cur: Cursor, schema: str,
                   table: Table) -> dict[str, tuple[int, int, str]]:
    """existing_partitions, refusing when one of them is not a day partition datagen made (never dropped)."""
    parts = existing_partitions(cur, schema, table)
    for name, (_, _, comment) in sorted(parts.items()):
        if not (table.day_of(name) and comment.startswith(PARTITION_PREFIX)):
            raise RefusedError(
                f"partition {schema}.{name} of {table.name} was not made by datagen, so datagen will not drop it; "
                "nothing was changed",
                hint=f"detach it first (ALTER TABLE {schema}.{table.name} DETACH PARTITION {schema}.{name}), or "
                     "use another --schema")
    return parts


def remove_partition(cur: Cursor, schema: str, table: Table, name: str) -> None:
    """Detach a day partition (PostgreSQL checks nothing still references it) and drop it."""
    s = sql.Identifier(schema)
    cur.execute(sql.SQL("ALTER TABLE {}.{} DETACH PARTITION {}.{}").format(
        s, sql.Identifier(table.name), s, sql.Identifier(name)))
    cur.execute(sql.SQL("DROP TABLE {}.{}").format(s, sql.Identifier(name)))


def create_event_tables(cur: Cursor, schema: str, layout: str) -> None:
    """The event tables that are missing, in layout; a table in the typed layout gets its view too."""
    for t in EVENT_TABLES:
        cur.execute(ddl.create_table(t, schema, t.layout_of(layout)))
        if t.packed is not None and layout_found(cur, schema, t, layout) == "typed":  # CREATE OR REPLACE VIEW
            cur.execute(ddl.packed_view(t, schema))


def switch_layout(cur: Cursor, schema: str, t: Table, layout: str) -> None:
    """Replace the (emptied) partitioned table t with one in layout, keeping its comment and the foreign keys
    it had at this moment (generate --only has dropped the ones it adds back itself). PostgreSQL refuses to
    drop the table while objects other than datagen's view depend on it."""
    s, name = sql.Identifier(schema), sql.Identifier(t.name)
    cur.execute("SELECT con.conname FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s AND con.contype = 'f'", (schema, t.name))
    kept = {str(r[0]) for r in cur.fetchall()}
    rel = relations(cur, schema, [t.name]).get(t.name)
    comment = rel.comment if rel is not None and rel.comment else EVENT_OWNER_COMMENT
    _refuse_extras(cur, schema, t, layout)
    # who may read it and who owns it carry over to the new table (a dbt role's SELECT, say)
    cur.execute("SELECT pg_get_userbyid(c.relowner), a.privilege_type, a.is_grantable, "
                "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "LEFT JOIN LATERAL aclexplode(c.relacl) a ON true WHERE n.nspname = %s AND c.relname = %s",
                (schema, t.name))
    acl = cur.fetchall()
    try:
        cur.execute(sql.SQL("DROP VIEW IF EXISTS {}.{}").format(s, sql.Identifier(t.view_name)))
        cur.execute(sql.SQL("DROP TABLE {}.{}").format(s, name))
    except psycopg.errors.DependentObjectsStillExist as exc:
        detail = "; ".join((exc.diag.message_detail or "").splitlines())
        raise RefusedError(
            f"{schema}.{t.name} cannot switch to the {layout} layout while other objects depend on it ({detail}); "
            "nothing was changed",
            hint=f"drop or recreate those objects after the switch, or keep events.{t.key}.layout as it was") from None
    create_event_tables(cur, schema, layout)
    cur.execute(ddl.comment(t, schema, comment))
    if acl:
        cur.execute(sql.SQL("ALTER TABLE {}.{} OWNER TO {}").format(s, name, sql.Identifier(str(acl[0][0]))))
    for _, privilege, grantable, grantee in acl:
        if privilege is None:
            continue
        to = sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(str(grantee))
        cur.execute(sql.SQL("GRANT {} ON TABLE {}.{} TO {}{}").format(
            sql.SQL(str(privilege)), s, name, to, sql.SQL(" WITH GRANT OPTION" if grantable else "")))
    for fk in t.foreign_keys:
        if t.fk_constraint(fk) not in kept:
            cur.execute(ddl.drop_constraint(t, t.fk_constraint(fk), schema))


def _refuse_extras(cur: Cursor, schema: str, t: Table, layout: str) -> None:
    """Indexes, triggers and policies someone added to t would not survive its switch: refuse, naming them."""
    cur.execute(
        "SELECT 'index ' || i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_class c ON c.oid = x.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %(s)s AND c.relname = %(t)s AND i.relname <> %(pk)s "
        "UNION ALL SELECT 'trigger ' || g.tgname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s AND c.relname = %(t)s "
        "AND NOT g.tgisinternal "
        "UNION ALL SELECT 'policy ' || p.polname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s AND c.relname = %(t)s ORDER BY 1",
        {"s": schema, "t": t.name, "pk": t.pk_constraint()})
    extras = [str(r[0]) for r in cur.fetchall()]
    if extras:
        raise RefusedError(
            f"{schema}.{t.name} cannot switch to the {layout} layout: it would lose {', '.join(extras)}, which "
            "datagen did not create; nothing was changed",
            hint=f"drop them and recreate them after the switch, or keep events.{t.key}.layout as it was")


def drop_staging(cur: Cursor, schema: str) -> None:
    """Drop the staging tables (`<partition>_load`) a generate-events run left behind; never a partition."""
    patterns = [re.compile(t.staging_pattern) for t in TABLES.values() if t.partitioned]
    for name, rel in relations(cur, schema).items():
        if rel.kind == "r" and not rel.is_partition and any(p.fullmatch(name) for p in patterns):
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(sql.Identifier(schema), sql.Identifier(name)))
