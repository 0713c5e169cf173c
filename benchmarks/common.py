"""Helpers shared by the benchmarks: timing (median of repeats) and a result row."""
from __future__ import annotations

import statistics
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


def row(measure: str, ours: float, peer: float, peer_name: str, goal: str, unit: str = "s") -> dict:
    """One line of the table: ``ratio = ours / peer``."""
    return {"measure": measure, "ours": ours, "peer": peer, "peer_name": peer_name, "ratio": ours / peer,
            "goal": goal, "unit": unit}


def print_table(rows: list[dict]) -> None:
    print(f"{'measure':<46} {'nbtrainer':>11} {'peer':>11} {'ratio':>8}  goal          peer")
    for r in rows:
        print(f"{r['measure']:<46} {r['ours']:>10.4g}{r['unit']:<1} {r['peer']:>10.4g}{r['unit']:<1} "
              f"{r['ratio']:>7.3g}x  {r['goal']:<13} {r['peer_name']}")
