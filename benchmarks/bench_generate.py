"""Benchmark: the default `just generate` end to end against the embedded server (started first, not timed).

Runs the CLI as a user would (a fresh process each time, --yes so it replaces the previous load) and reports
the median wall time; also reports a baseline measured in the same run: the bare interpreter start plus
`import datagen.cli`, so the figure can be read as a ratio on a noisy machine. Appends to benchmarks/RESULTS.md.
Usage: python benchmarks/bench_generate.py [--runs N] [--no-record]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys

from _common import DATAGEN, machine, run
from _results import add_to_section

from datagen import embedded
from datagen.config import load_config
from datagen.generate import generate

TARGET_S = 2.0  # the target for the default `just generate`, end to end


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("PG")}
    url = embedded.ensure_server()
    gen = [*DATAGEN, "generate", "--yes", "--no-progress"]
    base = [sys.executable, "-c", "import datagen.cli"]
    run(gen, env)  # warm-up: first load creates the tables
    gen_s = [run(gen, env).seconds for _ in range(args.runs)]
    base_s = [run(base, env).seconds for _ in range(args.runs)]
    med, med_base = statistics.median(gen_s), statistics.median(base_s)
    verdict = "meets" if med <= TARGET_S else "MISSES"
    rows = sum(f.height for f in generate(load_config()).frames.values())
    line = (f"| {dt.date.today()} | {machine()} | "
            f"`python benchmarks/bench_generate.py --runs {args.runs}` | {rows:,} | {med:.2f} s "
            f"(min {min(gen_s):.2f}, max {max(gen_s):.2f}) | {med_base:.2f} s | {med / med_base:.1f}x | "
            f"{rows / med:,.0f} | {verdict} the 2 s target |")
    print(f"embedded server: {url}")
    print(f"generate end to end ({rows:,} rows): median {med:.3f} s over {args.runs} runs; interpreter+import "
          f"baseline {med_base:.3f} s; {verdict} the {TARGET_S:.0f} s target")
    if not args.no_record:
        add_to_section("## `just generate` end to end (core entities, embedded server running)",
                       "| date | machine | command | rows | median wall time | baseline: start + import | ratio "
                       "| rows/s | target |\n|---|---|---|---|---|---|---|---|---|\n", line)
    return 0 if med <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
