"""Every leaf key of the shipped config takes effect, and only where the declarations say.

For each leaf (a list counts as one leaf) a mutation changes its value within its valid range, the core tables
and three event days are regenerated in memory, and the tables whose fingerprints moved must be non-empty and
inside the tables that declare the key read (tables.Table.reads) plus the tables built from those
(tables.dependency_closure). Keys no builder reads (config.NOT_DATA_KEYS) are proven by what they do instead:
a bound by the refusal a change past it brings, a threshold by a check that flips, the storage layout by the
columns it stores.

The base is the shipped config made small but complete: 60 accounts with small fleets, so every size,
industry, region, device type, role and tier occurs, and an event range of Saturday 2025-05-31 to Monday
2025-06-02, so weekend factors, the weekly report (Mondays) and the monthly report (the first working day of
June) all act.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

import polars as pl
import pytest

from datagen.checks import run_checks
from datagen.config import DEFAULT_CONFIG, NOT_DATA_KEYS, parse_config
from datagen.errors import ConfigError
from datagen.events import Streams
from datagen.generate import generate
from datagen.manifest import fingerprint
from datagen.tables import CORE_TABLES, EVENT_TABLES, TABLES, TAP_EVENTS, dependency_closure
from tests.fix_db import built_event_fingerprints, get_key, set_key, shipped_config

Path_ = tuple[str, ...]


def _base() -> dict[str, Any]:
    c = shipped_config()
    c["accounts"]["total"] = 60
    sizes = c["accounts"]["sizes"]
    sizes["small"].update(locations=[1, 2], devices_per_location=[1, 3], users=[2, 4])
    sizes["medium"].update(locations=[2, 3], devices_per_location=[2, 4], users=[3, 6])
    sizes["large"].update(locations=[3, 4], devices_per_location=[3, 5], users=[5, 8])
    sizes["enterprise"].update(locations=[4, 6], devices_per_location=[4, 6], users=[8, 12])
    tiers = c["subscriptions"]["tiers"]  # limits the small fleets cross, so every tier occurs
    tiers["starter"]["device_limit"], tiers["professional"]["device_limit"] = 3, 8
    tiers["business"]["device_limit"] = 16
    c["events"]["range"] = {"start_date": dt.date(2025, 5, 31), "end_date": dt.date(2025, 6, 2)}
    return c


def leaves(node: Any, path: Path_ = ()) -> Iterator[Path_]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, (*path, str(k)))
    else:
        yield path


def dotted(path: Path_) -> str:
    return ".".join(path)


Change = list[tuple[str, Any]]  # (dotted key, new value)

# Where the generic change below moves nothing on the base (a share shift no draw crosses, a day the window
# does not hold, a limit no fleet reaches), or cannot be made (a share map of one entry, a shape that needs
# its skew): the change made instead. Each still stays inside the key's valid range.
EXPLICIT: dict[str, Change] = {
    "accounts.sizes.enterprise.locations": [("accounts.sizes.enterprise.locations", [8, 10])],
    "accounts.sizes.enterprise.users": [("accounts.sizes.enterprise.users", [14, 20])],
    # long enough that accounts signed up in the last months are still on trial (accounts.business_type)
    "accounts.sizes.small.trial_days": [("accounts.sizes.small.trial_days", 200)],
    "accounts.count_shapes.locations.shape": [("accounts.count_shapes.locations", {"shape": "uniform"})],
    "accounts.count_shapes.devices_per_location.shape": [
        ("accounts.count_shapes.devices_per_location", {"shape": "uniform"})],
    "accounts.count_shapes.users.shape": [("accounts.count_shapes.users", {"shape": "skewed", "skew": 2.0})],
    "industries.restaurant.venue_types.restaurant": [
        ("industries.restaurant.venue_types", {"restaurant": 0.5, "cafe": 0.5})],
    "industries.hotel.venue_types.hotel": [("industries.hotel.venue_types", {"hotel": 0.5, "resort": 0.5})],
    "industries.bar.venue_types.bar": [("industries.bar.venue_types", {"bar": 0.3, "brewery": 0.7})],
    "industries.stadium.venue_types.sports_bar": [
        ("industries.stadium.venue_types", {"sports_bar": 0.2, "club": 0.8})],
    "subscriptions.tiers.business.device_limit": [("subscriptions.tiers.business.device_limit", 12)],
    "subscriptions.trial_price": [("subscriptions.trial_price", 10.0)],
    "subscriptions.upgrade_min_age_days": [("subscriptions.upgrade_min_age_days", 200)],
    "events.tap_events.business_hours_only": [
        ("events.tap_events.business_hours_only", ["corporate", "hotel"])],
    "events.tap_events.event_days.industries": [
        ("events.tap_events.event_days.industries", ["stadium", "bar"])],
    "events.role_activity.admin.days": [("events.role_activity.admin.days", ["tue", "wed", "thu", "fri"])],
    "events.role_activity.viewer.days": [("events.role_activity.viewer.days", ["tue", "wed", "thu", "fri"])],
}


def _number_candidates(c: dict[str, Any], path: Path_, v: float) -> Iterator[Change]:
    key = dotted(path)
    parent = get_key(c, dotted(path[:-1]))
    grand = get_key(c, dotted(path[:-2])) if len(path) > 1 else {}
    if path[-1] == "share" and all(isinstance(x, dict) and "share" in x for x in grand.values()) and len(grand) > 1:
        siblings = [dotted((*path[:-2], k, "share")) for k in grand if k != path[-2]]  # a share of named entries
    elif (len(parent) > 1 and all(type(x) in (int, float) for x in parent.values())
          and abs(sum(parent.values()) - 1) < 1e-9):
        siblings = [dotted((*path[:-1], k)) for k in parent if k != path[-1]]  # a share map {name: share}
    else:
        siblings = []
    for sib in siblings:  # shares must sum to 1: move half of the smaller one between the two
        other = get_key(c, sib)
        d = min(v, other) / 2
        yield [(key, round(v + d, 6)), (sib, round(other - d, 6))]
        yield [(key, round(v - d, 6)), (sib, round(other + d, 6))]
    if v == 0:
        yield [(key, 1 if isinstance(v, int) else 0.1)]
    for factor in (1.5, 0.5, 2.0, 1.1, 0.9):
        yield [(key, round(v * factor) if isinstance(v, int) else round(v * factor, 6))]
    for step in (1, -1, 10, -10):
        yield [(key, v + step)]


def candidates(c: dict[str, Any], path: Path_) -> Iterator[Change]:
    """Changes of the leaf at path, most natural first; the first one the config accepts is made."""
    key = dotted(path)
    if key in EXPLICIT:
        yield EXPLICIT[key]
        return
    v = get_key(c, key)
    if isinstance(v, bool):
        yield [(key, not v)]
    elif isinstance(v, (int, float)):
        yield from _number_candidates(c, path, v)
    elif isinstance(v, dt.date):
        for days in (1, -1, 7):
            yield [(key, v + dt.timedelta(days=days))]
    elif isinstance(v, str):
        for alt in ("typed", "contract", "quarterly", "annual", "monthly"):
            if alt != v:
                yield [(key, alt)]
    elif isinstance(v, list) and len(v) == 2 and all(type(x) in (int, float) for x in v):
        a, b = v
        step = max(1, (b - a) // 4) if isinstance(a, int) and isinstance(b, int) else round((b - a) / 4, 6)
        for new in ([a + step, b], [a, b + step], [a, b - step], [a - step, b]):
            yield [(key, new)]
    elif isinstance(v, list):
        if v and isinstance(v[0], list):
            yield [(key, [x[:-1] for x in v])]
        if len(v) > 1:
            yield [(key, v[:-1])]
            yield [(key, list(reversed(v)))]


def mutated(base: dict[str, Any], key: str) -> tuple[dict[str, Any], Change]:
    path = tuple(key.split("."))
    for change in candidates(base, path):
        c = copy.deepcopy(base)
        for k, value in change:
            set_key(c, k, value)
        try:
            parse_config(copy.deepcopy(c))
        except ConfigError:
            continue
        return c, change
    raise AssertionError(f"{key}: no valid change found; add one to EXPLICIT")


def fingerprints(raw: dict[str, Any]) -> dict[str, str]:
    """Every table's fingerprint: the core tables whole, the event tables over the base's three event days."""
    cfg = parse_config(copy.deepcopy(raw))
    gen = generate(cfg)
    out = {t.key: fingerprint(gen.frames[t.key], t.key) for t in CORE_TABLES}
    streams = Streams(cfg, gen)
    return out | built_event_fingerprints(streams, streams.plan(tuple(t.key for t in EVENT_TABLES)))


@cache
def base_fingerprints() -> dict[str, str]:
    return fingerprints(_base())


def not_data(key: str) -> tuple[str, str] | None:
    for pattern, what in NOT_DATA_KEYS.items():
        if fnmatchcase(key, pattern):
            return what
    return None


def readers(key: str) -> set[str]:
    return {t.key for t in TABLES.values() if any(fnmatchcase(key, p) for p in t.reads)}


SHIPPED_KEYS = [dotted(p) for p in leaves(shipped_config())]
DATA_KEYS = [k for k in SHIPPED_KEYS if not_data(k) is None]


def test_every_key_is_declared_and_every_declaration_names_a_key() -> None:
    assert len(SHIPPED_KEYS) == 218  # the shipped config's leaves; a new key needs a declaration and a proof
    undeclared = [k for k in SHIPPED_KEYS if not_data(k) is None and not readers(k)]
    assert undeclared == [], "keys no table declares read and NOT_DATA_KEYS does not explain"
    patterns = [p for t in TABLES.values() for p in t.reads] + list(NOT_DATA_KEYS)
    stale = [p for p in patterns if not any(fnmatchcase(k, p) for k in SHIPPED_KEYS)]
    assert stale == [], "declared patterns that match no key of the shipped config"
    assert sorted(k for k in SHIPPED_KEYS if not_data(k)) == sorted([
        "time_range.start_date", "subscriptions.tiers.enterprise.device_limit", "events.tap_events.layout",
        "data_quality.null_rates.required_fields",
        *[f"data_quality.validation_rules.{r}" for r in
          ("min_device_uptime", "min_location_operational", "max_mrr_variance", "max_orphaned_records")],
    ])


def test_the_base_holds_every_category() -> None:
    """The mutations can only show an effect where the base has rows for it."""
    cfg = parse_config(_base())
    gen = generate(cfg)
    f = gen.frames
    assert set(f["accounts"]["size"]) == {s.name for s in cfg.sizes}
    assert set(f["accounts"]["industry"]) == {i.name for i in cfg.industries}
    states = set(gen.full["locations"]["state"])  # as built: state is optional, so NULL in a share of the rows
    assert all(states & set(r.states) for r in cfg.regions)  # every region has a location
    assert set(f["devices"]["device_type"]) == {d.name for d in cfg.devices.types}
    assert set(f["users"]["role"]) == {r.name for r in cfg.roles}
    assert set(f["subscriptions"]["plan_name"]) == {t.key for t in cfg.subscriptions.tiers} | {"trial"}


@cache
def moved_by(key: str) -> frozenset[str]:
    """The tables whose fingerprints the key's change moves (computed once per key and run)."""
    raw, _ = mutated(_base(), key)
    before, after = base_fingerprints(), fingerprints(raw)
    return frozenset(t for t in after if after[t] != before[t])


@pytest.mark.parametrize("key", DATA_KEYS)
def test_a_changed_key_moves_exactly_its_tables(key: str) -> None:
    _, change = mutated(_base(), key)
    moved = moved_by(key)
    allowed = set(dependency_closure(readers(key), derived=True))
    assert moved, f"{key}: changed {change} and no table moved: the key has no effect"
    assert moved <= allowed, (f"{key}: changed {change} and moved {sorted(moved - allowed)}, which neither "
                              f"declare it read nor depend on a table that does ({sorted(readers(key))})")


# -- keys no builder reads ---------------------------------------------------------------------------------

def _with_change(key: str, value: Any) -> dict[str, Any]:
    c = _base()
    set_key(c, key, value)
    return c


def _refusal(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        parse_config(copy.deepcopy(raw))
    return err.value


def test_time_range_start_date_only_bounds() -> None:
    """Inside its valid range it moves nothing; past the oldest account-creation window it is refused."""
    assert fingerprints(_with_change("time_range.start_date", dt.date(2020, 6, 1))) == base_fingerprints()
    err = _refusal(_with_change("time_range.start_date", dt.date(2021, 1, 1)))
    assert err.path == "growth_patterns.account_creation.established.days_before_end[1]"
    assert "time_range.start_date" in (err.hint or "")


def test_the_largest_tier_must_stay_unlimited() -> None:
    err = _refusal(_with_change("subscriptions.tiers.enterprise.device_limit", 1000))
    assert err.path == "subscriptions.tiers" and "device_limit: null" in err.problem


def test_required_fields_only_accepts_zero() -> None:
    err = _refusal(_with_change("data_quality.null_rates.required_fields", 0.01))
    assert err.path == "data_quality.null_rates.required_fields"


def _damage_mrr(f: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Active subscriptions billed 7% above their tier price."""
    s = f["subscriptions"]
    amount = (pl.when(pl.col("status") == "active").then(pl.col("monthly_amount") * 1.07)
              .otherwise(pl.col("monthly_amount")))
    return {**f, "subscriptions": s.with_columns(amount.cast(s.schema["monthly_amount"]).alias("monthly_amount"))}


def _damage_orphan(f: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """One location of an account that does not exist."""
    loc = f["locations"]
    return {**f, "locations": loc.with_columns(
        pl.when(pl.col("id") == 2).then(9999).otherwise(pl.col("customer_id")).cast(pl.Int32).alias("customer_id"))}


Damage = Callable[[dict[str, pl.DataFrame]], dict[str, pl.DataFrame]]
# rule -> (the check that applies it, a new value, the data it is judged on: as built, or damaged)
THRESHOLDS: dict[str, tuple[str, Any, Damage | None]] = {
    "min_device_uptime": ("devices.min_uptime", 0.99, None),
    "min_location_operational": ("locations.min_operational", 1.0, None),
    "max_mrr_variance": ("subscriptions.max_mrr_variance", 0.10, _damage_mrr),
    "max_orphaned_records": ("quality.max_orphaned_records", 1, _damage_orphan),
}


@pytest.mark.parametrize("rule", list(THRESHOLDS))
def test_a_changed_threshold_flips_its_check(rule: str) -> None:
    key = f"data_quality.validation_rules.{rule}"
    assert key in SHIPPED_KEYS and not_data(key) == NOT_DATA_KEYS["data_quality.validation_rules.*"]
    check, value, damage = THRESHOLDS[rule]
    base_cfg, changed_cfg = parse_config(_base()), parse_config(_with_change(key, value))
    frames = generate(base_cfg).frames
    if damage is not None:
        frames = damage(frames)

    def passed(cfg: Any) -> bool:
        (outcome,) = run_checks(frames, cfg, names={check})
        return outcome.passed

    assert passed(base_cfg) != passed(changed_cfg), f"{key}: {value} did not change {check}'s outcome"


def test_the_layout_changes_storage_not_rows() -> None:
    """The rows are the same; what the key stores differs (that the loader stores the configured layout, and
    switches on a whole-range run, is tests/test_layouts.py's)."""
    raw = _with_change("events.tap_events.layout", "typed")
    assert parse_config(copy.deepcopy(raw)).events.tap_layout == "typed"
    assert fingerprints(raw) == base_fingerprints()
    contract, typed = ([c.name for c in TAP_EVENTS.stored_columns(lay)] for lay in ("contract", "typed"))
    assert "metrics" in contract and "metrics" not in typed and "volume_ml" in typed and "volume_ml" not in contract


@pytest.mark.parametrize("table", [t.key for t in CORE_TABLES + EVENT_TABLES])
def test_an_id_range_one_id_short_is_refused(table: str) -> None:
    """An id range's first id moves the rows (above); its last only bounds them. One id short of the rows the
    base needs, the run is refused (the config, the core plan or the event plan) naming the key."""
    cfg = parse_config(_base())
    gen = generate(cfg)
    key = TABLES[table].id_range_key
    rows = (Streams(cfg, gen).plan((table,)).range_rows[table] if TABLES[table].partitioned
            else gen.frames[table].height)
    lo, _ = cfg.id_range(key)
    with pytest.raises(ConfigError) as err:
        short = parse_config(_with_change(f"id_ranges.{key}", [lo, lo + rows - 2]))
        Streams(short, generate(short)).plan((table,) if TABLES[table].partitioned else ())
    assert err.value.path == f"id_ranges.{key}"
    assert f"holds {rows - 1:,}" in err.value.problem


def test_the_configuration_page_names_the_readers() -> None:
    """docs/configuration.md's "read by" column says which tables each section's keys move: held to the
    declarations."""
    page = (DEFAULT_CONFIG.parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    start = page.index("| section | what it controls | read by |")
    rows = [line.split(" | ") for line in page[start:page.index("\n\n", start)].splitlines()[2:]]
    printed = {r[0].strip("| `"): r[2].rstrip(" |") for r in rows}
    order = list(TABLES)
    for section in {k.split(".")[0] for k in SHIPPED_KEYS}:
        tables = sorted(set().union(*(readers(k) for k in SHIPPED_KEYS if k.split(".")[0] == section)),
                        key=order.index)
        if len(tables) == len(order):
            want = "all tables"
        elif len(tables) == len(order) - 1:
            (left_out,) = set(order) - set(tables)
            want = f"all but {left_out}"
        else:
            want = ", ".join(tables)
        assert printed[section].split(" (")[0] == want, section
    assert list(printed) == list(shipped_config())  # every section, in the shipped file's order


def test_every_declared_read_shows_in_its_table() -> None:
    """The other half of "exactly": each pattern a table declares is backed by a key whose change moves that
    table itself, so no declaration (and no "read by" cell of docs/configuration.md) claims a read that does not
    show."""
    idle = [f"{t.key}: {p}" for t in TABLES.values() for p in t.reads
            if not any(t.key in moved_by(k) for k in DATA_KEYS if fnmatchcase(k, p))]
    assert idle == []
