"""Stage 6: the data profile `datagen report` draws, from a loaded schema or a Parquet dataset.

The core tables are read whole (they are small: their id ranges hold tens of thousands of rows), as validate
reads them. The event tables are read one day partition at a time on READ_CONNECTIONS threads, only the
columns a chart needs (tap events: distributions.AGGREGATE_COLUMNS), and each partition is counted into small
frames at once, so memory holds one partition's few columns per thread, never a whole event table.

The tap-event charts are the distribution checks' own aggregates and verdicts (checks/distributions.py), so a
chart's mark is validate's result for that check; the core charts carry the marks of the core checks that
hold them to the config, run by the same catalogue code validate runs.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import psycopg

from datagen import __version__, checks, manifest_store, readback
from datagen.builders import tap_events
from datagen.catalog import existing_partitions, stored_layout, tables_present
from datagen.checks import distributions
from datagen.config import Config, config_digest
from datagen.db import Target, connect, describe, redact
from datagen.errors import DatabaseError, UsageError
from datagen.parquet_store import Dataset
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES, Table
from datagen.tuning import READ_CONNECTIONS
from datagen.validate import ParquetSource, PostgresSource, Source, check_scale, lock_shared, parquet_contents

# The staging model's feature_category (stg_app_database__feature_usage): the first whose words lower(feature_name)
# contains, else Other
FEATURE_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Reporting", ("report",)), ("Analytics", ("analytics",)), ("Export", ("export",)), ("API", ("api",)),
    ("Integration", ("integration",)), ("Automation", ("automation",)), ("Alerts", ("alert", "notification")),
    ("Dashboard", ("dashboard",)), ("Inventory", ("inventory",)), ("Forecasting", ("forecast",)))
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TOP_TRANSITIONS = 12


@dataclass(frozen=True)
class Mark:
    """A validate check's result beside a chart."""

    check: str
    status: str  # ok, FAIL or skipped
    detail: str  # the first violations, or why it was skipped


@dataclass
class Chart:
    id: str
    title: str
    config: str  # the config the chart follows, in words and keys
    kind: str  # "line" or "bar"
    x: list[Any]
    series: dict[str, list[Any]]  # what the data holds
    expected: dict[str, list[Any]] = field(default_factory=dict)  # what the config says, drawn beside
    x_label: str = ""
    y_label: str = ""
    marks: list[Mark] = field(default_factory=list)

    def data(self) -> dict[str, Any]:
        """What the HTML embeds as JSON: the chart's points and its marks."""
        return {"id": self.id, "title": self.title, "config": self.config, "kind": self.kind, "x": self.x,
                "series": self.series, "expected": self.expected, "x_label": self.x_label, "y_label": self.y_label,
                "marks": [m.__dict__ for m in self.marks]}


@dataclass
class Profile:
    header: dict[str, Any]
    charts: list[Chart]
    seconds: float
    rows_read: int
    warnings: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # charts that could not be drawn, and why

    @property
    def passed(self) -> bool:
        return not self.left_out and all(m.status != "FAIL" for c in self.charts for m in c.marks)


# -- reading ------------------------------------------------------------------------------------------------

def from_postgres(cfg: Config, target: Target, schema: str, connections: int = READ_CONNECTIONS,
                  on_progress: Callable[[int], None] | None = None) -> Profile:
    try:
        with connect(target) as conn, conn.cursor() as cur:
            conn.autocommit = True
            warnings: list[str] = []
            lock_shared(cur, schema, warnings)  # held while reading: no load changes the tables underneath
            manifest = manifest_store.read(cur, schema)
            check_scale(manifest, cfg, f"schema {schema}", "report")
            present = {TABLES[k].name for k in tables_present(cur, schema, list(TABLES.values()))}
            if not present:
                raise UsageError(f"schema {schema} at {describe(target.conninfo)} holds no datagen table",
                                 hint="run `just generate` (and `just generate-events`) first, or pass --schema")
            partitions = {t.key: sorted(existing_partitions(cur, schema, t)) for t in EVENT_TABLES
                          if t.name in present}
            layouts = {t.key: stored_layout(cur, schema, t, cfg.events.tap_layout) for t in EVENT_TABLES
                       if t.name in present}
            source = PostgresSource(target, schema)
            try:
                return _profile(cfg, source, f"{target.display}, schema {schema}", manifest, present, partitions,
                                layouts, connections, on_progress, warnings)
            finally:
                source.close()
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot read schema {schema} at {describe(target.conninfo)}: "
                            f"{redact(str(exc).strip().splitlines()[0])}") from None


def from_parquet(cfg: Config, ds: Dataset, connections: int = READ_CONNECTIONS,
                 on_progress: Callable[[int], None] | None = None) -> Profile:
    present, partitions, layouts = parquet_contents(ds)
    manifest = ds.read_manifest()
    check_scale(manifest, cfg, ds.display, "report")
    return _profile(cfg, ParquetSource(ds), ds.display, manifest, present, partitions, layouts, connections,
                    on_progress, [])


def _profile(cfg: Config, source: Source, where: str, manifest: dict[str, Any] | None, present: set[str],
             partitions: dict[str, list[str]], layouts: dict[str, str], connections: int,
             on_progress: Callable[[int], None] | None, warnings: list[str]) -> Profile:
    t0 = time.perf_counter()
    missing = [t.name for t in CORE_TABLES if t.name not in present]
    if missing:
        raise UsageError(f"{where} lacks {', '.join(missing)}: the report draws every table",
                         hint="run `just generate` first")
    core = readback.with_hidden({t.key: source.read_core(t) for t in CORE_TABLES})
    if manifest is not None and manifest.get("config_digest") not in (None, config_digest(cfg)):
        warnings.append(f"the data was generated from another config (digest {manifest.get('config_digest')}, this "
                        f"config {config_digest(cfg)}): the marks hold it to this one; pass --config")
    parts = _read_events(cfg, source, core, partitions, layouts, connections, on_progress)
    charts, left_out = _charts(cfg, core, parts)
    header = _header(cfg, where, manifest, core, parts)
    rows = sum(p.rows for p in parts.values())
    return Profile(header, charts, time.perf_counter() - t0, rows, warnings, left_out)


@dataclass
class EventCounts:
    """One event table's counts, summed over its partitions."""

    rows: int = 0
    days: list[dt.date] = field(default_factory=list)
    nulls: dict[str, int] = field(default_factory=dict)
    counts: list[Any] = field(default_factory=list)  # per partition, what COUNTERS made of it
    outcomes: list[checks.Outcome] = field(default_factory=list)  # its optional_nulls check, per partition


def _read_events(cfg: Config, source: Source, core: checks.Frames, partitions: dict[str, list[str]],
                 layouts: dict[str, str], connections: int, on_progress: Callable[[int], None] | None
                 ) -> dict[str, EventCounts]:
    """Every event partition inside events.range, read narrow and counted (on `connections` threads)."""
    ev = cfg.events
    lookups = Lookups(distributions.industries(core), core["users"].select(pl.col("id").alias("user_id"), "role"))
    jobs = [(TABLES[key], name) for key, names in partitions.items() for name in names
            if (day := TABLES[key].day_of(name)) is not None and ev.start_date <= day <= ev.end_date]

    def job(item: tuple[Table, str]) -> tuple[str, dt.date, int, dict[str, int], Any, list[checks.Outcome]]:
        t, name = item
        needs, count = COUNTERS.get(t.key, ((), None))  # a table with no chart yet: its rows and NULLs only
        columns = needs + tuple(c for c in t.optional_columns if c not in needs)
        frame = source.read_part(t, name, layouts[t.key], columns)
        nulls = {c: frame[c].null_count() for c in t.optional_columns}
        # validate's own per-partition check of these columns (it reads nothing else)
        outcomes = checks.run_checks({t.key: frame}, cfg, names={f"{t.key}.optional_nulls"}, partition=t.key) \
            if t.optional_columns else []
        day = t.day_of(name)
        assert day is not None
        counts = count(frame, lookups) if count is not None else None
        if on_progress:
            on_progress(frame.height)
        return t.key, day, frame.height, nulls, counts, outcomes

    out = {t.key: EventCounts() for t in EVENT_TABLES}
    with ThreadPoolExecutor(max_workers=max(1, connections)) as pool:
        for key, day, rows, nulls, counts, outcomes in pool.map(job, jobs):
            c = out[key]
            c.outcomes += outcomes
            c.rows += rows
            c.days.append(day)
            for col, n in nulls.items():
                c.nulls[col] = c.nulls.get(col, 0) + n
            if counts is not None:
                c.counts.append(counts)
    return out


@dataclass(frozen=True)
class Lookups:
    """The core facts the counters join: each device's industry, each user's role."""

    device_industry: pl.DataFrame
    roles: pl.DataFrame


def _sessions(frame: pl.DataFrame, lk: Lookups) -> pl.DataFrame:
    return (frame.join(lk.roles, on="user_id", how="left")
            .group_by(pl.col("role").fill_null("(unknown)"), pl.col("start_time").dt.hour().alias("hour"))
            .agg(pl.len().alias("rows")))


def _features(frame: pl.DataFrame, lk: Lookups) -> pl.DataFrame:
    return (frame.group_by(_category(pl.col("feature_name")).alias("category"))
            .agg(pl.len().alias("rows"), pl.col("usage_count").sum().cast(pl.Int64).alias("uses")))


# Per event table: the columns the report reads of a partition (besides its optional columns, counted for the
# NULL chart) and what it counts them into
COUNTERS: dict[str, tuple[tuple[str, ...], Callable[[pl.DataFrame, Lookups], Any]]] = {
    distributions.TABLE: (distributions.AGGREGATE_COLUMNS,
                          lambda f, lk: distributions.aggregate(f, lk.device_industry)),
    "user_sessions": (("user_id", "start_time"), _sessions),
    "page_views": (("page_view_id", "session_id", "page_url", "timestamp"), lambda f, _: _transitions(f)),
    "feature_usage": (("feature_name", "usage_count"), _features),
}


def _transitions(frame: pl.DataFrame) -> pl.DataFrame:
    """Page-to-page steps inside sessions (ids in URLs read as :id), counted."""
    path = pl.col("page_url").str.replace_all(r"/\d+", "/:id")
    return (frame.sort("session_id", "timestamp", "page_view_id").with_columns(page=path)
            .with_columns(prev=pl.col("page").shift(1).over("session_id"))
            .drop_nulls("prev").group_by("prev", "page").agg(pl.len().alias("rows")))


def _category(name: pl.Expr) -> pl.Expr:
    expr: Any = pl.when(name.is_null()).then(pl.lit("(NULL)"))
    lower = name.str.to_lowercase()
    for category, words in FEATURE_CATEGORIES:
        expr = expr.when(pl.any_horizontal([lower.str.contains(w, literal=True) for w in words])).then(pl.lit(category))
    return expr.otherwise(pl.lit("Other"))  # type: ignore[no-any-return]


# -- the header ---------------------------------------------------------------------------------------------

def _header(cfg: Config, where: str, manifest: dict[str, Any] | None, core: checks.Frames,
            parts: dict[str, EventCounts]) -> dict[str, Any]:
    runs = (manifest or {}).get("runs") or []
    last = runs[-1] if runs else {}
    tables = {TABLES[k].name: f.height for k, f in core.items() if k in TABLES}
    tables.update({TABLES[k].name: c.rows for k, c in parts.items() if c.days})
    days = sorted({d for c in parts.values() for d in c.days})
    return {
        "source": where,
        "tables": tables,
        "rows": sum(tables.values()),
        "event_days": f"{days[0]} to {days[-1]} ({len(days)} days)" if days else "none loaded",
        "seed": (manifest or {}).get("seed", cfg.seed),
        "config_digest": (manifest or {}).get("config_digest") or config_digest(cfg),
        "datagen_version": last.get("datagen_version") or __version__,
        "loaded_at": str(last.get("ended_at") or "unknown (no manifest)")[:19].replace("T", " ") + " UTC",
        "report_version": __version__,
    }


# -- the charts ---------------------------------------------------------------------------------------------

def _marks(verdicts: dict[str, distributions.Verdict], outcomes: dict[str, checks.Outcome], names: list[str]
           ) -> list[Mark]:
    out = []
    for name in names:
        if name in verdicts:
            v = verdicts[name]
            status = "skipped" if v.note else ("ok" if v.passed else "FAIL")
            out.append(Mark(name, status, v.note or "; ".join(v.violations[:3])))
        elif name in outcomes:
            o = outcomes[name]
            out.append(Mark(name, "ok" if o.passed else "FAIL", "; ".join(str(s) for s in o.sample[:3])))
    return out


def _share(values: list[float]) -> list[Any]:
    total = sum(values)
    return [round(v / total, 6) if total else 0.0 for v in values]


def _charts(cfg: Config, core: checks.Frames, parts: dict[str, EventCounts]) -> tuple[list[Chart], list[str]]:
    """The charts, and those left out with why (the tap-event ones when the core tables leave no expectation)."""
    tap = parts[distributions.TABLE]
    verdicts = distributions.verdicts(distributions.combine(tap.counts), cfg, core, tap.days) if tap.days else {}
    core_names = ["devices.count_in_bounds", "locations.has_devices", "users.count_in_bounds", "accounts.has_users",
                  "devices.status_mix", "devices.device_type_mix", "accounts.creation_growth",
                  "accounts.size_mix_exact",
                  "subscriptions.price_matches_tier", "subscriptions.max_mrr_variance", "subscriptions.no_overlap",
                  "users.role_mix"] + [f"{t.key}.optional_nulls" for t in CORE_TABLES if t.optional_columns]
    outcomes = {o.check.name: o for o in checks.run_checks(core, cfg, names=set(core_names))}
    for counts in parts.values():  # a partition check fails when it fails on any partition, as in validate
        for o in counts.outcomes:
            if o.check.name not in outcomes or (outcomes[o.check.name].passed and not o.passed):
                outcomes[o.check.name] = o

    def marks(*names: str) -> list[Mark]:
        return _marks(verdicts, outcomes, list(names))

    charts: list[Chart] = []
    left_out = []
    unjudged = [v.note for v in verdicts.values() if not v.observed]  # the model failed: nothing to draw against
    if unjudged:
        left_out.append(f"the tap-event charts: {unjudged[0]}; `just validate` names the damage")
    elif tap.days:
        charts += _tap_charts(cfg, distributions.combine(tap.counts), verdicts, marks)
    charts += _core_charts(cfg, core, marks)
    charts += _app_charts(cfg, core, parts, marks)
    charts.append(_null_chart(cfg, core, parts, marks))
    return charts, left_out


def _tap_charts(cfg: Config, agg: distributions.Aggregate, v: dict[str, distributions.Verdict],
                marks: Callable[..., list[Mark]]) -> list[Chart]:
    ev = cfg.events
    out = []
    hp = v["tap_events.hour_profile"]
    out.append(Chart(
        "tap_hour_of_day", "Tap events by hour of day, per industry",
        f"time_range.business_hours {list(cfg.business_hours)}, peak_hours "
        f"{ {k: list(h) for k, h in cfg.peak_hours} }, per_device_per_day.*.peak_multiplier "
        f"{ {r.industry: r.peak_multiplier for r in ev.tap_rates} }, business_hours_only "
        f"{list(ev.business_hours_only)}",
        "line", list(range(24)), {k: _share(r) for k, r in hp.observed["rows"].items()},
        {k: [round(x, 6) for x in s] for k, s in hp.expected["shares"].items()}, "hour", "share of the day's events",
        marks("tap_events.hour_profile")))
    ww = v["tap_events.weekday_weekend"]
    obs, exp = ww.observed["per_day"], ww.expected["per_day"]
    out.append(Chart(
        "tap_weekday", "Tap events per day by weekday, per industry",
        f"per_device_per_day.*.weekend_factor { {k: round(f, 3) for k, f in ww.expected['weekend_factor'].items()} }",
        "bar", list(WEEKDAYS), {k: [round(obs[k].get(w, 0.0), 1) if w in obs[k] else None for w in range(1, 8)]
                                for k in obs},
        {k: [round(exp[k][w], 1) if w in exp[k] else None for w in range(1, 8)] for k in exp}, "weekday",
        "events per day", marks("tap_events.weekday_weekend")))
    se = v["tap_events.season"]
    out.append(Chart(
        "tap_daily", "Tap events per day against the season and growth",
        f"season {{peak_day_of_year: {ev.season_peak_day}, amplitude: {ev.season_amplitude}}}, growth "
        f"{{start_factor: {ev.growth_start_factor}, ramp_days: {ev.growth_ramp_days}}}, event_days share "
        f"{ev.event_day_share}",
        "line", se.observed["day"], {"events": [float(x) for x in se.observed["rows"]]},
        {"expected": se.expected["rows"]}, "day", "events", marks("tap_events.season")))
    lo, hi = ev.volume_ml
    bins = list(range(lo - lo % 10, hi + 10, 10))
    vol = agg.volumes.with_columns(bin=(pl.col("volume_ml") // 10) * 10).group_by("bin").agg(pl.col("rows").sum())
    got = dict(zip(vol["bin"].to_list(), vol["rows"].to_list(), strict=True))
    shares = distributions.pour_shares(cfg)
    width = hi - lo + 1
    expected = []
    for b in bins:
        uniform = (1 - ev.common_share) * max(0, min(b + 10, hi + 1) - max(b, lo)) / width
        expected.append(round(uniform + sum(p - (1 - ev.common_share) * (lo <= s <= hi) / width
                                            for s, p in shares.items() if b <= s < b + 10), 6))
    out.append(Chart(
        "tap_pour_volume", "Pour volume (10 ml bins)",
        f"volume_ml {{min: {lo}, max: {hi}, common_sizes: {list(ev.common_sizes)}, common_share: {ev.common_share}}}",
        "bar", [f"{b}" for b in bins], {"pours": _share([got.get(b, 0) for b in bins])}, {"config": expected},
        "ml", "share of pours", marks("tap_events.pour_sizes")))
    for key, frame, normal, anomalous, rate, step, unit in (
            ("temperature", agg.temperature, ev.temperature_c, tap_events.TEMP_ANOMALY_C,
             ev.temperature_anomaly_rate, 0.5, "°C"),
            ("pressure", agg.pressure, ev.pressure_psi, tap_events.PRESSURE_ANOMALY_PSI, ev.pressure_anomaly_rate,
             0.5, "psi")):
        vals = frame.with_columns(bin=(pl.col("value") / step).floor() * step).group_by("bin").agg(pl.col("rows").sum())
        lo_b = math.floor(min(normal[0], anomalous[0]) / step) * step
        hi_b = math.ceil(max(normal[1], anomalous[1]) / step) * step
        xs = [round(lo_b + i * step, 1) for i in range(round((hi_b - lo_b) / step) + 1)]
        got_v = {round(b, 1): r for b, r in zip(vals["bin"].to_list(), vals["rows"].to_list(), strict=True)}
        n_lo, n_hi = normal
        a_lo, a_hi = anomalous

        # readings are rounded to 0.1: a bin [b, b + step) holds the draws in [b - 0.05, b + step - 0.05)
        exp_v = [round((1 - rate) * _overlap(b - 0.05, step, n_lo, n_hi) + rate * _overlap(b - 0.05, step, a_lo, a_hi),
                       6) for b in xs]
        verdict = v[f"tap_events.{key}_anomalies"]
        out.append(Chart(
            f"tap_{key}", f"{key.capitalize()} readings ({step:g} {unit} bins); anomalies "
            f"{verdict.observed['share']:.2%} (config {verdict.expected['share']:.2%})",
            f"{key}{'_c' if key == 'temperature' else '_psi'} {{min: {normal[0]:g}, max: {normal[1]:g}, anomaly_rate: "
            f"{rate:g}}}; anomalous readings lie in {list(anomalous)} {unit}",
            "bar", [f"{x:g}" for x in xs], {"readings": _share([got_v.get(x, 0) for x in xs])}, {"config": exp_v},
            unit, "share of readings", marks(f"tap_events.{key}_anomalies")))
    return out


def _overlap(b: float, step: float, lo: float, hi: float) -> float:
    """The share of [lo, hi) that the bin [b, b + step) holds."""
    return max(0.0, min(b + step, hi) - max(b, lo)) / (hi - lo) if hi > lo else float(b <= lo < b + step)


def _core_charts(cfg: Config, core: checks.Frames, marks: Callable[..., list[Mark]]) -> list[Chart]:
    out = []
    sizes = [s.name for s in cfg.sizes]
    acc = core["accounts"].select(pl.col("id").alias("customer_id"), "size")
    per_loc = (core["devices"].group_by("location_id").agg(pl.len().alias("n"))
               .join(core["locations"].select(pl.col("id").alias("location_id"), "customer_id"), on="location_id")
               .join(acc, on="customer_id"))
    per_acc = core["users"].group_by("customer_id").agg(pl.len().alias("n")).join(acc, on="customer_id")
    for cid, title, frame, attr, names in (
            ("devices_per_location", "Devices per location by account size", per_loc, "devices_per_location",
             ("devices.count_in_bounds", "locations.has_devices")),
            ("users_per_account", "Users per account by size", per_acc, "users",
             ("users.count_in_bounds", "accounts.has_users"))):
        stats = frame.group_by("size").agg(pl.col("n").mean().alias("mean"), pl.col("n").min().alias("min"),
                                           pl.col("n").max().alias("max"))
        got = {r["size"]: r for r in stats.iter_rows(named=True)}
        ranges = {s.name: getattr(s, attr) for s in cfg.sizes}
        out.append(Chart(
            cid, title, f"accounts.sizes.*.{attr} " + ", ".join(f"{k} {list(r)}" for k, r in ranges.items()),
            "bar", sizes, {k: [round(float(got[s][k]), 2) if s in got else None for s in sizes]
                           for k in ("mean", "min", "max")},
            {"config min": [float(ranges[s][0]) for s in sizes], "config max": [float(ranges[s][1]) for s in sizes]},
            "account size", "count", marks(*names)))
    mix_x, mix_obs, mix_exp = [], [], []
    for column, shares in (("status", cfg.devices.operational_status),
                           ("device_type", [(t.name, t.share) for t in cfg.devices.types])):
        counts = dict(core["devices"][column].value_counts().iter_rows())
        total = sum(counts.values())
        for name, share in shares:
            mix_x.append(f"{column}: {name}")
            mix_obs.append(round(counts.get(name, 0) / total, 6) if total else 0.0)
            mix_exp.append(round(share, 6))
    out.append(Chart("device_mix", "Device status and type mix",
                     "devices.operational_status, devices.types.*.share", "bar", mix_x, {"devices": mix_obs},
                     {"config": mix_exp}, "", "share of devices",
                     marks("devices.status_mix", "devices.device_type_mix")))
    end = cfg.end_date
    patterns = cfg.growth
    age = (pl.lit(end) - pl.col("created_at").dt.date()).dt.total_days()
    pattern: Any = pl.when(pl.lit(False)).then(pl.lit(""))
    for p in patterns:
        pattern = pattern.when(age.is_between(p.days_before_end[0], p.days_before_end[1])).then(pl.lit(p.name))
    got_p = dict(core["accounts"].select(pattern.otherwise(pl.lit("other")).alias("p"))["p"].value_counts().iter_rows())
    n_acc = core["accounts"].height
    out.append(Chart("account_growth", "Accounts by growth pattern (age at the end date)",
                     "growth_patterns.account_creation " + ", ".join(f"{p.name} {p.share:g} {list(p.days_before_end)} "
                                                                     "days" for p in patterns),
                     "bar", [p.name for p in patterns], {"accounts": [float(got_p.get(p.name, 0)) for p in patterns]},
                     {"config": [round(p.share * n_acc, 2) for p in patterns]}, "pattern", "accounts",
                     marks("accounts.creation_growth", "accounts.size_mix_exact")))
    out += _subscription_charts(cfg, core, marks)
    return out


def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    out, d = [], start.replace(day=1)
    while d <= end:
        out.append(d)
        d = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def _subscription_charts(cfg: Config, core: checks.Frames, marks: Callable[..., list[Mark]]) -> list[Chart]:
    subs = core["subscriptions"].with_columns(
        pl.col("start_date").cast(pl.Date).alias("s"), pl.col("end_date").cast(pl.Date).alias("e"),
        pl.col("monthly_price").cast(pl.Float64).alias("price"))
    end = cfg.end_date
    first = subs["s"].min()
    months = _months(first if isinstance(first, dt.date) else end, end)
    grid = pl.DataFrame({"month": months}).with_columns(
        at=pl.col("month").dt.offset_by("1mo").dt.offset_by("-1d"))
    active = (grid.join(subs.filter(pl.col("price") > 0).select("plan_name", "s", "e", "price"), how="cross")
              .filter((pl.col("s") <= pl.col("at")) & (pl.col("e").is_null() | (pl.col("e") > pl.col("at"))))
              .group_by("month", "plan_name").agg(pl.col("price").sum().alias("mrr")))
    tiers = [t.key for t in cfg.subscriptions.tiers]
    mrr = {t: [0.0] * len(months) for t in tiers}
    index = {m: i for i, m in enumerate(months)}
    for m, plan, value in active.iter_rows():
        if plan in mrr:
            mrr[plan][index[m]] = round(float(value), 2)
    churned = (core["accounts"].filter(pl.col("_churn_at").is_not_null())
               .group_by(pl.col("_churn_at").dt.date().dt.truncate("1mo").alias("month")).agg(pl.len().alias("n")))
    paying = (grid.join(subs.filter(pl.col("price") > 0).select("customer_id", "s", "e"), how="cross")
              .filter((pl.col("s") <= pl.col("month")) & (pl.col("e").is_null() | (pl.col("e") > pl.col("month"))))
              .group_by("month").agg(pl.col("customer_id").n_unique().alias("n")))
    got_c = dict(churned.iter_rows())
    got_p = dict(paying.iter_rows())
    labels = [m.strftime("%Y-%m") for m in months]
    return [
        Chart("mrr_by_tier", "MRR by tier over time (paying subscriptions at each month's end)",
              "subscriptions.tiers " + ", ".join(f"{t.key} {t.price:g}" for t in cfg.subscriptions.tiers)
              + f"; growth_patterns.monthly_growth_rate.mrr {cfg.growth_rate('mrr'):g}",
              "line", labels, {t: mrr[t] for t in tiers}, {}, "month", "MRR",
              marks("subscriptions.price_matches_tier", "subscriptions.max_mrr_variance", "subscriptions.no_overlap")),
        Chart("churn_by_month", "Accounts churned by month",
              f"churn.monthly_rate {cfg.churn_monthly_rate:g} of paying accounts",
              "bar", labels, {"churned": [float(got_c.get(m, 0)) for m in months]},
              {"config": [round(got_p.get(m, 0) * cfg.churn_monthly_rate, 2) for m in months]}, "month",
              "accounts", []),
    ]


def _app_charts(cfg: Config, core: checks.Frames, parts: dict[str, EventCounts],
                marks: Callable[..., list[Mark]]) -> list[Chart]:
    out = []
    ev = cfg.events
    if parts["user_sessions"].counts:
        s = pl.concat(parts["user_sessions"].counts).group_by("role", "hour").agg(pl.col("rows").sum())
        series: dict[str, list[Any]] = {}
        expected: dict[str, list[Any]] = {}
        for r in ev.role_activity:
            got = dict(s.filter(pl.col("role") == r.role).select("hour", "rows").iter_rows())
            series[r.role] = [float(got.get(h, 0)) for h in range(24)]
            total, (h0, h1) = sum(got.values()), r.hours
            expected[r.role] = [round(total / (h1 - h0), 2) if h0 <= h < h1 else 0.0 for h in range(24)]
        out.append(Chart("sessions_by_role_hour", "Sessions per role by hour of day",
                         "events.role_activity " + ", ".join(f"{r.role} {list(r.hours)}" for r in ev.role_activity),
                         "line", list(range(24)), series, expected, "hour", "sessions", marks("users.role_mix")))
    if parts["page_views"].counts:
        t = (pl.concat(parts["page_views"].counts).group_by("prev", "page").agg(pl.col("rows").sum())
             .sort(["rows", "prev", "page"], descending=[True, False, False]).head(TOP_TRANSITIONS))
        out.append(Chart("page_transitions", f"Page-view paths: the {TOP_TRANSITIONS} most common steps",
                         "page views follow each session's path (ids in URLs shown as :id)", "bar",
                         [f"{a} → {b}" for a, b in t.select("prev", "page").iter_rows()],
                         {"steps": [float(x) for x in t["rows"]]}, {}, "", "steps", []))
    if parts["feature_usage"].counts:
        f = (pl.concat(parts["feature_usage"].counts).group_by("category")
             .agg(pl.col("rows").sum(), pl.col("uses").sum()).sort("category"))
        out.append(Chart("feature_usage", "Feature usage by category (the staging model's categories)",
                         "events.feature_usage: dashboard_views_per_day, report_generation, "
                         "api_calls_per_device_per_day",
                         "bar", f["category"].to_list(), {"rows": [float(x) for x in f["rows"]],
                                                          "uses": [float(x or 0) for x in f["uses"]]}, {}, "category",
                         "count", []))
    return out


def _null_chart(cfg: Config, core: checks.Frames, parts: dict[str, EventCounts],
                marks: Callable[..., list[Mark]]) -> Chart:
    x, got = [], []
    for t in CORE_TABLES:
        for c in t.optional_columns:
            x.append(f"{t.key}.{c}")
            got.append(round(core[t.key][c].null_count() / core[t.key].height, 6) if core[t.key].height else 0.0)
    for t in EVENT_TABLES:
        counts = parts[t.key]
        for c in t.optional_columns:
            if counts.rows:
                x.append(f"{t.key}.{c}")
                got.append(round(counts.nulls.get(c, 0) / counts.rows, 6))
    return Chart("null_shares", "NULL share per optional column",
                 f"data_quality.null_rates.optional_fields {cfg.optional_null_rate:g}", "bar", x, {"NULL share": got},
                 {"config": [cfg.optional_null_rate] * len(x)}, "column", "share of rows",
                 marks(*[f"{t.key}.optional_nulls" for t in CORE_TABLES + EVENT_TABLES if t.optional_columns]))
