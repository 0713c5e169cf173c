"""The tables of ``bench_quality.py``: each method's test accuracy over the seeds, its difference to the
checklist with a 95% paired bootstrap interval (a tie when the interval holds 0), and the checklist's steps'
gains on test.

Example::

    lo, hi = paired_interval([ours_seed0, ours_seed1], [theirs_seed0, theirs_seed1])   # 0/1 arrays per image
"""
from __future__ import annotations

import statistics
from collections import defaultdict

import numpy as np

DRAWS = 2000


def correct(row: dict) -> np.ndarray:
    return np.frombuffer(row["correct"].encode(), dtype=np.uint8) - ord("0")


def paired_interval(ours: list[np.ndarray], theirs: list[np.ndarray], draws: int = DRAWS,
                    seed: int = 0) -> tuple[float, float]:
    """95% interval of ``mean over seeds (theirs - ours)`` accuracy, resampling each seed's test images (the
    same draw for both sides: paired)."""
    rng = np.random.default_rng(seed)
    total = np.zeros(draws)
    for o, t in zip(ours, theirs):
        if len(o) != len(t):
            raise ValueError(f"paired results of different test sets ({len(o)} and {len(t)} images)")
        diff = t.astype(float) - o.astype(float)
        total += diff[rng.integers(0, len(diff), (draws, len(diff)))].mean(axis=1)
    lo, hi = np.percentile(total / len(ours), [2.5, 97.5])
    return float(lo), float(hi)


def _pct(values) -> str:
    return "/".join(f"{100 * v:.1f}" for v in values)


def verdict(lo: float, hi: float) -> str:
    """The row against the checklist: ``tie`` when the interval holds 0."""
    return "tie" if lo <= 0 <= hi else ("higher" if lo > 0 else "lower")


def set_table(name: str, rows: list[dict], ours_name: str) -> tuple[list[str], dict[str, float]]:
    by_method: dict[str, dict[int, dict]] = defaultdict(dict)
    for r in rows:
        by_method[r["method"]][r["seed"]] = r
    ours = by_method[ours_name]
    means = {}
    lines = [f"{name} (test: {len(correct(next(iter(ours.values()))))} images; seeds {sorted(ours)})",
             f"  {'method':<46} {'test acc.':>9} {'per seed':>17} {'vs checklist [95% CI]':>27} {'verdict':>7}"
             f" {'time':>6} {'time ratio':>10}  kept"]
    for method, seeds in by_method.items():
        paired = sorted(set(seeds) & set(ours))
        acc = [seeds[s]["test"] for s in paired]
        means[method] = statistics.mean(acc)
        if method == ours_name:
            versus, call = "", ""
        else:
            lo, hi = paired_interval([correct(ours[s]) for s in paired], [correct(seeds[s]) for s in paired])
            diff = means[method] - statistics.mean(ours[s]["test"] for s in paired)
            versus, call = f"{100 * diff:+5.1f} [{100 * lo:+5.1f}, {100 * hi:+5.1f}]", verdict(lo, hi)
        kept = ", ".join(sorted({seeds[s]["chosen"] for s in paired}))
        if "epochs" in seeds[paired[0]]:
            kept += f"; epochs on images {[seeds[s]['epochs'] for s in paired]}"
        seconds = statistics.mean(seeds[s]["seconds"] for s in paired)
        ratio = seconds / statistics.mean(ours[s]["seconds"] for s in paired)  # the peer's time / the checklist's
        lines.append(f"  {method:<46} {100 * means[method]:8.1f}% {_pct(acc):>17} {versus:>27} {call:>7} "
                     f"{seconds:5.0f}s {ratio:9.2f}x  {kept}")
    return lines, means


def step_table(rows: list[dict], ours_name: str) -> list[str]:
    """Each checklist step's test accuracy (mean over seeds) and its gain over the step before."""
    ours = [r for r in rows if r["method"] == ours_name]
    probe = [r["test"] for r in rows if r["method"].startswith("linear probe")]
    lines = [f"  the checklist's steps on test (mean of {len(ours)} seeds; gain over the step before):"]
    before = statistics.mean(probe) if probe else None
    if before is not None:
        lines.append(f"    {'(the linear probe, for reference)':<50} {100 * before:6.1f}%")
    for i, step in enumerate(ours[0]["steps"]):
        acc = statistics.mean(r["steps"][i]["test"] for r in ours)
        gain = "" if i == 0 else f"{100 * (acc - before):+5.1f}"
        kept_start = sum(r["steps"][i]["kept"].startswith("the start") for r in ours)
        lines.append(f"    {step['name'][:50]:<50} {100 * acc:6.1f}% {gain:>6}   kept its start in {kept_start}/{len(ours)}")
        before = acc
    final = statistics.mean(r["test"] for r in ours)
    lines.append(f"    {'Test-time augmentation (the kept choice)':<50} {100 * final:6.1f}% {100 * (final - before):+6.1f}")
    return lines


TIME_PEER, TIME_GOAL = "fastai, as documented", 1.0  # the checklist's time / fastai's, at the same epochs


def time_goal(rows: list[dict], ours_name: str) -> list[str]:
    """The timing goal as a ratio of the rows' seconds: the checklist (every step, its probe and test scoring
    included) takes no longer than fastai as its docs teach, trained for as many epochs on images. Measured
    in one run when the rows come from one (``--summarize`` may join runs: say so where it does)."""
    ours = {r["seed"]: r["seconds"] for r in rows if r["method"] == ours_name}
    peer = {r["seed"]: r["seconds"] for r in rows if r["method"] == TIME_PEER and r["seed"] in ours}
    if not peer:
        return []
    ratio = statistics.mean(ours[s] for s in peer) / statistics.mean(peer.values())
    return [f"  time: the checklist / {TIME_PEER} = {ratio:.2f}x (goal: at most {TIME_GOAL:.1f}x; "
            f"{'met' if ratio <= TIME_GOAL else 'MISSED'})"]


def report(rows: list[dict], ours_name: str) -> list[str]:
    lines, gaps = [], []
    for name in dict.fromkeys(r["set"] for r in rows):
        set_rows = [r for r in rows if r["set"] == name]
        table, means = set_table(name, set_rows, ours_name)
        lines += [*table, *step_table(set_rows, ours_name), *time_goal(set_rows, ours_name), ""]
        probe = next((m for m in means if m.startswith("linear probe")), None)
        if probe:
            gaps.append(means[ours_name] - means[probe])
    if gaps:
        lines.append(f"checklist over the linear probe, mean over the sets: {100 * statistics.mean(gaps):+.1f} points "
                     f"(goal: at least +1)")
    return lines
