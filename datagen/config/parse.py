"""Reading a YAML config into the model: every key checked once, at load time; errors name the YAML key path and
the allowed values (datagen/config/_node.py reads the typed values)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from datagen._vocab import words
from datagen.config._node import Node, check_shares
from datagen.config.model import (
    AUTO,
    DEFAULT_CONFIG,
    ID_LIMITS,
    ID_TABLES,
    MAX_ACCOUNTS,
    MAX_ID,
    MAX_POUR_SECONDS,
    SIZE_ORDER,
    Config,
    CountShape,
    Devices,
    DeviceType,
    Events,
    GrowthPattern,
    HealthBand,
    Industry,
    QualityRules,
    Region,
    Role,
    RoleActivity,
    SizeSpec,
    Subscriptions,
    TapRate,
    Tier,
)
from datagen.errors import ConfigError
from datagen.tables import DEFAULT_LAYOUT, LAYOUTS


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a YAML config; raises ConfigError naming the key path."""
    p = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(p), "config file not found", hint=f"pass --config PATH; the shipped config is {DEFAULT_CONFIG}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(p), f"cannot read config file: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(str(p), f"not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_config(raw)


# Keys of the shipped config that no builder reads, and what each does instead (the keys builders read are
# declared per table, tables.Table.reads). tests/test_every_key.py proves each: a bound by the refusal a change past it
# brings, a threshold by a check that flips, the storage layout by the columns it stores.
NOT_DATA_KEYS: dict[str, tuple[str, str]] = {
    "time_range.start_date": ("bound", "the start of time: account-creation windows and events.range must lie "
                              "after it, and it bounds the plan's maintenance-visit maximum"),
    "subscriptions.tiers.enterprise.device_limit": ("bound", "the largest tier must be unlimited (null), so "
                                                    "every account fits a tier"),
    "data_quality.null_rates.required_fields": ("bound", "required columns are never NULL; only 0 is accepted"),
    "data_quality.validation_rules.*": ("threshold", "the limits the business-rule checks apply"),
    "events.tap_events.layout": ("storage", "how tap events are stored (contract: jsonb metrics; typed: "
                                 "columns plus a view); the rows are the same"),
}
# Keys the legacy config had that no table can express: rejected by name rather than accepted and ignored.
REMOVED_KEYS = {"business_name": "no table names the vendor, so it had no effect on the data"}
REMOVED_TIER_KEYS = {
    "name": "subscriptions.plan_name holds the tier's key (the staging models match on lowercase keys), "
            "so a display name had no effect on the data"
}


def parse_config(raw: Any) -> Config:
    """Validate a parsed YAML document (a dict) into a Config."""
    root = Node(raw, "")
    sec = root.mapping(
        (
            "seed",
            "time_range",
            "accounts",
            "industries",
            "regions",
            "locations",
            "devices",
            "user_roles",
            "subscriptions",
            "events",
            "id_ranges",
            "growth_patterns",
            "churn",
            "maintenance",
            "data_quality",
        ),
        removed=REMOVED_KEYS,
    )
    seed = sec["seed"].int(lo=0, hi=2**63 - 1)

    tr = sec["time_range"].mapping(("start_date", "end_date", "business_hours", "peak_hours"))
    start_date, end_date = tr["start_date"].date(), tr["end_date"].date()
    if end_date <= start_date:
        raise tr["end_date"].fail(f"must be after time_range.start_date ({start_date}), got {end_date}")
    bh = tr["business_hours"].mapping(("start", "end"))
    bh_start, bh_end = bh["start"].int(lo=0, hi=23), bh["end"].int(lo=0, hi=24)
    if bh_end <= bh_start:
        raise bh["end"].fail(f"must be > business_hours.start ({bh_start}), got {bh_end}")
    peak = tuple((k, n.int_range(lo=0, hi=24)) for k, n in tr["peak_hours"].entries())

    accounts, sizes, shapes = _accounts(sec["accounts"])
    industries = _industries(sec["industries"])
    regions = _regions(sec["regions"])
    loc = sec["locations"].mapping(("other_location_types",))
    other_types = _shares(loc["other_location_types"])
    devices = _devices(sec["devices"])
    roles = _roles(sec["user_roles"])
    subs = _subscriptions(sec["subscriptions"])
    events = _events(sec["events"], [r.name for r in roles], [i.name for i in industries], start_date, end_date)
    id_ranges, auto_ids = _id_ranges(sec["id_ranges"])
    growth, growth_rates = _growth(sec["growth_patterns"], (end_date - start_date).days)
    ch = sec["churn"].mapping(("monthly_rate", "reasons"))
    churn_rate = ch["monthly_rate"].float(lo=0.0, hi=1.0)
    churn_reasons = tuple(n.str() for n in ch["reasons"].items(unique=True))
    mt = sec["maintenance"].mapping(("interval_days", "types"))
    dq = sec["data_quality"].mapping(("null_rates", "validation_rules"))
    nr = dq["null_rates"].mapping(("optional_fields", "required_fields"))
    optional_null_rate = nr["optional_fields"].float(lo=0.0, hi=0.5)
    if nr["required_fields"].float(lo=0.0, hi=1.0) != 0.0:
        raise nr["required_fields"].fail(
            "must be 0: required columns are keys, foreign keys, or read by a check or a later table's builder, so "
            "a NULL there would break the data rather than exercise it", hint="set optional_fields instead")
    vr = dq["validation_rules"].mapping(
        ("min_device_uptime", "min_location_operational", "max_mrr_variance", "max_orphaned_records")
    )

    cfg = Config(
        seed=seed,
        start_date=start_date,
        end_date=end_date,
        business_hours=(bh_start, bh_end),
        peak_hours=peak,
        accounts_total=accounts,
        sizes=sizes,
        count_shapes=shapes,
        industries=industries,
        regions=regions,
        other_location_types=other_types,
        devices=devices,
        roles=roles,
        subscriptions=subs,
        events=events,
        id_ranges=id_ranges,
        auto_ids=auto_ids,
        growth=growth,
        monthly_growth_rate=growth_rates,
        churn_monthly_rate=churn_rate,
        churn_reasons=churn_reasons,
        maintenance_interval_days=mt["interval_days"].int(lo=1, hi=3650),
        maintenance_types=_maintenance_types(mt["types"]),
        optional_null_rate=optional_null_rate,
        quality=QualityRules(
            min_device_uptime=vr["min_device_uptime"].share(),
            min_location_operational=vr["min_location_operational"].share(),
            max_mrr_variance=vr["max_mrr_variance"].share(),
            max_orphaned_records=vr["max_orphaned_records"].int(lo=0),
        ),
    )
    acc_lo, acc_hi = cfg.id_range("accounts")
    if acc_hi - acc_lo + 1 < accounts:
        raise ConfigError(
            "id_ranges.accounts",
            f"holds {acc_hi - acc_lo + 1} ids but accounts.total is {accounts}",
            hint="widen id_ranges.accounts or lower accounts.total",
        )
    return cfg


MAINTENANCE_TYPES = ("scheduled", "overdue", "emergency")  # the builder gives each its own timing


def _maintenance_types(node: Node) -> tuple[tuple[str, float], ...]:
    types = node.mapping(MAINTENANCE_TYPES)
    out = tuple((k, types[k].share()) for k in MAINTENANCE_TYPES)
    check_shares(node, dict(out))
    return out


def _shares(node: Node) -> tuple[tuple[str, float], ...]:
    """A mapping of name -> share that sums to 1."""
    out = tuple((k, n.share()) for k, n in node.entries())
    check_shares(node, dict(out))
    return out


def _accounts(node: Node) -> tuple[int, tuple[SizeSpec, ...], tuple[tuple[str, CountShape], ...]]:
    sec = node.mapping(("total", "sizes", "count_shapes"))
    total = sec["total"].int(lo=1, hi=MAX_ACCOUNTS)
    sizes_node = sec["sizes"]
    sizes_map = sizes_node.mapping(SIZE_ORDER)
    sizes = []
    for name in SIZE_ORDER:
        s = sizes_map[name].mapping(("share", "locations", "devices_per_location", "users", "trial_days"))
        sizes.append(
            SizeSpec(
                name=name,
                share=s["share"].share(),
                locations=s["locations"].int_range(lo=1, hi=100_000),
                devices_per_location=s["devices_per_location"].int_range(lo=1, hi=100_000),
                users=s["users"].int_range(lo=1, hi=100_000),
                trial_days=s["trial_days"].int(lo=1, hi=365),
            )
        )
    check_shares(sizes_node, {s.name: s.share for s in sizes})
    shapes_map = sec["count_shapes"].mapping(("locations", "devices_per_location", "users"))
    shapes = []
    for key in ("locations", "devices_per_location", "users"):
        n = shapes_map[key]
        kind = n.value.get("shape") if isinstance(n.value, dict) else None
        if kind == "skewed":
            f = n.mapping(("shape", "skew"))
            shapes.append((key, CountShape("skewed", f["skew"].float(lo=1.0, hi=20.0))))
        else:
            f = n.mapping(("shape",))
            f["shape"].str(choices=("uniform", "skewed"))
            shapes.append((key, CountShape("uniform", 1.0)))
    return total, tuple(sizes), tuple(shapes)


def _industries(node: Node) -> tuple[Industry, ...]:
    out = []
    for name, n in node.entries():
        f = n.mapping(("share", "name_suffixes", "venue_types"))
        out.append(
            Industry(
                name=name,
                share=f["share"].share(),
                name_suffixes=tuple(x.str(max_len=40) for x in f["name_suffixes"].items(unique=True)),
                venue_types=_shares(f["venue_types"]),
            )
        )
    check_shares(node, {i.name: i.share for i in out})
    return tuple(out)


US_STATES = frozenset(words("us_states"))  # two-letter codes: datagen/data/us_states.txt


def _regions(node: Node) -> tuple[Region, ...]:
    out = []
    for name, n in node.entries():
        f = n.mapping(("share", "states"))
        states = []
        for s in f["states"].items(unique=True):
            code = s.str(max_len=2)
            if code not in US_STATES:
                raise s.fail(f"must be a two-letter US state code such as NY or CA, got {code!r}")
            states.append(code)
        out.append(Region(name=name, share=f["share"].share(), states=tuple(states)))
    check_shares(node, {r.name: r.share for r in out})
    return tuple(out)


def _devices(node: Node) -> Devices:
    sec = node.mapping(
        (
            "types",
            "premium_price_factor",
            "firmware_by_generation",
            "warranty_years",
            "operational_status",
            "health_score",
            "connectivity",
            "usage_pattern",
        )
    )
    types = []
    for name, n in sec["types"].entries():
        f = n.mapping(("share", "category", "price", "manufacturers"))
        manus = tuple((m, tuple(x.str(max_len=40) for x in mn.items(unique=True)))
                      for m, mn in f["manufacturers"].entries())
        types.append(
            DeviceType(
                name=name,
                share=f["share"].share(),
                category=f["category"].str(max_len=50),
                price=f["price"].float_range(lo=0.0, hi=1e6),
                manufacturers=manus,
            )
        )
    check_shares(sec["types"], {t.name: t.share for t in types})
    status = _shares(sec["operational_status"])
    known_status = ("online", "offline", "maintenance", "error")
    for (k, _), (_, entry) in zip(status, sec["operational_status"].entries(), strict=True):
        if k not in known_status:
            raise entry.fail(f"unknown status {k!r}; staging knows {', '.join(known_status)}")
    bands = []
    for name, n in sec["health_score"].entries():
        f = n.mapping(("share", "range"))
        bands.append(HealthBand(name=name, share=f["share"].share(), range=f["range"].float_range(lo=0, hi=1)))
    check_shares(sec["health_score"], {b.name: b.share for b in bands})
    return Devices(
        types=tuple(types),
        premium_price_factor=sec["premium_price_factor"].float(lo=1.0, hi=10.0),
        firmware_by_generation=tuple(
            tuple(v.str(max_len=20) for v in g.items()) for g in sec["firmware_by_generation"].items()
        ),
        warranty_years=sec["warranty_years"].int_range(lo=0, hi=30),
        operational_status=status,
        health_score=tuple(bands),
        connectivity=_shares(sec["connectivity"]),
        usage_pattern=_shares(sec["usage_pattern"]),
    )


def _roles(node: Node) -> tuple[Role, ...]:
    out = []
    for name, n in node.entries():
        f = n.mapping(("share", "permissions"))
        out.append(Role(name=name, share=f["share"].share(), permissions=f["permissions"].str()))
    if "admin" not in {r.name for r in out}:
        raise node.fail("must include the role admin (every account's first user is its admin)")
    check_shares(node, {r.name: r.share for r in out})
    return tuple(out)


def _subscriptions(node: Node) -> Subscriptions:
    sec = node.mapping(("tiers", "trial_price", "upgrade_share", "upgrade_min_age_days", "billing_cycle"))
    tiers: list[Tier] = []
    for key, n in sec["tiers"].entries():
        f = n.mapping(("price", "device_limit"), removed=REMOVED_TIER_KEYS)
        lim_node = f["device_limit"]
        limit = None if lim_node.value is None else lim_node.int(lo=1)
        if tiers and tiers[-1].device_limit is None:
            raise n.fail(f"comes after the unlimited tier {tiers[-1].key!r}; list tiers from smallest to largest")
        if tiers and limit is not None and limit <= (tiers[-1].device_limit or 0):
            raise lim_node.fail(
                f"must be > the previous tier's device_limit ({tiers[-1].device_limit}), "
                f"got {limit}; list tiers from smallest to largest"
            )
        tiers.append(Tier(key=key, price=f["price"].float(lo=0.0, hi=1e7), device_limit=limit))
    if tiers[-1].device_limit is not None:
        raise sec["tiers"].fail(
            "the last (largest) tier must have device_limit: null (unlimited), so every account fits a tier"
        )
    return Subscriptions(
        tiers=tuple(tiers),
        trial_price=sec["trial_price"].float(lo=0.0),
        upgrade_share=sec["upgrade_share"].share(),
        upgrade_min_age_days=sec["upgrade_min_age_days"].int(lo=1, hi=36500),
        billing_cycle=sec["billing_cycle"].str(choices=("monthly", "quarterly", "annual")),
    )


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _events(node: Node, roles: list[str], industries: list[str], start: dt.date, end: dt.date) -> Events:
    sec = node.mapping(("range", "tap_events", "role_activity", "feature_usage"))
    rng = sec["range"].mapping(("start_date", "end_date"))
    ev_start, ev_end = rng["start_date"].date(), rng["end_date"].date()
    if not start <= ev_start <= end:
        raise rng["start_date"].fail(f"must lie inside time_range ({start} to {end}), got {ev_start}")
    if not ev_start <= ev_end <= end:
        raise rng["end_date"].fail(f"must lie between events.range.start_date ({ev_start}) and "
                                   f"time_range.end_date ({end}), got {ev_end}")
    tap = sec["tap_events"].mapping(
        ("per_device_per_day", "business_hours_only", "event_days", "season", "growth", "volume_ml",
         "temperature_c", "pressure_psi", "flow_rate_ml_per_sec"), ("layout",)
    )
    tap_layout = tap["layout"].str(choices=LAYOUTS) if "layout" in tap else DEFAULT_LAYOUT
    rates_map = tap["per_device_per_day"].mapping(tuple(industries))
    rates = []
    for ind in industries:
        f = rates_map[ind].mapping(("min", "max", "peak_multiplier", "weekend_factor"))
        lo = f["min"].int(lo=0, hi=1_000_000)
        hi = f["max"].int(lo=0, hi=1_000_000)
        if hi < lo:
            raise f["max"].fail(f"must be >= min ({lo}), got {hi}")
        rates.append(TapRate(ind, lo, hi, f["peak_multiplier"].float(lo=1.0, hi=100.0),
                             f["weekend_factor"].float(lo=0.0, hi=10.0)))
    bho = tuple(n.str(choices=tuple(industries)) for n in tap["business_hours_only"].items(min_len=0, unique=True))
    ed = tap["event_days"].mapping(("industries", "share", "multiplier", "quiet_factor"))
    ed_ind = tuple(n.str(choices=tuple(industries)) for n in ed["industries"].items(min_len=0, unique=True))
    season = tap["season"].mapping(("peak_day_of_year", "amplitude"))
    growth = tap["growth"].mapping(("start_factor", "ramp_days"))
    vol = tap["volume_ml"].mapping(("min", "max", "common_sizes", "common_share"))
    vmin, vmax = vol["min"].int(lo=1, hi=100_000), vol["max"].int(lo=1, hi=100_000)
    if vmax < vmin:
        raise vol["max"].fail(f"must be >= min ({vmin}), got {vmax}")
    sizes = tuple(n.int(lo=vmin, hi=vmax) for n in vol["common_sizes"].items(unique=True))
    temp = tap["temperature_c"].mapping(("min", "max", "anomaly_rate"))
    press = tap["pressure_psi"].mapping(("min", "max", "anomaly_rate"))
    flow = tap["flow_rate_ml_per_sec"].mapping(("min", "max"))

    def pair(m: dict[str, Node], lo: float = -1e6, hi: float = 1e6) -> tuple[float, float]:
        a, b = m["min"].float(lo=lo, hi=hi), m["max"].float(lo=lo, hi=hi)
        if b < a:
            raise m["max"].fail(f"must be >= min ({a:g}), got {b:g}")
        return a, b

    flow_range = pair(flow, lo=0.1)
    if vmax / flow_range[0] > MAX_POUR_SECONDS:  # a pour's duration is volume / flow, stored with 2 decimals
        raise flow["min"].fail(f"with volume_ml.max {vmax}, a pour at {flow_range[0]:g} ml/s would last "
                               f"{vmax / flow_range[0]:,.0f} s; at most {MAX_POUR_SECONDS:,} s is supported",
                               hint=f"raise it to at least {vmax / MAX_POUR_SECONDS:g}")

    ra_map = sec["role_activity"].mapping(tuple(roles))
    activity = []
    for r in roles:
        f = ra_map[r].mapping(("days", "hours", "sessions_per_day", "session_minutes"))
        days = tuple(WEEKDAYS.index(n.str(choices=WEEKDAYS))
                     for n in f["days"].items(min_len=0, max_len=7, unique=True))
        h_from, h_to = f["hours"].int_range(lo=0, hi=24)
        if h_to <= h_from:
            raise f["hours"].child(1).fail(f"must be > the start hour ({h_from}), got {h_to}")
        activity.append(RoleActivity(r, tuple(sorted(set(days))), (h_from, h_to),
                                     f["sessions_per_day"].float(lo=0.0, hi=100.0),
                                     f["session_minutes"].float(lo=1.0, hi=600.0)))

    fu = sec["feature_usage"].mapping(("dashboard_views_per_day", "report_generation", "api_calls_per_device_per_day"))
    dv_map = fu["dashboard_views_per_day"].mapping(tuple(roles))
    rg = fu["report_generation"].mapping(("weekly", "monthly"))
    return Events(
        start_date=ev_start,
        end_date=ev_end,
        tap_rates=tuple(rates),
        business_hours_only=bho,
        event_day_industries=ed_ind,
        event_day_share=ed["share"].share(),
        event_day_multiplier=ed["multiplier"].float(lo=0.0, hi=100.0),
        quiet_day_factor=ed["quiet_factor"].float(lo=0.0, hi=100.0),
        season_peak_day=season["peak_day_of_year"].int(lo=1, hi=366),
        season_amplitude=season["amplitude"].float(lo=0.0, hi=0.99),
        growth_start_factor=growth["start_factor"].float(lo=0.0, hi=1.0),
        growth_ramp_days=growth["ramp_days"].int(lo=1, hi=36500),
        volume_ml=(vmin, vmax),
        common_sizes=sizes,
        common_share=vol["common_share"].share(),
        temperature_c=pair(temp),
        temperature_anomaly_rate=temp["anomaly_rate"].share(),
        pressure_psi=pair(press, lo=0.0),
        pressure_anomaly_rate=press["anomaly_rate"].share(),
        flow_rate_ml_per_sec=flow_range,
        role_activity=tuple(activity),
        dashboard_views_per_day=tuple((r, dv_map[r].int_range(lo=0, hi=10_000)) for r in roles),
        report_generation=(("weekly", rg["weekly"].share()), ("monthly", rg["monthly"].share())),
        api_calls_per_device_per_day=fu["api_calls_per_device_per_day"].float_range(lo=0.0, hi=1e6),
        tap_layout=tap_layout,
    )


def _id_ranges(node: Node) -> tuple[tuple[tuple[str, tuple[int, int]], ...], tuple[str, ...]]:
    """[first, last] per table, or `auto` ([1, the table's max_id]: as many ids as the plan needs)."""
    m = node.mapping(ID_TABLES)
    out: list[tuple[str, tuple[int, int]]] = []
    auto: list[str] = []
    for t in ID_TABLES:
        limit = ID_LIMITS[t]
        if m[t].value == AUTO:
            out.append((t, (1, limit.max_id)))
            auto.append(t)
            continue
        if isinstance(m[t].value, str):
            raise m[t].fail(f"must be [first, last] or {AUTO}, got {m[t].value!r}")
        lo, hi = m[t].int_range(lo=1, hi=MAX_ID)
        if hi > limit.max_id:
            raise m[t].fail(f"must end at or below {limit.max_id:,}, got {hi:,}: {limit.max_id_reason}")
        out.append((t, (lo, hi)))
    return tuple(out), tuple(auto)


def _growth(node: Node, span_days: int) -> tuple[tuple[GrowthPattern, ...], tuple[tuple[str, float], ...]]:
    sec = node.mapping(("account_creation", "monthly_growth_rate"))
    out = []
    for name, n in sec["account_creation"].entries():
        f = n.mapping(("share", "days_before_end"))
        lo, hi = f["days_before_end"].int_range(lo=1)
        if hi > span_days:
            raise (
                f["days_before_end"]
                .child(1)
                .fail(
                    f"must be <= the length of time_range ({span_days} days), got {hi}",
                    hint="accounts would be created before time_range.start_date",
                )
            )
        out.append(GrowthPattern(name=name, share=f["share"].share(), days_before_end=(lo, hi)))
    check_shares(sec["account_creation"], {g.name: g.share for g in out})
    rates = tuple((k, n.float(lo=0.0, hi=10.0))
                  for k, n in sec["monthly_growth_rate"].mapping(("new_accounts", "device_expansion", "mrr")).items())
    return tuple(out), rates
