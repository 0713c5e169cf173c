"""Pick an LR from an LR-finder curve.

Both methods look only at the smoothed curve between ``skip_start`` points from its start and
``skip_end`` points from its end (the start is flat noise, the end is divergence), and only up to
the lowest point of that range, so a suggestion is never past the minimum.

- ``"valley"`` (after fastai's default since 2.4, the middle of the longest descending valley): the
  main descent runs from the last point still above 90% of the fall (highest loss to minimum) to the
  first point below 10% of it; the suggestion is its middle (the midpoint index, i.e. the geometric
  mean of the LRs). Thresholds on the fall, not point-to-point comparisons, keep noise on the flat
  start out of the valley. It sits where the loss falls steadily, well before the minimum where
  training turns unstable.
- ``"steepest"``: the point with the most negative slope ``d loss / d log(lr)``.

Example::

    index = suggest(result.lrs, result.smoothed, "valley")
    lr = result.lrs[index]
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def _window(losses: np.ndarray, skip_start: int, skip_end: int) -> tuple[int, int] | None:
    """``[first, last]`` indices to search: the skipped range, cut at its minimum; None if too short."""
    first, stop = skip_start, len(losses) - skip_end
    if stop - first < 3 or not np.isfinite(losses[first:stop]).any():
        return None
    segment = np.where(np.isfinite(losses[first:stop]), losses[first:stop], np.inf)
    last = first + int(np.argmin(segment))
    return (first, last) if last - first >= 2 else None


def valley(log_lrs: np.ndarray, losses: np.ndarray, first: int, last: int) -> int:
    """The middle of the main descent: from the last point still within 10% of the fall from the highest
    loss to the minimum, to the first point within 10% of the minimum (noise on a plateau stays out)."""
    segment = losses[first:last + 1]
    high, low = float(np.max(segment)), float(segment[-1])
    top = np.nonzero(segment >= low + 0.9 * (high - low))[0][-1]
    bottom = top + np.nonzero(segment[top:] <= low + 0.1 * (high - low))[0][0]
    return first + int(top + bottom) // 2


def steepest(log_lrs: np.ndarray, losses: np.ndarray, first: int, last: int) -> int:
    slope = np.gradient(losses[first:last + 1], log_lrs[first:last + 1])
    return first + int(np.argmin(slope))


SUGGESTERS: dict[str, Callable[[np.ndarray, np.ndarray, int, int], int]] = {"valley": valley, "steepest": steepest}


def suggest(lrs: Sequence[float], losses: Sequence[float], method: str = "valley", skip_start: int = 10,
            skip_end: int = 5) -> int | None:
    """Index of the suggested LR in ``lrs``, or None when the curve is too short to say.

    Args:
        lrs: the swept LRs (increasing). losses: the smoothed loss at each.
        method: ``"valley"`` or ``"steepest"``. Default: ``"valley"``.
        skip_start, skip_end: points ignored at each end. Defaults: 10 and 5.
    """
    if method not in SUGGESTERS:
        raise ValueError(f"method={method!r}: expected one of {sorted(SUGGESTERS)}")
    if len(lrs) != len(losses):
        raise ValueError(f"lrs and losses differ in length: {len(lrs)} and {len(losses)}")
    values = np.asarray(losses, dtype=float)
    window = _window(values, skip_start, skip_end)
    if window is None:
        return None
    return SUGGESTERS[method](np.log(np.asarray(lrs, dtype=float)), values, *window)
