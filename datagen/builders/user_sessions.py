"""User sessions: users of live accounts log in on their role's working days, inside its hours.

A partition is one day; its stream is keyed by (seed, user_sessions, day). Sessions are few (thousands a
day), so counting a partition builds it; the page_views column says how many page views each one has.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from datagen.builders._common import labels, pick, to_datetime
from datagen.builders._people import at_work
from datagen.builders._protocol import EventInputs, Part
from datagen.config import Config

DURATION_SIGMA = 0.6  # log-normal spread of session length around the role's session_minutes
DURATION_S = (30, 7200)  # legacy clamp: 30 s to 2 h
SECONDS_PER_PAGE = 90.0  # a page view per ~1.5 minutes of session
ACTIONS_PER_PAGE = (1.0, 2.5)  # clicks, filters and edits per page view
DEVICE_TYPES = (("desktop", 0.45), ("mobile", 0.35), ("tablet", 0.20))  # legacy shares
BROWSERS = {  # per device type; every name contains a browser the staging model recognises
    "desktop": (("Chrome", 0.55), ("Safari", 0.2), ("Firefox", 0.1), ("Edge", 0.15)),
    "mobile": (("Mobile Safari", 0.5), ("Chrome Mobile", 0.4), ("Firefox Mobile", 0.1)),
    "tablet": (("Safari", 0.6), ("Chrome", 0.35), ("Firefox", 0.05)),
}


def build(cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
          rng: np.random.Generator) -> pl.DataFrame:
    """The day's sessions, ids first_id, first_id + 1, ... ordered by user."""
    ppl, day, first_id = inputs.people, part.day, part.first_id
    rows, lo, hi = at_work(cfg, ppl, day)
    acts = cfg.events.role_activity
    hours = np.array([a.hours[1] - a.hours[0] for a in acts], dtype=np.float64)[ppl.role[rows]]
    per_day = np.array([a.sessions_per_day for a in acts])[ppl.role[rows]]
    counts = rng.poisson(per_day * (hi - lo) / (hours * 3600)).astype(np.int64)
    n = int(counts.sum())
    u_idx = np.repeat(np.arange(rows.size), counts)
    user = rows[u_idx]
    start = lo[u_idx] + np.floor(rng.random(n) * (hi - lo)[u_idx]).astype(np.int64)
    minutes = np.array([a.session_minutes for a in acts])[ppl.role[user]]
    duration = np.clip(np.round(minutes * 60 * rng.lognormal(0.0, DURATION_SIGMA, n)), *DURATION_S).astype(np.int64)
    # a session ends before its account churns and inside the time range
    duration = np.maximum(np.minimum(duration, ppl.stop[user] - 1 - start), 0)
    pages = 1 + rng.poisson(duration / SECONDS_PER_PAGE).astype(np.int64)
    actions = np.round(pages * (ACTIONS_PER_PAGE[0] + rng.random(n) * (ACTIONS_PER_PAGE[1] - ACTIONS_PER_PAGE[0])))
    dtype_idx = pick(rng, DEVICE_TYPES, n)
    browser = pl.Series([""] * n, dtype=pl.String)
    for k, (name, _) in enumerate(DEVICE_TYPES):
        sub = np.flatnonzero(dtype_idx == k)
        if sub.size:
            browser = browser.scatter(sub, labels([b for b, _ in BROWSERS[name]], pick(rng, BROWSERS[name], sub.size)))
    started = to_datetime(start)
    return pl.DataFrame({
        "session_id": np.arange(first_id, first_id + n, dtype=np.int32),
        "user_id": ppl.user_id[user].astype(np.int32),
        "customer_id": ppl.customer_id[user].astype(np.int32),
        "start_time": started,
        "end_time": to_datetime(start + duration),
        "duration_seconds": duration.astype(np.int32),
        "page_views": pages.astype(np.int32),
        "actions_taken": actions.astype(np.int32),
        "device_type": labels([d for d, _ in DEVICE_TYPES], dtype_idx),
        "browser": browser,
        "created_at": started,
    })


def count(cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
          rng: np.random.Generator) -> int:
    """The partition's rows: what build makes (cheap enough to build twice)."""
    return build(cfg, inputs, part, same_day, rng).height
