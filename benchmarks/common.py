"""Helpers shared by the benchmarks: timing (median of repeats) and a result row."""
from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Callable


def seconds(fn: Callable[[], object]) -> float:
    """Wall time of one call of ``fn``."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall time of ``repeats`` calls of ``fn``."""
    return statistics.median(seconds(fn) for _ in range(repeats))


def interleaved(sides: dict[str, Callable[[], object]], repeats: int = 3,
                warm_up: bool = False) -> tuple[dict[str, float], dict[str, object]]:
    """Median seconds of each side, the sides run in turn ``repeats`` times (so a drift of the machine hits
    every side alike), and each side's last return value. ``warm_up``: run every side once first, untimed."""
    if warm_up:
        for fn in sides.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    last: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            last[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, last


def last_json_line(command: list[str]) -> dict:
    """Run ``command`` (a benchmark's subprocess) and read the JSON object on the last line it printed."""
    result = subprocess.run(command, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL)
    return json.loads(result.stdout.strip().splitlines()[-1])


def row(measure: str, ours: float, peer: float, peer_name: str, goal: str, unit: str = "s") -> dict:
    """One line of the table: ``ratio = ours / peer``."""
    return {"measure": measure, "ours": ours, "peer": peer, "peer_name": peer_name, "ratio": ours / peer,
            "goal": goal, "unit": unit}


def print_table(rows: list[dict]) -> None:
    print(f"{'measure':<46} {'nbtrainer':>11} {'peer':>11} {'ratio':>8}  goal          peer")
    for r in rows:
        print(f"{r['measure']:<46} {r['ours']:>10.4g}{r['unit']:<1} {r['peer']:>10.4g}{r['unit']:<1} "
              f"{r['ratio']:>7.3g}x  {r['goal']:<13} {r['peer_name']}")
