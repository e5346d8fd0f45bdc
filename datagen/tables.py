"""The one place each table is declared: columns (Polars dtype and PostgreSQL type), keys and id range.

The DDL check, the COPY column order, the constraints added after a load and the validation joins all
read these declarations; nothing else lists a table's columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

SCHEMA = "raw"  # the dbt source schema; --schema overrides it


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    pg_type: str  # as information_schema / format_type() spells it
    nullable: bool = True


@dataclass(frozen=True)
class ForeignKey:
    column: str
    parent: str  # table key (e.g. "accounts")
    parent_column: str = "id"


@dataclass(frozen=True)
class Table:
    key: str  # short name used in config, CLI and reports
    columns: tuple[Column, ...]
    primary_key: str
    foreign_keys: tuple[ForeignKey, ...] = ()
    # (column, via fk column, parent column): this column must equal the parent's value (denormalized copy)
    copies: tuple[tuple[str, str, str], ...] = ()
    id_range_key: str = ""
    created_column: str = "created_at"
    parents_before: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        """The PostgreSQL table name, kept from the legacy schema the staging models read."""
        return f"app_database_{self.key}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}

    def pk_constraint(self) -> str:
        return f"{self.name}_pkey"

    def fk_constraint(self, fk: ForeignKey) -> str:
        return f"{self.name}_{fk.column}_fkey"


I32, I64 = pl.Int32(), pl.Int64()
STR, DATE, BOOL = pl.String(), pl.Date(), pl.Boolean()
TS = pl.Datetime("us")
MONEY = pl.Decimal(10, 2)
COORD = pl.Decimal(10, 6)
SCORE = pl.Decimal(4, 3)


def _c(name: str, dtype: pl.DataType, pg: str, nullable: bool = True) -> Column:
    return Column(name, dtype, pg, nullable)


def _vc(name: str, n: int, nullable: bool = True) -> Column:
    return Column(name, STR, f"character varying({n})", nullable)


_STAMPS = (_c("created_at", TS, "timestamp without time zone", False),
           _c("updated_at", TS, "timestamp without time zone", False))

ACCOUNTS = Table(
    key="accounts",
    columns=(
        _c("id", I32, "integer", False),
        _vc("name", 255, False),
        _vc("email", 255),
        _c("created_date", DATE, "date"),
        _vc("business_type", 100),
        _c("location_count", I32, "integer"),
        _vc("industry", 100),
        _c("employee_count", I32, "integer"),
        _c("annual_revenue", I64, "bigint"),
        _vc("website", 500),
        _vc("status", 50),
        _vc("size", 50),
        *_STAMPS,
    ),
    primary_key="id",
    id_range_key="accounts",
)

LOCATIONS = Table(
    key="locations",
    columns=(
        _c("id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("name", 255, False),
        _vc("address", 500),
        _vc("city", 100),
        _vc("state", 50),
        _vc("zip_code", 20),
        _vc("country", 50),
        _vc("location_type", 50),
        _vc("business_type", 100),
        _vc("industry", 100),
        _vc("size", 50),
        _c("expected_device_count", I32, "integer"),
        _c("install_date", DATE, "date"),
        _c("latitude", COORD, "numeric(10,6)"),
        _c("longitude", COORD, "numeric(10,6)"),
        _c("capacity", I32, "integer"),
        _c("is_active", BOOL, "boolean"),
        *_STAMPS,
    ),
    primary_key="id",
    foreign_keys=(ForeignKey("customer_id", "accounts"),),
    id_range_key="locations",
)

DEVICES = Table(
    key="devices",
    columns=(
        _c("id", I32, "integer", False),
        _c("location_id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("device_type", 100),
        _vc("category", 50),
        _vc("manufacturer", 100),
        _vc("model", 100),
        _vc("serial_number", 100),
        _c("install_date", DATE, "date"),
        _c("installation_date", DATE, "date"),
        _c("warranty_expiry", DATE, "date"),
        _c("purchase_price", MONEY, "numeric(10,2)"),
        _vc("firmware_version", 50),
        _vc("ip_address", 45),
        _vc("mac_address", 17),
        _vc("status", 50),
        _c("is_online", BOOL, "boolean"),
        _c("health_score", SCORE, "numeric(4,3)"),
        _vc("usage_pattern", 50),
        _c("expected_lifespan_years", I32, "integer"),
        _c("energy_consumption_watts", I32, "integer"),
        _vc("network_connectivity", 50),
        _c("last_maintenance_date", DATE, "date"),
        _c("last_seen_at", TS, "timestamp without time zone"),
        *_STAMPS,
    ),
    primary_key="id",
    foreign_keys=(ForeignKey("location_id", "locations"), ForeignKey("customer_id", "accounts")),
    copies=(("customer_id", "location_id", "customer_id"),),
    id_range_key="devices",
)

USERS = Table(
    key="users",
    columns=(
        _c("id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("first_name", 100),
        _vc("last_name", 100),
        _vc("email", 255),
        _vc("role", 50),
        _c("created_date", DATE, "date"),
        _c("last_login_date", DATE, "date"),
        _c("last_login_at", TS, "timestamp without time zone"),
        _c("is_active", BOOL, "boolean"),
        *_STAMPS,
    ),
    primary_key="id",
    foreign_keys=(ForeignKey("customer_id", "accounts"),),
    id_range_key="users",
)

SUBSCRIPTIONS = Table(
    key="subscriptions",
    columns=(
        _c("id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("plan_name", 100),
        _vc("status", 50),
        _c("start_date", DATE, "date", False),
        _c("end_date", DATE, "date"),
        _c("monthly_price", MONEY, "numeric(10,2)"),
        _vc("billing_cycle", 20),
        _c("monthly_amount", MONEY, "numeric(10,2)"),
        _c("current_term_start", DATE, "date"),
        _vc("cancellation_reason", 50),
        *_STAMPS,
    ),
    primary_key="id",
    foreign_keys=(ForeignKey("customer_id", "accounts"),),
    id_range_key="subscriptions",
)

# Load order: parents before children (the hierarchical order of the runbook).
CORE_TABLES: tuple[Table, ...] = (ACCOUNTS, LOCATIONS, DEVICES, USERS, SUBSCRIPTIONS)
TABLES: dict[str, Table] = {t.key: t for t in CORE_TABLES}


def conform(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Select the declared columns in declared order with declared dtypes (raises if one is missing)."""
    missing = [c for c in table.column_names if c not in frame.columns]
    if missing:
        raise KeyError(f"{table.key}: builder did not produce columns {missing}")
    return frame.select([pl.col(c.name).cast(c.dtype) for c in table.columns])
