"""Device maintenance logs: a visit every maintenance interval after installation, some late, some emergencies.

Visit k of a device falls due at installation + k x interval, its scheduled_date (the last one due is the
device's last_maintenance_date). Each visit is scheduled (performed on its due day), overdue (a week to a
month late) or an emergency (an unplanned call at any time in the interval before it, which replaces that
planned visit), in the config's shares; a device's emergency chance grows as its health score falls, scaled
so that the overall share stays the configured one. Visits that would be performed after the end date (late
ones due in the last month) have not happened yet and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import polars as pl

from datagen._vocab import words
from datagen.builders._common import DAY, allocate_ids, epoch, index_within, labels, to_datetime
from datagen.config import MAINTENANCE_TYPES, Config

SCHEDULED, OVERDUE, EMERGENCY = range(3)  # positions in MAINTENANCE_TYPES
NOTES = (  # notes_category per maintenance type
    ("routine_inspection", "line_cleaning", "firmware_update", "sensor_calibration"),
    ("line_cleaning", "seal_replacement", "sensor_calibration"),
    ("leak_repair", "compressor_failure", "valve_replacement", "power_failure"),
)
DURATION_MINUTES = ((30, 90), (45, 120), (60, 240))
PARTS_COST = ((0.0, 150.0), (50.0, 400.0), (150.0, 1500.0))
OVERDUE_DAYS = (7, 30)
WORKDAY = (8 * 3600, 17 * 3600)  # planned visits start between 08:00 and 17:00
TECHNICIANS = 60
HEALTH_FLOOR = 0.05  # emergency weight = 1 - health + floor: even a device in perfect health can break


def build(cfg: Config, parents: Mapping[str, pl.DataFrame], rng: np.random.Generator) -> pl.DataFrame:
    devices = parents["devices"]
    installed = devices["created_at"].dt.epoch("s").to_numpy()
    end = epoch(cfg.end)
    interval = cfg.maintenance_interval_days * DAY
    visits = np.maximum((end - installed) // interval, 0)
    n = int(visits.sum())
    dev = np.repeat(np.arange(devices.height), visits)
    due = installed[dev] + (index_within(visits) + 1) * interval

    share = dict(cfg.maintenance_types)
    health = devices["health_score"].cast(pl.Float64).fill_null(1.0).to_numpy()[dev]
    weight = 1.0 - health + HEALTH_FLOOR
    p_emergency = np.clip(share["emergency"] * weight / weight.mean(), 0.0, 1.0) if n else weight
    p_overdue = share["overdue"] / (1.0 - share["emergency"]) if share["emergency"] < 1 else 0.0
    kind = np.where(rng.random(n) < p_emergency, EMERGENCY,
                    np.where(rng.random(n) < p_overdue, OVERDUE, SCHEDULED))

    due_day = due - due % DAY
    at_work = WORKDAY[0] + np.floor(rng.random(n) * (WORKDAY[1] - WORKDAY[0])).astype(np.int64)
    late = rng.integers(OVERDUE_DAYS[0], OVERDUE_DAYS[1] + 1, n) * DAY
    unplanned = due - interval + 1 + np.floor(rng.random(n) * (interval - 1)).astype(np.int64)
    performed = np.select([kind == EMERGENCY, kind == OVERDUE], [unplanned, due_day + late + at_work],
                          due_day + at_work)
    performed = np.maximum(performed, installed[dev] + 1)

    minutes = _between(rng, np.array(DURATION_MINUTES)[kind], integer=True)
    cost = np.round(_between(rng, np.array(PARTS_COST)[kind], integer=False), 2)
    note_u = rng.random(n)
    notes = pl.Series([""] * n, dtype=pl.String)
    for k, options in enumerate(NOTES):
        rows = np.flatnonzero(kind == k)
        if rows.size:
            notes = notes.scatter(rows, labels(options, np.floor(note_u[rows] * len(options)).astype(np.int64)))
    firsts, lasts = words("first_names"), words("last_names")
    crew = [f"{firsts[(i * 13) % len(firsts)]} {lasts[(i * 7) % len(lasts)]}" for i in range(TECHNICIANS)]
    technician = labels(crew, rng.integers(0, TECHNICIANS, n))

    d = devices.select("id", "location_id", "customer_id").gather(dev)
    frame = pl.DataFrame({
        "device_id": d["id"], "location_id": d["location_id"], "customer_id": d["customer_id"],
        "maintenance_type": labels(MAINTENANCE_TYPES, kind),
        "scheduled_date": to_datetime(due_day).dt.date(),
        "performed_at": to_datetime(performed),
        "technician": technician,
        "duration_minutes": minutes,
        "parts_cost": cost,
        "notes_category": notes,
        "created_at": to_datetime(performed),
        "updated_at": to_datetime(np.minimum(performed + minutes * 60, end)),
    }).filter(pl.Series(performed <= end))  # an overdue visit due near the end has not happened yet
    return frame.with_columns(id=pl.Series(allocate_ids(cfg, "device_maintenance_logs", frame.height)))


def _between(rng: np.random.Generator, bounds: npt.NDArray[np.float64], *,
             integer: bool) -> npt.NDArray[np.float64] | npt.NDArray[np.int64]:
    """One draw per row inside its [lo, hi] (integers inclusive)."""
    lo, hi = bounds[:, 0], bounds[:, 1]
    u = rng.random(lo.shape[0])
    if integer:
        out: npt.NDArray[np.int64] = (lo + np.floor(u * (hi - lo + 1))).astype(np.int64)
        return out
    drawn: npt.NDArray[np.float64] = lo + u * (hi - lo)
    return drawn
