"""The config: a frozen dataclass tree (model.py) read from YAML and validated once, before any database work
(parse.py). The names other modules use are re-exported here."""

from __future__ import annotations

from datagen.config.model import (
    DEFAULT_CONFIG,
    ID_TABLES,
    MAX_ID,
    Config,
    CountShape,
    config_digest,
    largest_remainder,
)
from datagen.config.parse import MAINTENANCE_TYPES, NOT_DATA_KEYS, load_config, parse_config

__all__ = ["DEFAULT_CONFIG", "ID_TABLES", "MAINTENANCE_TYPES", "MAX_ID", "NOT_DATA_KEYS", "Config", "CountShape",
           "config_digest", "largest_remainder", "load_config", "parse_config"]
