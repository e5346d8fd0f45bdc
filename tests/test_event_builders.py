"""Event builders without a database: partitions are independent of the window, counts agree, values are in domain."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from datagen import copy_format, events, load_events
from datagen.builders import Part, feature_usage, page_views, tap_events
from datagen.config import Config, parse_config
from datagen.generate import Generated, generate
from tests.fix_db import built_event_fingerprints
from tests.test_generate import _base, small_configs


@pytest.fixture(scope="module")
def streams(cfg: Config, default_gen: Generated) -> events.Streams:
    return events.Streams(cfg, default_gen)


@pytest.fixture(scope="module")
def whole(streams: events.Streams) -> events.Plan:
    return streams.plan(events.event_tables(None))


@given(day=st.integers(0, 2), table=st.sampled_from(["tap_events", "user_sessions", "page_views", "feature_usage"]))
def test_a_partition_is_the_same_in_any_window(streams: events.Streams, whole: events.Plan, day: int,
                                               table: str) -> None:
    d = streams.cfg.events.start_date + dt.timedelta(days=day)
    window = streams.plan(events.event_tables((table,)), d, d)
    for alone, inside in zip(window.parts[table], [p for p in whole.parts[table] if p.day == d], strict=True):
        assert alone == inside  # same first id: prefix sums from the range start, not the window
        if table == "tap_events" and alone.block > 0:
            continue  # one block per example keeps the property test fast
        assert_frame_equal(streams.build(alone), streams.build(inside))


def test_ids_are_one_gap_free_sequence_across_partitions(whole: events.Plan) -> None:
    for table, parts in whole.parts.items():
        nxt = parts[0].first_id
        for p in parts:
            assert p.first_id == nxt, (table, p)
            nxt += p.rows
        assert nxt - parts[0].first_id == whole.range_rows[table]


def test_tap_values_stay_in_their_domains(streams: events.Streams, whole: events.Plan, cfg: Config) -> None:
    part = whole.parts["tap_events"][0]
    f = streams.build(part)
    assert f.height == part.rows > 100_000
    pours = f.filter(pl.col("event_type") == "pour")
    assert pours["volume_ml"].min() >= 20 and pours["volume_ml"].max() <= 500  # type: ignore[operator]
    common = pours["volume_ml"].is_in(list(cfg.events.common_sizes)).mean()
    assert 0.78 < common < 0.86  # type: ignore[operator]  # 0.8 drawn as common, plus uniform draws that land on one
    assert pours["flow_rate_ml_per_sec"].min() >= 10 and pours["flow_rate_ml_per_sec"].max() <= 50  # type: ignore[operator]
    ratio = (pours["volume_ml"] / pours["flow_rate_ml_per_sec"] - pours["duration_seconds"]).abs().max()
    assert ratio < 0.01  # type: ignore[operator]  # duration = volume / flow
    assert f.filter(pl.col("event_type") != "pour")["volume_ml"].null_count() == f.height - pours.height
    assert set(f["event_type"].unique()) <= set(tap_events.EVENT_TYPES)
    press = f.filter(pl.col("event_type") == "pressure")["pressure_psi"]
    low = (press < 10).mean()
    assert 0.02 < low < 0.04  # type: ignore[operator]  # anomaly_rate 0.03
    # the staging model's categories are all reachable
    for needle in ("pour", "clean", "error", "maintenance", "calibration"):
        assert f.filter(pl.col("event_type").str.contains(needle)).height > 0, needle


def test_product_values_are_classifiable(streams: events.Streams, whole: events.Plan) -> None:
    views = pl.concat([streams.build(p) for p in whole.parts["page_views"]])
    urls = views["page_url"]
    assert urls.str.starts_with("/").all()
    for needle in ("/dashboard", "/reports", "/settings", "/devices", "/locations", "/users", "/analytics",
                   "/billing", "/support", "/login", "/home"):
        assert urls.str.contains(needle, literal=True).any(), needle
    assert (urls == "/").any()
    ref = views["referrer_url"].drop_nulls()
    assert ref.str.contains("google").any() and ref.str.contains("linkedin").any() and ref.str.contains("t.co").any()
    usage = pl.concat([streams.build(p) for p in whole.parts["feature_usage"]])
    cats = ("report", "analytics", "export", "api", "integration", "automation", "alert", "dashboard", "inventory",
            "forecast")
    names = set(usage["feature_name"].drop_nulls().unique())
    assert names <= set(feature_usage.NAMES)
    assert all(any(c in n for c in cats) for n in feature_usage.NAMES)
    assert {"standard_dashboard", "api_access", "weekly_report"} <= names  # 2025-06-23 is a Monday
    # paths follow the role: operators never reach billing or user management (admin pages)
    roles = streams.gen.frames["users"].select(pl.col("id").alias("user_id"), "role")
    operator_urls = views.join(roles, on="user_id").filter(pl.col("role") == "operator")["page_url"]
    assert operator_urls.len() > 0
    assert not operator_urls.str.contains("^/(billing|users)").any()
    assert set(page_views.ROLE_PATHS["admin"]) & {"/billing", "/users"}


@st.composite
def event_configs(draw: st.DrawFn) -> dict[str, Any]:
    c = draw(small_configs(_base()))
    end = dt.date.fromisoformat(str(c["time_range"]["end_date"]))
    last = end - dt.timedelta(days=draw(st.integers(0, 400)))
    first = last - dt.timedelta(days=draw(st.integers(0, 2)))
    c["events"]["range"] = {"start_date": str(first), "end_date": str(last)}
    tap = c["events"]["tap_events"]
    for rate in tap["per_device_per_day"].values():
        rate["min"] = draw(st.integers(0, 20))
        rate["max"] = rate["min"] + draw(st.integers(0, 30))
        rate["weekend_factor"] = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0]))
    tap["business_hours_only"] = draw(st.lists(st.sampled_from(list(tap["per_device_per_day"])), unique=True))
    tap["event_days"]["share"] = draw(st.sampled_from([0.0, 0.25, 1.0]))
    roles = c["events"]["role_activity"]
    quiet = draw(st.sampled_from(list(roles)))
    roles[quiet]["days"] = draw(st.sampled_from([[], ["sun"]]))  # a role that (almost) never works
    roles[quiet]["sessions_per_day"] = draw(st.sampled_from([0.0, 5.0]))
    return c


@given(raw=event_configs())
def test_random_configs_give_partitions_that_pass_their_checks(raw: dict[str, Any]) -> None:
    cfg = parse_config(raw)
    streams = events.Streams(cfg, generate(cfg))
    plan = streams.plan(events.event_tables(None))
    for table, parts in plan.parts.items():
        nxt = cfg.id_range(table)[0]
        for part in parts:
            assert part.first_id == nxt
            built = events.build_checked(streams, part)
            assert built.frame.height == part.rows
            failed = [(o.check.name, o.sample) for o in built.outcomes if not o.passed]
            assert failed == [], (part, failed)
            nxt += part.rows


def test_encoder_refuses_rows_that_break_the_layout_contract() -> None:
    import numpy as np

    from datagen.copy_format import encode_by_layout

    same = np.zeros(2, dtype=np.int32)
    ok = pl.DataFrame({"a": pl.Series([1, 2], dtype=pl.Int32), "s": ["x", "x"]})
    assert len(encode_by_layout(ok, same)) == 2 * (2 + 4 + 4 + 4 + 1)
    with pytest.raises(ValueError, match="differ in value"):
        encode_by_layout(ok.with_columns(s=pl.Series(["x", "y"])), same)
    with pytest.raises(ValueError, match="NULL"):
        encode_by_layout(ok.with_columns(a=pl.Series([1, None], dtype=pl.Int32)), same)


def test_layout_encoder_writes_the_bytes_pgpq_writes_for_the_same_rows(streams: events.Streams,
                                                                       whole: events.Plan) -> None:
    """The numpy encoder against an independent one: for a real tap-event partition, its bytes equal pgpq's
    for the same rows in the order it writes them (grouped by layout, stable)."""
    import numpy as np
    import pgpq

    from datagen.copy_format import encode_by_layout

    part = max(whole.parts["tap_events"], key=lambda p: p.rows)
    built = events.build_checked(streams, part)
    assert built.layout is not None and built.frame["volume_ml"].null_count() > 0  # NULLs and several layouts
    assert len(np.unique(built.layout)) > 3
    ours = bytes(encode_by_layout(built.frame, built.layout))
    arrow = built.frame[np.argsort(built.layout, kind="stable")].to_arrow()
    enc = pgpq.ArrowToPostgresBinaryEncoder(arrow.schema)
    theirs = enc.write_header() + b"".join(enc.write_batch(b) for b in arrow.to_batches()) + enc.finish()
    assert ours == theirs[len(copy_format.PGCOPY_HEADER):-len(copy_format.PGCOPY_TRAILER)]


def test_sessions_and_page_views_are_always_selected_together() -> None:
    assert events.event_tables(("user_sessions",)) == ("user_sessions", "page_views")
    assert events.event_tables(("page_views", "tap_events")) == ("tap_events", "user_sessions", "page_views")


def test_reports_follow_each_roles_working_days(raw_config: dict[str, Any]) -> None:
    import copy

    raw = copy.deepcopy(raw_config)
    for role in ("admin", "manager"):
        raw["events"]["role_activity"][role]["days"] = ["tue", "wed", "thu", "fri", "sat"]
    cfg = parse_config(raw)
    streams = events.Streams(cfg, generate(cfg))
    monday, tuesday = dt.date(2025, 6, 23), dt.date(2025, 6, 24)
    plan = streams.plan(("feature_usage",), monday, tuesday)
    names = {p.day: set(streams.build(p)["feature_name"]) for p in plan.parts["feature_usage"]}
    assert "weekly_report" not in names[monday] and "weekly_report" in names[tuesday]


@st.composite
def plans(draw: st.DrawFn) -> events.Plan:
    """A plan of 1-3 tables, each 1-6 days of 1-4 parts of 0-5 rows (ids are not looked at)."""
    parts: dict[str, list[Part]] = {}
    for t in ["tap_events", "user_sessions", "page_views"][:draw(st.integers(1, 3))]:
        parts[t] = [Part(t, dt.date(2025, 1, 1) + dt.timedelta(days=d), b, 0, draw(st.integers(0, 5)))
                    for d in range(draw(st.integers(1, 6))) for b in range(draw(st.integers(1, 4)))]
    day0 = dt.date(2025, 1, 1)
    return events.Plan((day0, day0), parts, {}, {}, {})


@given(plan=plans())
def test_load_days_are_the_parts_with_rows_grouped_by_day_in_plan_order(plan: events.Plan) -> None:
    days = load_events.load_days(plan)
    nonempty = [p for t in plan.parts for p in plan.parts[t] if p.rows]
    assert [p for day in days for p in day] == nonempty  # every part with rows once, plan and block order
    assert all(day and {(p.table, p.day) for p in day} == {(day[0].table, day[0].day)} for day in days)
    assert len({(day[0].table, day[0].day) for day in days}) == len(days)  # one entry per day


@given(values=st.lists(st.integers(-(1 << 24) + 1, (1 << 24) - 1), min_size=1, max_size=50),
       decimals=st.integers(0, 3))
def test_render_decimal_writes_each_number_right_aligned_with_its_decimals(values: list[int], decimals: int) -> None:
    from decimal import Decimal

    from datagen.copy_format import render_decimal

    out = render_decimal(np.array(values, dtype=np.int64), decimals)
    width = out.dtype.itemsize
    texts = [bytes(v).decode() for v in out.view(f"S{width}")]
    assert all(len(t) == width for t in texts)  # one width, padded with spaces on the left only
    assert [t.lstrip(" ") for t in texts] == [str(Decimal(v).scaleb(-decimals)) for v in values]
    assert width == max(len(str(Decimal(v).scaleb(-decimals))) for v in values)


def test_packed_values_must_read_back_exactly() -> None:
    from datagen.copy_format import _scaled

    ok = pl.Series("t", [3.5, -0.1, 12.3], dtype=pl.Float32)
    assert _scaled(ok, 1).tolist() == [35, -1, 123]
    with pytest.raises(ValueError, match="more than 1 decimals"):
        _scaled(pl.Series("t", [0.25], dtype=pl.Float32), 1)
    with pytest.raises(ValueError, match="more than 2 decimals"):
        _scaled(pl.Series("t", [2.0e6], dtype=pl.Float32), 2)  # 2e8 hundredths: beyond float32's exact integers
    with pytest.raises(ValueError):
        _scaled(pl.Series("t", [1.5, -0.0], dtype=pl.Float32), 1)  # "0.0" would read back as +0.0


# One day partition per event table of the shipped config (its first day, 2025-06-23), pinned like the core
# tables: a change to event data must be deliberate (update these with the reason in CHANGELOG.md).
PINNED_EVENTS = {  # set on 2026-12-02, after null rates and growth over time
    "tap_events": "2667093:a5e9565f66a6e4ec791ea935b46af78b",
    "user_sessions": "1787:98b23158e07889ec9ee9dfbde93d603d",
    "page_views": "28995:01c09896cff9abdf530870e099917053",
    "feature_usage": "3865:d721dcba333a1402fae4d1115bc8fc4b",
}


def test_event_partitions_are_pinned(cfg: Config, default_gen: Generated) -> None:
    from datagen.tables import TABLES

    streams = events.Streams(cfg, default_gen)
    day = cfg.events.start_date
    got = built_event_fingerprints(streams, streams.plan(tuple(PINNED_EVENTS), day, day))
    assert got == PINNED_EVENTS
    assert all(TABLES[t].partitioned for t in got)


@given(block=st.integers(0, 6), max_rows=st.sampled_from([999, 4_096, 65_536, 262_144, 10**9]))
def test_a_partition_built_in_slices_is_the_partition(streams: events.Streams, whole: events.Plan, block: int,
                                                      max_rows: int) -> None:
    """However the tap events of a block are sliced, the slices are whole devices of at most max_rows rows (a
    device alone may have more), their ids run on, and together they are build's frame, row for row: each
    slice reads its own run of the block's random stream (tap_events._Draws)."""
    parts = [p for p in whole.parts["tap_events"] if p.block == block and p.rows]
    part = parts[len(parts) // 2]
    slices = [f for _, f in streams.build_slices(part, max_rows)]
    assert_frame_equal(pl.concat(slices), streams.build(part))
    devices = [f["device_id"] for f in slices]
    for i, f in enumerate(slices):
        assert 0 < f.height <= max_rows or devices[i].n_unique() == 1
        if i:
            assert devices[i].min() > devices[i - 1].max()  # type: ignore[operator]  # whole devices
    assert len(slices) == 1 or max_rows < part.rows


def test_slices_are_checked_and_fingerprinted_as_the_partition(streams: events.Streams, whole: events.Plan) -> None:
    """build_passed_slices checks each slice against its own run of ids: the merged outcomes are the partition's
    checks, every one passed, and the slices' fingerprints combine into the partition's."""
    from datagen.manifest import combine

    part = max(whole.parts["tap_events"], key=lambda p: p.rows)
    built = events.build_passed(streams, part)
    slices = list(events.build_passed_slices(streams, part, 50_000))
    assert len(slices) > 3
    assert [s.part.first_id for s in slices] == [part.first_id + sum(s.frame.height for s in slices[:i])
                                                 for i in range(len(slices))]
    assert combine([s.fingerprint for s in slices]) == built.fingerprint
    merged = events.merged([s.outcomes for s in slices])
    assert [o.check.name for o in merged] == [o.check.name for o in built.outcomes]
    assert all(o.passed for o in merged)


def test_a_slice_that_breaks_a_check_is_refused(streams: events.Streams, whole: events.Plan,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A slice is held to its own run of ids: a builder whose second slice repeats an id of the first is refused
    by ids_continuous, naming the partition, before anything of that slice is handed on."""
    from datagen.builders import EVENTS
    from datagen.errors import ValidationFailed

    real = EVENTS["tap_events"].slices
    assert real is not None

    def shifted(*args: Any, **kwargs: Any) -> Any:
        for i, frame in enumerate(real(*args, **kwargs)):
            yield frame.with_columns(pl.col("id") - 1) if i == 1 else frame

    monkeypatch.setitem(EVENTS, "tap_events", EVENTS["tap_events"].__class__(
        EVENTS["tap_events"].build, EVENTS["tap_events"].count, EVENTS["tap_events"].blocks, shifted))
    part = max(whole.parts["tap_events"], key=lambda p: p.rows)
    it = events.build_passed_slices(streams, part, 50_000)
    assert next(it).frame.height > 0
    with pytest.raises(ValidationFailed, match=rf"tap_events {part.day} block {part.block}.*\n.*ids_continuous"):
        next(it)


@pytest.mark.parametrize("before", [0, 1, 2, 3])
def test_draws_read_any_run_of_the_stream(before: int) -> None:
    """tap_events._Draws against the draws themselves, for every run [r0, r1) of a small partition, with the
    float32 half-step buffer empty or full when the per-row draws start (an odd count of float32 drawn before)."""
    from datagen.builders.tap_events import _Draws

    rng = np.random.Generator(np.random.PCG64(before))
    rng.random(before, dtype=np.float32)
    rng.multinomial([5, 0, 3], [0.2, 0.3, 0.5])
    n = 9
    draws = _Draws(rng, n)
    assert draws.after_types["has_uint32"] == before % 2
    target, u = rng.random(n), rng.random((6, n), dtype=np.float32)
    for r0 in range(n + 1):
        for r1 in range(r0, n + 1):
            assert np.array_equal(draws.target(r0, r1), target[r0:r1])
            assert np.array_equal(draws.uniforms(r0, r1), u[:, r0:r1])
