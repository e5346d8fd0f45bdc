"""Page views: each session's pages, inside its [start_time, end_time], with relative URLs the staging model
classifies (/dashboard, /reports, /settings, /devices, /locations, /users, /analytics, /billing, /support,
/login, / and /home).

A partition is one day: the page views of the sessions that started that day (a session may cross
midnight). Its stream is keyed by (seed, page_views, day); the count is the sessions' page_views column.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import polars as pl

from datagen.builders._common import index_within, labels, pick
from datagen.builders._people import People
from datagen.builders._protocol import EventInputs, Part
from datagen.config import Config

FIRST_PAGES = (("/login", 0.3), ("/", 0.4), ("/dashboard", 0.3))  # where a session lands
# Paths per role, by the legacy path sets mapped onto the staging categories. {device}, {location} and
# {user} become ids of the session's own account.
ROLE_PATHS: dict[str, tuple[str, ...]] = {
    "admin": ("/dashboard", "/analytics", "/reports/revenue", "/reports/usage", "/users", "/users/{user}",
              "/settings/account", "/settings/integrations", "/billing", "/support", "/home"),
    "manager": ("/dashboard", "/locations", "/locations/{location}", "/devices", "/devices/{device}",
                "/reports/sales", "/reports/inventory", "/analytics", "/support", "/home"),
    "operator": ("/dashboard", "/devices", "/devices/{device}", "/locations/{location}", "/support", "/home"),
    "viewer": ("/dashboard", "/reports/sales", "/analytics", "/home"),
}
DEFAULT_PATHS = ("/dashboard", "/home", "/support")  # roles not listed above
# First-page referrers: None is direct traffic. The staging model recognises google, facebook, linkedin, t.co.
REFERRERS = ((None, 0.35), ("https://www.google.com/", 0.35), ("https://www.linkedin.com/", 0.1),
             ("https://www.facebook.com/", 0.08), ("https://t.co/tapflow", 0.07),
             ("https://news.ycombinator.com/", 0.05))


def _title(path: str) -> str:
    if path == "/":
        return "Home"
    parts = [p for p in path.strip("/").split("/")]
    return " - ".join("Detail" if p.startswith("{") else p.replace("-", " ").title() for p in parts)


def count(cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
          rng: np.random.Generator) -> int:
    """As many as the day's sessions say they viewed."""
    return int(same_day["user_sessions"]["page_views"].sum())


def build(cfg: Config, inputs: EventInputs, part: Part, same_day: Mapping[str, pl.DataFrame],
          rng: np.random.Generator) -> pl.DataFrame:
    """The page views of the day's sessions, ids first_id, first_id + 1, ... in session order."""
    ppl, sessions, first_id = inputs.people, same_day["user_sessions"], part.first_id
    pages = sessions["page_views"].to_numpy().astype(np.int64)
    n = int(pages.sum())
    s_idx = np.repeat(np.arange(sessions.height), pages)
    pos = index_within(pages)
    # time on page: the session's duration split by exponential weights; a page starts where the last ended
    duration = sessions["duration_seconds"].to_numpy().astype(np.float64)[s_idx]
    w = rng.exponential(1.0, n)
    total = np.bincount(s_idx, weights=w, minlength=sessions.height)[s_idx]
    share = w / total
    before = np.cumsum(share) - share
    before -= (np.cumsum(share) - share)[np.repeat(np.cumsum(pages) - pages, pages)]  # restart per session
    on_page = np.floor(share * duration).astype(np.int64)
    start = sessions["start_time"].dt.epoch("s").to_numpy().astype(np.int64)[s_idx]
    ts = start + np.floor(before * duration).astype(np.int64)

    # URLs: the landing page, then paths of the user's role
    user_pos = np.searchsorted(ppl.user_id, sessions["user_id"].to_numpy()[s_idx])
    role = ppl.role[user_pos]
    templates: list[str] = sorted({p for ps in ROLE_PATHS.values() for p in ps} | set(DEFAULT_PATHS)
                                  | {p for p, _ in FIRST_PAGES})
    role_sets = [ROLE_PATHS.get(r.name, DEFAULT_PATHS) for r in cfg.roles]
    tmpl = np.zeros(n, dtype=np.int64)
    u = rng.random(n)
    for k, paths in enumerate(role_sets):
        sub = np.flatnonzero(role == k)
        tmpl[sub] = np.array([templates.index(p) for p in paths])[np.minimum((u[sub] * len(paths)).astype(np.int64),
                                                                              len(paths) - 1)]
    first = pos == 0
    tmpl[first] = np.array([templates.index(p) for p, _ in FIRST_PAGES])[pick(rng, FIRST_PAGES, int(first.sum()))]
    ids = _detail_ids(rng, ppl, user_pos)
    url = labels(templates, tmpl)
    frame = pl.DataFrame({"_url": url, "_dev": ids[0], "_loc": ids[1], "_usr": ids[2]})
    page_url = frame.select(
        pl.col("_url").str.replace("{device}", pl.col("_dev").cast(pl.String), literal=True)
        .str.replace("{location}", pl.col("_loc").cast(pl.String), literal=True)
        .str.replace("{user}", pl.col("_usr").cast(pl.String), literal=True))["_url"]
    ref_idx = pick(rng, [(r or "", share) for r, share in REFERRERS], n)
    external = labels([r or "" for r, _ in REFERRERS], ref_idx)
    previous = page_url.shift(1)
    referrer = pl.select(pl.when(pl.Series(first)).then(pl.when(external != "").then(external))
                         .otherwise(previous)).to_series()
    stamps = pl.Series(ts * 1_000_000, dtype=pl.Int64).cast(pl.Datetime("us"))
    return pl.DataFrame({
        "page_view_id": np.arange(first_id, first_id + n, dtype=np.int32),
        "session_id": sessions["session_id"].gather(pl.Series(s_idx)),
        "user_id": sessions["user_id"].gather(pl.Series(s_idx)),
        "customer_id": sessions["customer_id"].gather(pl.Series(s_idx)),
        "page_url": page_url,
        "page_title": labels([_title(t) for t in templates], tmpl),
        "timestamp": stamps,
        "time_on_page_seconds": on_page.astype(np.int32),
        "referrer_url": referrer,
        "created_at": stamps,
    })


def _detail_ids(rng: np.random.Generator, ppl: People, user_pos: npt.NDArray[np.int64]
                ) -> tuple[npt.NDArray[np.int64], ...]:
    """A device, location and user id of the session's own account, for detail pages."""
    out = []
    for first, count in ((ppl.devices_first, ppl.devices_n), (ppl.locations_first, ppl.locations_n),
                         (ppl.users_first, ppl.users_n)):
        c = np.maximum(count[user_pos], 1)
        out.append(first[user_pos] + np.floor(rng.random(user_pos.size) * c).astype(np.int64))
    return tuple(out)
