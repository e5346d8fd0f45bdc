"""datagen: deterministic data generator and bulk loader for the TapFlow Analytics raw schema."""

from __future__ import annotations

__version__ = "0.1.0"
