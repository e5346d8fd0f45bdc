"""The one place each table is declared: columns (Polars dtype and PostgreSQL type), keys and id range.

The DDL check, the COPY column order, the constraints added after a load and the validation joins all
read these declarations; nothing else lists a table's columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

SCHEMA = "raw"  # the dbt source schema; --schema overrides it
INTEGER_MAX = 2**31 - 1  # the largest PostgreSQL integer: every id column is one


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    pg_type: str  # as information_schema / format_type() spells it
    nullable: bool = True
    # Why the column may be NULL at data_quality.null_rates.optional_fields ("" = it may not): it is nullable in
    # the legacy DDL, no key, and no check, rule or later builder reads it (docs/decisions.md, "Null rates").
    optional: str = ""
    null_when: str = ""  # the rows where it is NULL by meaning (a running subscription's end_date), if any

    @property
    def required(self) -> bool:
        """Never NULL in generated data: not optional, and NULL by meaning nowhere."""
        return not self.optional and not self.null_when


@dataclass(frozen=True)
class ForeignKey:
    column: str
    parent: str  # table key (e.g. "accounts")
    parent_column: str = "id"


@dataclass(frozen=True)
class Packed:
    """Typed columns the contract layout stores as the number keys of one jsonb column (tap events' `metrics`,
    which the staging model reads as metrics->>'volume_ml' ...). Frames, checks and fingerprints always see
    the typed columns; only the stored table differs (see stored_columns)."""

    column: str  # the jsonb column
    keys: tuple[tuple[str, int], ...]  # (typed column = key, decimals of its values)
    after: str  # the jsonb column is stored right after this column (the legacy column order)


LAYOUTS = ("contract", "typed")  # events.tap_events.layout
DEFAULT_LAYOUT = "contract"  # what the platform's staging models read with no edit


@dataclass(frozen=True)
class Table:
    key: str  # short name used in config, CLI and reports
    columns: tuple[Column, ...]
    primary_key: str
    foreign_keys: tuple[ForeignKey, ...] = ()
    # (column, via fk column, parent column): this column must equal the parent's value (denormalized copy)
    copies: tuple[tuple[str, str, str], ...] = ()
    id_range_key: str = ""
    # The largest id the table can hold, and why (ids are PostgreSQL integer; a scaled or `auto` id range grows
    # up to it, and a plan beyond it is refused naming id_ranges.<key> and this limit).
    max_id: int = INTEGER_MAX
    max_id_reason: str = "ids are PostgreSQL integer columns"
    created_column: str = "created_at"
    parents_before: tuple[str, ...] = field(default=())
    # Tables whose rows this table's builder reads without a foreign key to them (subscriptions' tiers follow
    # device counts): regenerating one of them regenerates this table too (see dependents()).
    derived_from: tuple[tuple[str, str], ...] = ()  # (table key, why)
    # Event tables are PARTITION BY RANGE (primary key), one partition per day of the event range; a
    # day's ids are one contiguous run, so replacing a window of days swaps whole partitions.
    partitioned: bool = False
    time_column: str = ""  # the event time that decides the day (partition) of a row
    # False: a row belongs to another row's day (a page view to its session's, which can end after midnight), so
    # its time_column may fall on the next day
    rows_on_own_day: bool = True
    packed: Packed | None = None  # the contract layout's jsonb column, for tables that have one
    doc: str = ""  # one line on what a row is (the dbt sources' description)
    # The config keys this table's builder reads itself (fnmatch patterns over dotted key paths; `*` also
    # crosses dots). A key moves the rows of these tables and of the tables that depend on them
    # (dependency_closure), and of no other: tests/test_every_key.py changes every key and holds the data
    # to this. Keys no builder reads (bounds, thresholds, storage) are declared in config.NOT_DATA_KEYS.
    reads: tuple[str, ...] = ()

    def stored_columns(self, layout: str = DEFAULT_LAYOUT) -> tuple[Column, ...]:
        """The columns of the PostgreSQL table in this layout, in table order."""
        if self.packed is None or layout == "typed":
            return self.columns
        keys = {k for k, _ in self.packed.keys}
        out: list[Column] = []
        for c in self.columns:
            if c.name not in keys:
                out.append(c)
            if c.name == self.packed.after:
                out.append(Column(self.packed.column, STR, "jsonb", False))
        return tuple(out)

    def layout_of(self, layout: str) -> str:
        """The layout this table is stored in when layout is asked for (tables without a packed column have
        only one, called typed)."""
        return layout if self.packed is not None else "typed"

    def partition_name(self, day: dt.date) -> str:
        return f"{self.name}_p{day:%Y%m%d}"

    def day_of(self, name: str) -> dt.date | None:
        """The day of one of this table's day partitions (partition_name's inverse); None for any other name."""
        prefix = f"{self.name}_p"
        digits = name[len(prefix):]
        if not (name.startswith(prefix) and len(digits) == 8 and digits.isdigit()):
            return None
        try:
            return dt.datetime.strptime(digits, "%Y%m%d").date()
        except ValueError:
            return None

    def staging_name(self, day: dt.date) -> str:
        """A day being loaded by generate-events, not yet attached (see load_events)."""
        return f"{self.partition_name(day)}_load"

    @property
    def staging_pattern(self) -> str:
        """POSIX regex matching exactly this table's staging tables."""
        return f"^{self.name}_p[0-9]{{8}}_load$"

    @property
    def name(self) -> str:
        """The PostgreSQL table name, kept from the legacy schema the staging models read."""
        return f"app_database_{self.key}"

    @property
    def view_name(self) -> str:
        """The view over the typed layout that reads like the contract layout (tables with a packed column)."""
        return f"{self.name}_view"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def optional_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.optional]

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}

    def pk_constraint(self) -> str:
        return f"{self.name}_pkey"

    def fk_constraint(self, fk: ForeignKey) -> str:
        return f"{self.name}_{fk.column}_fkey"


I32, I64, F32 = pl.Int32(), pl.Int64(), pl.Float32()
STR, DATE, BOOL = pl.String(), pl.Date(), pl.Boolean()
TS = pl.Datetime("us")
MONEY = pl.Decimal(10, 2)
COORD = pl.Decimal(10, 6)
SCORE = pl.Decimal(4, 3)


def _c(name: str, dtype: pl.DataType, pg: str, nullable: bool = True, *, optional: str = "",
       null_when: str = "") -> Column:
    return Column(name, dtype, pg, nullable, optional, null_when)


def _vc(name: str, n: int, nullable: bool = True, *, optional: str = "", null_when: str = "") -> Column:
    return Column(name, STR, f"character varying({n})", nullable, optional, null_when)


UNREAD = "nullable in the legacy DDL; no key, check, rule or later builder reads it"


_STAMPS = (_c("created_at", TS, "timestamp without time zone", False),
           _c("updated_at", TS, "timestamp without time zone", False))

ACCOUNTS = Table(
    key="accounts",
    doc="A customer: a restaurant group, bar chain, stadium operator, hotel group or office caterer.",
    columns=(
        _c("id", I32, "integer", False),
        _vc("name", 255, False),
        _vc("email", 255),
        _c("created_date", DATE, "date"),
        _vc("business_type", 100, optional=UNREAD),
        _c("location_count", I32, "integer"),
        _vc("industry", 100),
        _c("employee_count", I32, "integer", optional=UNREAD),
        _c("annual_revenue", I64, "bigint", optional=UNREAD),
        _vc("website", 500, optional=UNREAD),
        _vc("status", 50),
        _vc("size", 50),
        *_STAMPS,
    ),
    primary_key="id",
    id_range_key="accounts",
    reads=(
        "seed", "time_range.end_date", "accounts.total", "accounts.sizes.*.share", "accounts.sizes.*.locations",
        "accounts.sizes.*.trial_days", "accounts.count_shapes.locations.*", "industries.*.share",
        "industries.*.name_suffixes", "growth_patterns.account_creation.*",
        "growth_patterns.monthly_growth_rate.new_accounts", "churn.monthly_rate",
        "data_quality.null_rates.optional_fields", "id_ranges.accounts",
    ),
)

LOCATIONS = Table(
    key="locations",
    doc="A venue of an account, where its taps are installed.",
    columns=(
        _c("id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("name", 255, False),
        _vc("address", 500, optional=UNREAD),
        _vc("city", 100, optional=UNREAD),
        _vc("state", 50, optional=UNREAD),
        _vc("zip_code", 20, optional=UNREAD),
        _vc("country", 50, optional=UNREAD),
        _vc("location_type", 50, optional=UNREAD),
        _vc("business_type", 100, optional=UNREAD),
        _vc("industry", 100),
        _vc("size", 50),
        _c("expected_device_count", I32, "integer"),
        _c("install_date", DATE, "date"),
        _c("latitude", COORD, "numeric(10,6)", optional=UNREAD),
        _c("longitude", COORD, "numeric(10,6)", optional=UNREAD),
        _c("capacity", I32, "integer", optional=UNREAD),
        _c("is_active", BOOL, "boolean"),
        *_STAMPS,
    ),
    primary_key="id",
    foreign_keys=(ForeignKey("customer_id", "accounts"),),
    id_range_key="locations",
    reads=(
        "seed", "time_range.end_date", "accounts.sizes.*.devices_per_location",
        "accounts.count_shapes.devices_per_location.*", "industries.*.venue_types.*", "regions.*", "locations.*",
        "data_quality.null_rates.optional_fields", "id_ranges.locations",
    ),
)

DEVICES = Table(
    key="devices",
    doc="A tap controller, sensor or gateway installed at a location.",
    columns=(
        _c("id", I32, "integer", False),
        _c("location_id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("device_type", 100),
        _vc("category", 50),
        _vc("manufacturer", 100, optional=UNREAD),
        _vc("model", 100, optional=UNREAD),
        _vc("serial_number", 100, optional=UNREAD),
        _c("install_date", DATE, "date"),
        _c("installation_date", DATE, "date"),
        _c("warranty_expiry", DATE, "date", optional=UNREAD),
        _c("purchase_price", MONEY, "numeric(10,2)", optional=UNREAD),
        _vc("firmware_version", 50, optional=UNREAD),
        _vc("ip_address", 45, optional=UNREAD),
        _vc("mac_address", 17, optional=UNREAD),
        _vc("status", 50),
        _c("is_online", BOOL, "boolean"),
        _c("health_score", SCORE, "numeric(4,3)"),
        _vc("usage_pattern", 50, optional=UNREAD),
        _c("expected_lifespan_years", I32, "integer", optional=UNREAD),
        _c("energy_consumption_watts", I32, "integer", optional=UNREAD),
        _vc("network_connectivity", 50, optional=UNREAD),
        _c("last_maintenance_date", DATE, "date", null_when="a device not maintained yet"),
        _c("last_seen_at", TS, "timestamp without time zone"),
        *_STAMPS,
    ),
    primary_key="id",
    foreign_keys=(ForeignKey("location_id", "locations"), ForeignKey("customer_id", "accounts")),
    copies=(("customer_id", "location_id", "customer_id"),),
    id_range_key="devices",
    max_id=2**24 - 1,
    max_id_reason="device MAC addresses carry the id in three bytes",
    reads=(
        "seed", "time_range.end_date", "devices.*", "growth_patterns.monthly_growth_rate.device_expansion",
        "maintenance.interval_days", "data_quality.null_rates.optional_fields", "id_ranges.devices",
    ),
)

USERS = Table(
    key="users",
    doc="A person with a login to the TapFlow app, in one account.",
    columns=(
        _c("id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("first_name", 100, optional=UNREAD),
        _vc("last_name", 100, optional=UNREAD),
        _vc("email", 255, optional=UNREAD),
        _vc("role", 50),
        _c("created_date", DATE, "date"),
        _c("last_login_date", DATE, "date"),
        _c("last_login_at", TS, "timestamp without time zone"),
        _c("is_active", BOOL, "boolean", optional=UNREAD),
        *_STAMPS,
        _vc("permissions", 50),  # not in the legacy DDL: user_roles.<role>.permissions (last: tables get it added)
    ),
    primary_key="id",
    foreign_keys=(ForeignKey("customer_id", "accounts"),),
    id_range_key="users",
    reads=(
        "seed", "time_range.end_date", "accounts.sizes.*.users", "accounts.count_shapes.users.*", "user_roles.*",
        "data_quality.null_rates.optional_fields", "id_ranges.users",
    ),
)

SUBSCRIPTIONS = Table(
    key="subscriptions",
    doc="An account's plan over time: its current row plus earlier, canceled ones.",
    columns=(
        _c("id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("plan_name", 100),
        _vc("status", 50),
        _c("start_date", DATE, "date", False),
        _c("end_date", DATE, "date", null_when="a subscription still running"),
        _c("monthly_price", MONEY, "numeric(10,2)"),
        _vc("billing_cycle", 20, optional=UNREAD),
        _c("monthly_amount", MONEY, "numeric(10,2)"),
        _c("current_term_start", DATE, "date"),
        _vc("cancellation_reason", 50, null_when="a subscription not canceled"),
        *_STAMPS,
    ),
    primary_key="id",
    foreign_keys=(ForeignKey("customer_id", "accounts"),),
    id_range_key="subscriptions",
    reads=(
        "seed", "time_range.end_date", "subscriptions.*", "churn.reasons", "growth_patterns.monthly_growth_rate.mrr",
        "data_quality.null_rates.optional_fields", "id_ranges.subscriptions",
    ),
    derived_from=(("devices", "an account's tier follows its device count"),),
)

DEVICE_MAINTENANCE_LOGS = Table(
    key="device_maintenance_logs",
    doc="A maintenance visit to a device: scheduled, overdue or emergency.",
    columns=(
        _c("id", I32, "integer", False),
        _c("device_id", I32, "integer", False),
        _c("location_id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("maintenance_type", 20, False),
        _c("scheduled_date", DATE, "date", False),
        _c("performed_at", TS, "timestamp without time zone", False),
        _vc("technician", 100, optional=UNREAD),
        _c("duration_minutes", I32, "integer", optional=UNREAD),
        _c("parts_cost", MONEY, "numeric(10,2)", optional=UNREAD),
        _vc("notes_category", 50, optional=UNREAD),
        *_STAMPS,
    ),
    primary_key="id",
    foreign_keys=(ForeignKey("device_id", "devices"), ForeignKey("location_id", "locations"),
                  ForeignKey("customer_id", "accounts")),
    copies=(("location_id", "device_id", "location_id"), ("customer_id", "device_id", "customer_id")),
    id_range_key="device_maintenance_logs",
    reads=(
        "seed", "time_range.end_date", "maintenance.*", "data_quality.null_rates.optional_fields",
        "id_ranges.device_maintenance_logs",
    ),
)

# Load order: parents before children (the hierarchical order of the runbook).
CORE_TABLES: tuple[Table, ...] = (ACCOUNTS, LOCATIONS, DEVICES, USERS, SUBSCRIPTIONS, DEVICE_MAINTENANCE_LOGS)

_TS = "timestamp without time zone"

# The staging model reads metrics->>'volume_ml', 'temperature_c', 'pressure_psi', 'flow_rate_ml_per_sec'
# and 'duration_seconds', and `metrics` itself. The contract layout (the default) stores them as a jsonb
# `metrics` column, the typed layout as the typed columns declared here plus the view
# app_database_tap_events_view (docs/decisions.md: "Tap-event metrics").
TAP_EVENTS = Table(
    key="tap_events",
    doc="One event a device reported: a pour, a temperature or pressure reading, a health check ...",
    columns=(
        _c("id", I32, "integer", False),
        _c("device_id", I32, "integer", False),
        _c("location_id", I32, "integer", False),
        _c("timestamp", TS, _TS, False),
        _vc("event_type", 50),
        _vc("status", 50),
        _vc("device_category", 50),
        _c("volume_ml", I32, "integer", null_when="an event whose type does not carry it"),
        _c("temperature_c", F32, "real", null_when="an event whose type does not carry it"),
        _c("pressure_psi", F32, "real", null_when="an event whose type does not carry it"),
        _c("flow_rate_ml_per_sec", F32, "real", null_when="an event whose type does not carry it"),
        _c("duration_seconds", F32, "real", null_when="an event whose type does not carry it"),
        _c("created_at", TS, _TS),
    ),
    primary_key="id",
    foreign_keys=(ForeignKey("device_id", "devices"), ForeignKey("location_id", "locations")),
    copies=(("location_id", "device_id", "location_id"),),
    id_range_key="tap_events",
    reads=(
        "seed", "time_range.end_date", "events.range.*", "events.tap_events.per_device_per_day.*",
        "events.tap_events.business_hours_only", "events.tap_events.event_days.*", "events.tap_events.season.*",
        "events.tap_events.growth.*", "events.tap_events.volume_ml.*", "events.tap_events.temperature_c.*",
        "events.tap_events.pressure_psi.*", "events.tap_events.flow_rate_ml_per_sec.*", "time_range.business_hours.*",
        "time_range.peak_hours.*", "id_ranges.tap_events",
    ),
    partitioned=True,
    time_column="timestamp",
    packed=Packed("metrics", (("volume_ml", 0), ("temperature_c", 1), ("pressure_psi", 1),
                              ("flow_rate_ml_per_sec", 1), ("duration_seconds", 2)), after="status"),
)

USER_SESSIONS = Table(
    key="user_sessions",
    doc="A user's session in the TapFlow app.",
    columns=(
        _c("session_id", I32, "integer", False),
        _c("user_id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _c("start_time", TS, _TS, False),
        _c("end_time", TS, _TS, False),
        _c("duration_seconds", I32, "integer"),
        _c("page_views", I32, "integer"),
        _c("actions_taken", I32, "integer", optional=UNREAD),
        _vc("device_type", 50, optional=UNREAD),
        _vc("browser", 50, optional=UNREAD),
        _c("created_at", TS, _TS, optional=UNREAD),
    ),
    primary_key="session_id",
    foreign_keys=(ForeignKey("user_id", "users"), ForeignKey("customer_id", "accounts")),
    copies=(("customer_id", "user_id", "customer_id"),),
    id_range_key="user_sessions",
    reads=(
        "seed", "time_range.end_date", "events.range.*", "events.role_activity.*",
        "data_quality.null_rates.optional_fields", "id_ranges.user_sessions",
    ),
    partitioned=True,
    time_column="start_time",
)

PAGE_VIEWS = Table(
    key="page_views",
    doc="A page a user viewed during a session.",
    columns=(
        _c("page_view_id", I32, "integer", False),
        _c("session_id", I32, "integer", False),
        _c("user_id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("page_url", 500),
        _vc("page_title", 255, optional=UNREAD),
        _c("timestamp", TS, _TS, False),
        _c("time_on_page_seconds", I32, "integer"),
        _vc("referrer_url", 500, null_when="a session's first page (direct traffic)"),
        _c("created_at", TS, _TS, optional=UNREAD),
    ),
    primary_key="page_view_id",
    foreign_keys=(ForeignKey("session_id", "user_sessions", "session_id"), ForeignKey("user_id", "users"),
                  ForeignKey("customer_id", "accounts")),
    copies=(("user_id", "session_id", "user_id"), ("customer_id", "session_id", "customer_id")),
    id_range_key="page_views",
    reads=(
        "seed", "time_range.end_date", "events.range.*", "data_quality.null_rates.optional_fields",
        "id_ranges.page_views",
    ),
    derived_from=(("devices", "URLs name the account's devices"), ("locations", "URLs name the account's locations")),
    partitioned=True,
    time_column="timestamp",
    rows_on_own_day=False,  # a page view belongs to the day its session started (sessions can cross midnight)
)

FEATURE_USAGE = Table(
    key="feature_usage",
    doc="How often a user used an app feature at a point in time.",
    columns=(
        _c("usage_id", I32, "integer", False),
        _c("user_id", I32, "integer", False),
        _c("customer_id", I32, "integer", False),
        _vc("feature_name", 100, optional=UNREAD),
        _c("usage_count", I32, "integer", optional=UNREAD),
        _c("timestamp", TS, _TS, False),
        _c("created_at", TS, _TS, optional=UNREAD),
    ),
    primary_key="usage_id",
    foreign_keys=(ForeignKey("user_id", "users"), ForeignKey("customer_id", "accounts")),
    copies=(("customer_id", "user_id", "customer_id"),),
    id_range_key="feature_usage",
    reads=(
        "seed", "time_range.end_date", "events.range.*", "events.role_activity.*.days",
        "events.role_activity.*.hours", "events.feature_usage.*", "data_quality.null_rates.optional_fields",
        "id_ranges.feature_usage",
    ),
    derived_from=(("devices", "API calls follow the account's device count"),),
    partitioned=True,
    time_column="timestamp",
)

# Parents before children here too: page views reference sessions.
EVENT_TABLES: tuple[Table, ...] = (TAP_EVENTS, USER_SESSIONS, PAGE_VIEWS, FEATURE_USAGE)
TABLES: dict[str, Table] = {t.key: t for t in CORE_TABLES + EVENT_TABLES}
TAP_EVENTS_VIEW = TAP_EVENTS.view_name


def parents_of(t: Table, *, derived: bool = True) -> list[tuple[str, str]]:
    """(parent table, why) for every table t's rows depend on: its foreign keys, then what it is derived from."""
    out = [(fk.parent, f"{t.key}.{fk.column} references {fk.parent}") for fk in t.foreign_keys]
    if derived:
        out += [(key, f"{t.key} is derived from {key} ({why})") for key, why in t.derived_from]
    return [(k, w) for i, (k, w) in enumerate(out) if k != t.key and k not in [o[0] for o in out[:i]]]


def same_day_parents(t: Table) -> list[str]:
    """The event tables t references: a partition of t is built from, and checked against, their same day."""
    return [fk.parent for fk in t.foreign_keys if t.partitioned and TABLES[fk.parent].partitioned]


def same_day_groups() -> list[tuple[str, ...]]:
    """The event tables in groups that are read and built a day at a time together (a table with the same-day
    parents it references), in declared order."""
    groups: list[list[str]] = []
    for t in EVENT_TABLES:
        linked = [g for g in groups if set(g) & set(same_day_parents(t))]
        merged = [k for g in linked for k in g] + [t.key]
        groups = [g for g in groups if g not in linked] + [merged]
    return sorted((tuple(g) for g in groups), key=lambda g: [t.key for t in EVENT_TABLES].index(g[0]))


def dependency_closure(keys: set[str], *, derived: bool = True) -> dict[str, str]:
    """keys and every table that depends on them, in load order (parents first): table -> why it is included."""
    why: dict[str, str] = {k: "asked for" for k in keys}
    for t in CORE_TABLES + EVENT_TABLES:  # declared parents-first, so one pass reaches every descendant
        if t.key not in why:
            for parent, reason in parents_of(t, derived=derived):
                if parent in why:
                    why[t.key] = reason
                    break
    return {t.key: why[t.key] for t in CORE_TABLES + EVENT_TABLES if t.key in why}


def ancestors(keys: set[str]) -> list[Table]:
    """The core tables that keys depend on, directly or through each other (foreign keys and derived_from),
    in load order."""
    seen: set[str] = set()
    todo = list(keys)
    while todo:
        for parent, _ in parents_of(TABLES[todo.pop()]):
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return [t for t in CORE_TABLES if t.key in seen]


def dependents(keys: set[str], *, derived: bool = False) -> list[Table]:
    """Tables outside keys that depend on keys (directly or through each other): by foreign key, and with
    derived, also through derived_from."""
    return [TABLES[k] for k in dependency_closure(keys, derived=derived) if k not in keys]


def conform(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Select the declared columns in declared order with declared dtypes (raises if one is missing)."""
    missing = [c for c in table.column_names if c not in frame.columns]
    if missing:
        raise KeyError(f"{table.key}: builder did not produce columns {missing}")
    return cast_to_declared(frame, table)


def cast_to_declared(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """The declared columns in declared order, each cast to its declared dtype unless it has it already: the one
    cast to the declarations (conform, readback, fingerprints). A cast that fails raises polars' error."""
    schema = frame.schema
    if all(schema[c.name] == c.dtype for c in table.columns):  # every built partition: no pass over the rows
        return frame if list(schema) == table.column_names else frame.select(table.column_names)
    return frame.select([pl.col(c.name) if schema[c.name] == c.dtype else pl.col(c.name).cast(c.dtype)
                         for c in table.columns])
