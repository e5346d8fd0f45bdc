"""`datagen status`: what a schema holds, from its manifest table, against the catalog. No data is read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from rich.table import Table as RichTable

from datagen import manifest_store
from datagen.catalog import existing_partitions, tables_present
from datagen.db import Target, connect, describe, redact
from datagen.errors import DatabaseError
from datagen.tables import TABLES


@dataclass
class Status:
    schema: str
    target: str
    manifest: dict[str, Any] | None
    present: set[str]  # table keys present in the catalog
    missing: dict[str, list[str]] = field(default_factory=dict)  # per table: in the manifest, not in the catalog
    extra: dict[str, list[str]] = field(default_factory=dict)  # per table: in the catalog, not in the manifest

    @property
    def matches(self) -> bool:
        return not any(self.missing.values()) and not any(self.extra.values())


def read_status(target: Target, schema: str) -> Status:
    try:
        with connect(target) as conn, conn.cursor() as cur:
            manifest = manifest_store.read(cur, schema)
            present = tables_present(cur, schema, list(TABLES.values()))
            st = Status(schema, target.display, manifest, present)
            if manifest is None:
                return st
            for key, t in TABLES.items():
                recorded = key in manifest["tables"] or key in manifest["events"]
                if not t.partitioned:
                    st.missing[key] = [t.name] if recorded and key not in present else []
                    st.extra[key] = [t.name] if key in present and not recorded else []
                    continue
                listed = {str(p["partition"]) for p in manifest["events"].get(key, {}).get("partitions", {}).values()}
                found = set(existing_partitions(cur, schema, t)) if key in present else set()
                st.missing[key] = sorted(listed - found)
                st.extra[key] = sorted(found - listed)
            return st
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read schema {schema} at {describe(target.conninfo)}: "
                            f"{redact(str(exc).strip().splitlines()[0])}") from None


def _names(names: list[str], limit: int = 3) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def status_table(st: Status) -> RichTable:
    assert st.manifest is not None
    t = RichTable(title=f"Schema {st.schema} (manifest {st.schema}.{manifest_store.TABLE})", title_justify="left")
    for col in ("table", "rows", "days", "partitions", "layout", "manifest vs catalog"):
        t.add_column(col, justify="right" if col in ("rows", "partitions") else "left")
    for key, table in TABLES.items():
        entry = st.manifest["tables"].get(key) or st.manifest["events"].get(key)
        if entry is None and key not in st.present:
            continue
        parts = (entry or {}).get("partitions") or {}
        days = f"{min(parts)} to {max(parts)}" if parts else ""
        missing, extra = st.missing.get(key, []), st.extra.get(key, [])
        verdict = "; ".join(([f"[red]missing {_names(missing)}[/]"] if missing else [])
                            + ([f"[red]extra {_names(extra)}[/]"] if extra else [])) or "matches"
        rows = (entry or {}).get("rows")
        t.add_row(table.name, f"{rows:,}" if rows is not None else "not recorded", days,
                  f"{len(parts):,}" if table.partitioned else "",
                  (entry or {}).get("layout") or "" if table.packed is not None else "", verdict)
    return t


def runs_table(st: Status, last: int = 5) -> RichTable:
    assert st.manifest is not None
    t = RichTable(title=f"Runs (the last {last})", title_justify="left")
    for col in ("ended (UTC)", "command", "datagen", "seed", "config digest", "rows"):
        t.add_column(col, justify="right" if col == "rows" else "left")
    for run in st.manifest["runs"][-last:]:
        rows = run.get("rows") or {}
        t.add_row(str(run.get("ended_at", ""))[:19].replace("T", " "), str(run.get("command", "")),
                  str(run.get("datagen_version", "")), str(run.get("seed", "")), str(run.get("config_digest", "")),
                  f"{sum(int(v) for v in rows.values()):,}")
    return t
