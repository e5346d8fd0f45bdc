"""The tap-event distribution checks (datagen/checks/distributions.py): generated data passes them for any valid
config; each fails on data damaged for it; the aggregate step gives the same counts however the rows are split."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagen import readback
from datagen.checks import distributions as D
from datagen.config import Config, parse_config
from datagen.events import Streams
from datagen.generate import generate
from tests.fix_db import set_key, shipped_config

START, END = dt.date(2025, 6, 19), dt.date(2025, 6, 23)  # Thursday to Monday: weekdays and a weekend


def small(**changes: Any) -> Config:
    c = shipped_config()
    c["accounts"]["total"] = 20
    c["events"]["range"] = {"start_date": START, "end_date": END}
    for key, value in changes.items():
        set_key(c, key, value)
    return parse_config(c)


@lru_cache(maxsize=2)  # the shipped small config and the latest random one: partitions are tens of MB
def built(cfg: Config) -> tuple[dict[str, pl.DataFrame], list[pl.DataFrame], list[dt.date]]:
    """The core frames (with hidden columns) and every tap-event partition of the event range."""
    gen = generate(cfg)
    streams = Streams(cfg, gen)
    plan = streams.plan(("tap_events",))
    parts = plan.parts["tap_events"]
    return readback.with_hidden(gen.frames), [streams.build_conformed(p) for p in parts], [p.day for p in parts]


def judge(cfg: Config, parts: list[pl.DataFrame] | None = None) -> dict[str, D.Verdict]:
    frames, built_parts, days = built(cfg)
    ind = D.industries(frames)
    agg = D.combine([D.aggregate(p, ind) for p in (built_parts if parts is None else parts)])
    return D.verdicts(agg, cfg, frames, days)


def failed(verdicts: dict[str, D.Verdict]) -> set[str]:
    return {name for name, v in verdicts.items() if not v.passed}


def test_generated_data_passes_every_distribution_check_and_the_chart_data_is_filled() -> None:
    cfg = small()
    v = judge(cfg)
    assert failed(v) == set(), {n: x.violations for n, x in v.items()}
    assert all(not x.note for x in v.values())
    hours = v["tap_events.hour_profile"]
    assert set(hours.observed["rows"]) == {r.industry for r in cfg.events.tap_rates}
    assert sum(sum(r) for r in hours.observed["rows"].values()) == sum(p.height for p in built(cfg)[1])
    assert all(abs(sum(s) - 1) < 1e-9 for s in hours.expected["shares"].values())
    season = v["tap_events.season"]
    assert season.observed["day"] == [str(START + dt.timedelta(days=i)) for i in range(5)]
    assert sum(season.observed["rows"]) == sum(p.height for p in built(cfg)[1])
    assert v["tap_events.pour_sizes"].observed["pours"] > 0
    assert 0 < v["tap_events.temperature_anomalies"].observed["share"] < 0.1


@settings(derandomize=True)  # a statistical test: the same examples every run, never a one-in-10,000 false alarm
@given(amplitude=st.floats(0.0, 0.6), weekend=st.floats(0.1, 2.0), peak=st.floats(1.0, 6.0),
       common_share=st.floats(0.0, 1.0), temp_rate=st.floats(0.0, 0.3), press_rate=st.floats(0.0, 0.3),
       seed=st.integers(0, 10_000))
def test_generated_data_passes_for_random_valid_configs(amplitude: float, weekend: float, peak: float,
                                                        common_share: float, temp_rate: float, press_rate: float,
                                                        seed: int) -> None:
    cfg = small(**{"seed": seed, "events.tap_events.season.amplitude": round(amplitude, 3),
                   "events.tap_events.per_device_per_day.bar.weekend_factor": round(weekend, 2),
                   "events.tap_events.per_device_per_day.restaurant.peak_multiplier": round(peak, 2),
                   "events.tap_events.volume_ml.common_share": round(common_share, 3),
                   "events.tap_events.temperature_c.anomaly_rate": round(temp_rate, 3),
                   "events.tap_events.pressure_psi.anomaly_rate": round(press_rate, 3)})
    v = judge(cfg)
    assert failed(v) == set(), {n: x.violations for n, x in v.items()}


def _at_3am(f: pl.DataFrame) -> pl.DataFrame:
    """Pours moved to 3 am of their day."""
    return f.with_columns(timestamp=pl.when(pl.col("event_type") == "pour")
                          .then(pl.col("timestamp").dt.truncate("1d") + pl.duration(hours=3))
                          .otherwise(pl.col("timestamp")))


def _thin(weekday: int, keep: float) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Rows of the given weekday (Monday 1) kept at the given share."""
    def damage(f: pl.DataFrame) -> pl.DataFrame:
        on_day = pl.col("timestamp").dt.weekday() == weekday
        return f.filter(~on_day | (pl.int_range(pl.len()) % 100 < keep * 100))
    return damage


# check -> damage, applied to every partition
DAMAGE: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {
    "tap_events.hour_profile": _at_3am,
    "tap_events.weekday_weekend": _thin(6, 0.6),  # Saturday at 60%: the weekend factor is off
    "tap_events.season": _thin(5, 0.75),  # one Friday at three quarters of its volume
    "tap_events.pour_sizes": lambda f: f.with_columns(
        volume_ml=pl.when(pl.col("volume_ml") == 200).then(pl.lit(210, pl.Int32)).otherwise(pl.col("volume_ml"))),
    "tap_events.temperature_anomalies": lambda f: f.with_columns(
        temperature_c=pl.when(pl.col("temperature_c") > 8).then(pl.lit(4.0, pl.Float32))
        .otherwise(pl.col("temperature_c"))),  # the cooler never fails
    "tap_events.pressure_anomalies": lambda f: f.with_columns(
        pressure_psi=pl.when(pl.int_range(pl.len()) % 10 == 0).then(pl.lit(30.0, pl.Float32))
        .otherwise(pl.col("pressure_psi"))),  # a tenth of readings far above the range
}


def test_every_distribution_check_has_a_damage() -> None:
    assert set(DAMAGE) == {c.name for c in D.CHECKS}


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_each_distribution_check_fails_on_data_damaged_for_it(name: str) -> None:
    cfg = small()
    damaged = [DAMAGE[name](p) for p in built(cfg)[1]]
    v = judge(cfg, damaged)
    assert name in failed(v), v[name]
    assert v[name].violations and all(isinstance(x, str) for x in v[name].violations)


def test_moving_pours_to_3am_names_the_hour() -> None:
    cfg = small()
    v = judge(cfg, [_at_3am(p) for p in built(cfg)[1]])["tap_events.hour_profile"]
    assert any(" 03:00: " in x for x in v.violations)
    assert failed(judge(cfg, [_at_3am(p) for p in built(cfg)[1]])) == {"tap_events.hour_profile"}


@given(cuts=st.lists(st.integers(1, 10_000), max_size=5))
def test_aggregates_add_up_whatever_the_split(cuts: list[int]) -> None:
    cfg = small()
    frames, parts, _ = built(cfg)
    ind = D.industries(frames)
    whole = D.combine([D.aggregate(p, ind) for p in parts])
    rows = pl.concat(parts)
    bounds = sorted({0, rows.height, *[c % (rows.height + 1) for c in cuts]})
    pieces = [rows.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    split = D.combine([D.aggregate(p, ind) for p in reversed(pieces)])
    for a, b in ((whole.hours, split.hours), (whole.volumes, split.volumes), (whole.temperature, split.temperature),
                 (whole.pressure, split.pressure)):
        assert a.equals(b)


def test_the_aggregate_reads_only_its_columns() -> None:
    cfg = small()
    frames, parts, _ = built(cfg)
    ind = D.industries(frames)
    full = D.combine([D.aggregate(parts[0], ind)])
    narrow = D.combine([D.aggregate(parts[0].select(D.AGGREGATE_COLUMNS), ind)])
    for a, b in ((full.hours, narrow.hours), (full.volumes, narrow.volumes), (full.temperature, narrow.temperature),
                 (full.pressure, narrow.pressure)):
        assert a.height > 0 and a.equals(b)
    assert full.rows == parts[0].height


def test_anomaly_share_counts_only_the_anomalous_range_outside_the_normal_one() -> None:
    assert D.anomaly_share((2, 6), (10.5, 15.0), 0.02) == pytest.approx(0.02)
    assert D.anomaly_share((2, 12.75), (10.5, 15.0), 0.02) == pytest.approx(0.02 * 0.5, abs=0.001)
    assert D.anomaly_share((0, 20), (10.5, 15.0), 0.02) == 0.0


def test_pour_shares_follow_the_config() -> None:
    shares = D.pour_shares(small())
    assert set(shares) == {150, 200, 300, 400, 500}
    assert sum(shares.values()) == pytest.approx(0.8 + 0.2 * 5 / 481)


def test_a_partition_emptied_fails_the_count_checks_instead_of_skipping_them() -> None:
    cfg = small()
    parts = built(cfg)[1]
    v = judge(cfg, [p.head(0) for p in parts])
    assert {"tap_events.season", "tap_events.weekday_weekend"} <= failed(v)
    assert not v["tap_events.hour_profile"].note  # judged (shares of nothing pass; the counts fail above)


def test_core_tables_unlike_the_config_skip_the_checks_naming_why() -> None:
    cfg = small()
    frames, parts, days = built(cfg)
    odd = {**frames, "accounts": frames["accounts"].with_columns(industry=pl.lit("casino"))}
    ind = D.industries(odd)
    v = D.verdicts(D.combine([D.aggregate(p, ind) for p in parts]), cfg, odd, days)
    assert all(x.note.startswith("the core tables are not what this config generates") and x.passed
               for x in v.values())
