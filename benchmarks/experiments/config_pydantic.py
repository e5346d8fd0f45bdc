"""One-off: would pydantic v2 read the config as well as datagen's hand-written readers, and as fast?

Times, each in a fresh interpreter (median of 5): datagen.config.parse_config on the shipped config (after
import), importing pydantic, and defining a pydantic model of the config's `accounts` section (4 of the ~20
models a whole config needs) and validating that section. Prints one pydantic error so its key paths can be
compared with datagen's (tests/test_config.py's corpus).
Usage: python benchmarks/experiments/config_pydantic.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys

OURS = """
import time, yaml
from datagen.config import DEFAULT_CONFIG, parse_config
raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
t = time.perf_counter(); parse_config(raw); print(time.perf_counter() - t)
"""

THEIRS = """
import time
t0 = time.perf_counter()
from typing import Literal
from pydantic import BaseModel, Field
t1 = time.perf_counter()
class Size(BaseModel):
    share: float = Field(ge=0, le=1)
    locations: tuple[int, int]
    devices_per_location: tuple[int, int]
    users: tuple[int, int]
    trial_days: int = Field(ge=0)
class Accounts(BaseModel):
    total: int = Field(ge=1, le=1_000_000)
    sizes: dict[Literal["small", "medium", "large", "enterprise"], Size]
class Root(BaseModel):
    seed: int
    accounts: Accounts
t2 = time.perf_counter()
Root.model_validate({"seed": 42, "accounts": {"total": 150, "sizes": {"small": {"share": 1.0, "locations": [1, 2],
                     "devices_per_location": [5, 15], "users": [2, 5], "trial_days": 14}}}})
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def _median_ms(code: str) -> list[float]:
    runs = [[float(x) for x in subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                              check=True).stdout.split()] for _ in range(5)]
    return [1000 * statistics.median(col) for col in zip(*runs, strict=True)]


def main() -> None:
    (ours,) = _median_ms(OURS)
    imp, define, validate = _median_ms(THEIRS)
    print(f"datagen parse_config, whole config: {ours:.2f} ms")
    print(f"pydantic: import {imp:.1f} ms, define 4 models {define:.1f} ms, validate one section {validate:.2f} ms")


if __name__ == "__main__":
    main()
