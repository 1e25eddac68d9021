"""Where the tap's per-record time goes: the CPU-bound case of run.py, in-process, profiled.

Run as ``python benchmarks/profile_cpu.py [--events N] [--no-profile]``.
The tap syncs against the fake in this process with stdout sent to /dev/null; cProfile watches
the main thread only, which is where records are parsed and written (downloads run in the
pool's threads). cProfile adds a fixed cost per Python call, so it inflates code made of many
small calls: the unprofiled rate printed first is the one to compare with run.py.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime
import os
import pstats
import random
import sys
import time
import typing as t
from pathlib import Path

# run.py is found because Python puts this script's folder first on sys.path.
from run import (
    EVENT_TYPE,
    FIRST_END_TIME,
    WORKSPACE_ID,
    auth_log_events,
    new_api,
    tap_config,
)

from tap_openai_compliance.sandbox.server import encode_jsonl
from tap_openai_compliance.tap import TapOpenAICompliance


def sync(config: dict[str, t.Any], profiler: cProfile.Profile | None) -> float:
    """One full sync with stdout discarded; return its seconds."""
    tap = TapOpenAICompliance(config=config)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        if profiler is None:
            tap.sync_all()
        else:
            profiler.runcall(tap.sync_all)
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Sync once unprofiled, once profiled, and print the top functions both ways."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=96_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--no-profile", action="store_true", help="time only")
    parser.add_argument("--save", type=Path, help="also write the raw pstats here")
    args = parser.parse_args(argv)
    rng = random.Random(5)
    per_file = args.events // args.files
    api = new_api()
    try:
        for index in range(args.files):
            end_time = FIRST_END_TIME + datetime.timedelta(hours=index)
            body = encode_jsonl(auth_log_events(per_file, rng, end_time))
            api.add_log_file("workspaces", WORKSPACE_ID, EVENT_TYPE, body, end_time)
        config = tap_config(api)
        records = per_file * args.files
        unprofiled = sync(config, None)
        print(
            f"{records:,} records in {unprofiled:.2f} s unprofiled, "
            f"{records / unprofiled:,.0f} records/s"
        )
        if args.no_profile:
            return 0
        profiler = cProfile.Profile()
        profiled = sync(config, profiler)
    finally:
        api.stop()
    print(f"profiled: {profiled:.2f} s ({records / profiled:,.0f} records/s)")
    stats = pstats.Stats(profiler)
    if args.save:
        stats.dump_stats(args.save)
    for key in ("cumulative", "tottime"):
        print(f"\n== top {args.top} by {key} ==")
        stats.sort_stats(key).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
