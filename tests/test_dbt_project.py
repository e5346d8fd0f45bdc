"""The dbt project in tests/dbt stands in for the platform's staging layer: every raw column the platform's
staging models read by name (raw-tables.md, column S) must be read by name by its model here, with the same
renames, and the event models must be incremental on the same watermark. These tests read files only.

tests/dbt/raw-tables.md is a verbatim copy of the data contract (the shared reference is not in a clone), so
the expected columns come from the contract itself, not from a list kept next to the models.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from datagen import tables

DBT_DIR = Path(__file__).resolve().parent / "dbt"
CONTRACT = DBT_DIR / "raw-tables.md"
STAGING = DBT_DIR / "models" / "staging"

# Counted by hand from the S column of raw-tables.md sections 2-10 (a parser that finds nothing cannot pass).
EXPECTED_S_COUNTS = {
    "accounts": 7,
    "locations": 15,
    "users": 10,
    "devices": 20,
    "subscriptions": 10,
    "tap_events": 9,
    "user_sessions": 11,
    "page_views": 10,
    "feature_usage": 7,
}
CONTRACT_TABLES = tuple(EXPECTED_S_COUNTS)

# Staging renames (raw-tables.md section 0): raw id -> <entity>_id, raw customer_id -> account_id.
ID_RENAMES = {
    "accounts": "account_id",
    "locations": "location_id",
    "users": "user_id",
    "devices": "device_id",
    "subscriptions": "subscription_id",
    "tap_events": "tap_event_id",
    "device_maintenance_logs": "device_maintenance_log_id",
}
RENAMES = {"customer_id": "account_id"}

# Event models: (raw watermark column, unique key of the model).
INCREMENTAL = {
    "tap_events": ("timestamp", "tap_event_id"),
    "user_sessions": ("start_time", "session_id"),
    "page_views": ("timestamp", "page_view_id"),
    "feature_usage": ("timestamp", "usage_id"),
}
METRIC_KEYS = ("volume_ml", "temperature_c", "pressure_psi", "flow_rate_ml_per_sec", "duration_seconds")

# datagen loads this table too; no platform model reads it, so its model reads every column.
MAINTENANCE_COLUMNS = (
    "id", "device_id", "location_id", "customer_id", "maintenance_type", "scheduled_date", "performed_at",
    "technician", "duration_minutes", "parts_cost", "notes_category", "created_at", "updated_at",
)
ALL_TABLES = (*CONTRACT_TABLES, "device_maintenance_logs")

_SECTION = re.compile(r"^## \d+\. raw\.app_database_(\w+) \((\d+) columns\)\n(.*?)(?=^## |^---|\Z)", re.M | re.S)
_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_contract(text: str) -> dict[str, tuple[int, list[tuple[str, str]]]]:
    """table -> (column count in the heading, [(column, S cell)] for each real column row). Rows whose first
    cell is not a plain identifier (tap_events' `*(customer_id)*`, a column the DDL lacks) are skipped."""
    out: dict[str, tuple[int, list[tuple[str, str]]]] = {}
    for m in _SECTION.finditer(text):
        lines = [ln for ln in m.group(3).splitlines() if ln.startswith("|")]
        header = _cells(lines[0])
        assert header[0] == "column" and "S" in header, f"{m.group(1)}: unexpected table header {header}"
        s_at = header.index("S")
        rows = []
        for ln in lines[2:]:  # lines[1] is the |---| rule
            cells = _cells(ln)
            assert len(cells) == len(header), f"{m.group(1)}: row with {len(cells)} cells: {ln}"
            if _IDENT.fullmatch(cells[0]):
                rows.append((cells[0], cells[s_at]))
        out[m.group(1)] = (int(m.group(2)), rows)
    return out


def s_columns(table: str) -> list[str]:
    return [col for col, s in parse_contract(CONTRACT.read_text(encoding="utf-8"))[table][1] if s == "S"]


def model_path(table: str) -> Path:
    return STAGING / f"stg_app_database__{table}.sql"


def model_sql(table: str) -> str:
    """The model without Jinja and SQL comments, so a column named only in a comment does not count."""
    text = model_path(table).read_text(encoding="utf-8")
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)
    return re.sub(r"--[^\n]*", "", text)


def _selects(sql: str, expr: str, alias: str | None = None) -> re.Match[str] | None:
    """A select-list line that is exactly `expr` or `expr as <alias>` (any alias when alias is None)."""
    alias_re = r"(?P<alias>\w+)" if alias is None else rf"(?P<alias>{re.escape(alias)})"
    tail = rf"(?:\s+as\s+{alias_re})" + ("?" if alias is None else "")
    return re.search(rf"^\s*,?\s*{expr}{tail}\s*,?\s*$", sql, re.M | re.I)


def _col_expr(col: str) -> str:
    # "timestamp" must be quoted; other columns may be.
    return '"timestamp"' if col == "timestamp" else rf'"?{re.escape(col)}"?'


def output_name(sql: str, col: str) -> str | None:
    """The name the model gives raw column col, or None when no select line reads it by name."""
    m = _selects(sql, _col_expr(col))
    if m is None:
        return None
    return m.group("alias") or col


def test_contract_parses_to_the_hand_counts() -> None:
    parsed = parse_contract(CONTRACT.read_text(encoding="utf-8"))
    assert set(parsed) == set(CONTRACT_TABLES)
    for table, (declared, rows) in parsed.items():
        assert len(rows) == declared, f"{table}: heading says {declared} columns, the table lists {len(rows)}"
        assert len({c for c, _ in rows}) == len(rows), f"{table}: a column is listed twice"
        marks = {s for _, s in rows}
        assert marks <= {"S", "–"}, f"{table}: unexpected S cells {marks - {'S', '–'}}"
    counts = {t: sum(s == "S" for _, s in parsed[t][1]) for t in CONTRACT_TABLES}
    assert counts == EXPECTED_S_COUNTS


def test_every_table_has_one_model() -> None:
    found = {p.name for p in STAGING.glob("*.sql")}
    assert found == {model_path(t).name for t in ALL_TABLES}


@pytest.mark.parametrize("table", ALL_TABLES)
def test_model_reads_its_source(table: str) -> None:
    calls = re.findall(r"\{\{\s*source\(\s*'(\w+)'\s*,\s*'(\w+)'\s*\)\s*\}\}", model_sql(table))
    assert calls == [("app_database", table)]


@pytest.mark.parametrize("table", CONTRACT_TABLES)
def test_model_reads_every_s_column_by_name(table: str) -> None:
    sql = model_sql(table)
    missing = []
    for col in s_columns(table):
        if col == "metrics":
            for key in METRIC_KEYS:
                if not _selects(sql, rf"\(?\s*metrics\s*->>\s*'{key}'\s*\)?(?:\s*::\s*\w+)?", key):
                    missing.append(f"metrics->>'{key}' as {key}")
            if not _selects(sql, "metrics", "raw_metrics"):
                missing.append("metrics as raw_metrics")
        elif col == "id" or col in RENAMES:
            renamed = ID_RENAMES[table] if col == "id" else RENAMES[col]
            if not _selects(sql, _col_expr(col), renamed):
                missing.append(f"{col} as {renamed}")
        elif output_name(sql, col) is None:
            missing.append(col)
    assert not missing, f"{model_path(table).name} does not select {missing}"


def test_maintenance_model_reads_every_column() -> None:
    assert list(MAINTENANCE_COLUMNS) == tables.DEVICE_MAINTENANCE_LOGS.column_names
    sql = model_sql("device_maintenance_logs")
    expected = {"id": ID_RENAMES["device_maintenance_logs"], **RENAMES}
    missing = [c for c in MAINTENANCE_COLUMNS if not _selects(sql, _col_expr(c), expected.get(c))]
    assert not missing, f"{model_path('device_maintenance_logs').name} does not select {missing}"


@pytest.mark.parametrize("table", CONTRACT_TABLES)
def test_datagen_loads_every_s_column(table: str) -> None:
    """What the models read exists in the table datagen creates (the default, contract layout)."""
    (declared,) = [t for t in (*tables.CORE_TABLES, *tables.EVENT_TABLES) if t.key == table]
    stored = {c.name for c in declared.stored_columns()}
    assert set(s_columns(table)) - stored == set()


def _config(sql: str) -> dict[str, str]:
    m = re.search(r"\{\{\s*config\((.*?)\)\s*\}\}", sql, re.S)
    return dict(re.findall(r"(\w+)\s*=\s*'([^']*)'", m.group(1))) if m else {}


@pytest.mark.parametrize("table", list(INCREMENTAL))
def test_event_model_is_incremental_on_its_watermark(table: str) -> None:
    watermark, key = INCREMENTAL[table]
    sql = model_sql(table)
    assert _config(sql) == {"materialized": "incremental", "on_schema_change": "fail", "unique_key": key}
    assert output_name(sql, "id" if table == "tap_events" else key) == key
    out = output_name(sql, watermark)
    assert out is not None, f"{table} does not select {watermark}"
    # The filter sits on the source itself, so it compares the raw watermark with the model's maximum.
    filt = (rf"source\('app_database',\s*'{table}'\)\s*\}}\}}\s*"
            r"\{%-?\s*if\s+is_incremental\(\)\s*-?%\}\s*"
            rf"where\s+{_col_expr(watermark)}\s*>\s*\(\s*select\s+max\(\s*{out}\s*\)\s+from\s+\{{\{{\s*this\s*\}}\}}\s*\)"
            r"\s*\{%-?\s*endif\s*-?%\}")
    assert re.search(filt, sql, re.I), f"{table}: no `where {watermark} > max({out})` incremental filter"


@pytest.mark.parametrize("table", [t for t in ALL_TABLES if t not in INCREMENTAL])
def test_entity_model_is_a_view(table: str) -> None:
    assert _config(model_sql(table)).get("materialized", "view") == "view"
    assert "is_incremental" not in model_sql(table)


def test_project_and_profile() -> None:
    project = yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    assert (project["name"], project["profile"], project["config-version"]) == (
        "datagen_contract", "datagen_contract", 2)
    assert (project["model-paths"], project["macro-paths"], project["test-paths"]) == (
        ["models"], ["macros"], ["tests"])
    assert project["models"]["datagen_contract"]["staging"]["+materialized"] == "view"
    assert not (DBT_DIR / "packages.yml").exists() and not (DBT_DIR / "dependencies.yml").exists()

    profile = yaml.safe_load((DBT_DIR / "profiles.yml").read_text(encoding="utf-8"))["datagen_contract"]
    assert profile["target"] == "ci"
    ci = profile["outputs"]["ci"]
    assert (ci["type"], ci["threads"]) == ("postgres", 1)
    for field, var, default in (("host", "DBT_HOST", "127.0.0.1"), ("port", "DBT_PORT", "5432"),
                                ("user", "DBT_USER", "postgres"), ("password", "DBT_PASSWORD", ""),
                                ("dbname", "DBT_DBNAME", "test"), ("schema", "DBT_SCHEMA", "dbt_datagen")):
        assert re.fullmatch(rf"\{{\{{ env_var\('{var}', '{default}'\)( \| as_number)? \}}\}}", ci[field]), field
    assert ci["port"].endswith("| as_number }}")

    ignored = (DBT_DIR / ".gitignore").read_text(encoding="utf-8").split()
    assert {"target/", "logs/", "dbt_packages/", "models/sources/app_database.yml"} <= set(ignored)


def test_equals_parent_macro_signature() -> None:
    text = (DBT_DIR / "macros" / "equals_parent.sql").read_text(encoding="utf-8")
    m = re.search(r"\{%-?\s*test\s+equals_parent\(([^)]*)\)\s*-?%\}", text)
    assert m is not None
    assert [a.strip() for a in m.group(1).split(",")] == [
        "model", "column_name", "via", "to", "parent_key", "parent_field"]
    assert "is distinct from" in text.lower()
