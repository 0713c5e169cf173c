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

A curve with no real descent (fewer than 3 points down to its minimum, or a fall of less than 10%:
typical of a trained, unfrozen network) gets, with either method, the LR one decade below where its
loss first rises 10% above its minimum (the course's rule of thumb), or None if that is in the
skipped start.

Example::

    index = suggest(result.lrs, result.smoothed, "valley")
    lr = result.lrs[index]
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

MIN_FALL = 0.1  # a descent must fall by 10% of the highest loss before the minimum


def _window(losses: np.ndarray, skip_start: int, skip_end: int) -> tuple[int, int] | None:
    """``[first, last]`` indices to search: the skipped range, cut at its minimum; None if too short."""
    first, stop = skip_start, len(losses) - skip_end
    if stop - first < 3 or not np.isfinite(losses[first:stop]).any():
        return None
    segment = np.where(np.isfinite(losses[first:stop]), losses[first:stop], np.inf)
    return first, first + int(np.argmin(segment))


def _has_descent(losses: np.ndarray, first: int, last: int) -> bool:
    """At least 3 points down to the minimum, falling by ``MIN_FALL`` of the highest loss."""
    if last - first < 2:
        return False
    high = float(np.max(losses[first:last + 1]))
    return high - float(losses[last]) >= MIN_FALL * abs(high)


def valley(log_lrs: np.ndarray, losses: np.ndarray, first: int, last: int) -> int:
    """The middle of the main descent: from the last point still within 10% of the fall from the highest
    loss to the minimum, to the first point within 10% of the minimum (noise on a plateau stays out)."""
    segment = losses[first:last + 1]
    high, low = float(np.max(segment)), float(segment[-1])
    top = np.nonzero(segment >= low + 0.9 * (high - low))[0][-1]
    bottom = top + np.nonzero(segment[top:] <= low + 0.1 * (high - low))[0][0]
    return first + int(top + bottom) // 2


def decade_before_rise(log_lrs: np.ndarray, losses: np.ndarray, last: int) -> int:
    """The point one decade of LR below where the loss first rises 10% above its minimum (at ``last``)."""
    low = float(losses[last])
    after = np.nonzero(~(losses[last:] <= low + 0.1 * abs(low)))[0]  # NaN counts as risen
    rise = last + int(after[0]) if len(after) else len(losses) - 1
    return int(np.argmin(np.abs(log_lrs[:rise + 1] - (log_lrs[rise] - np.log(10)))))


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
    log_lrs = np.log(np.asarray(lrs, dtype=float))
    if _has_descent(values, *window):
        return SUGGESTERS[method](log_lrs, values, *window)
    index = decade_before_rise(log_lrs, values, window[1])
    return index if index >= window[0] else None
