"""Small drawing helpers shared by the views."""
from __future__ import annotations

from contextlib import ExitStack, contextmanager


@contextmanager
def hold_all(*widgets):
    """``hold_sync`` on several widgets at once: each sends one message with all its changes at the end."""
    with ExitStack() as stack:
        for widget in widgets:
            stack.enter_context(widget.hold_sync())
        yield


def log_domain(values) -> tuple[float, float, list[float]] | None:
    """A log axis's domain around the positive ``values`` (a little margin) and one tick per decade in it;
    None when there is no positive value. bqplot's own log ticks crowd when the domain spans under a decade."""
    import math

    positive = [float(v) for v in values if v > 0 and math.isfinite(v)]
    if not positive:
        return None
    lo, hi = min(positive) / 1.2, max(positive) * 1.2
    ticks = [10.0 ** k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)]
    inside = [t for t in ticks if lo <= t <= hi]
    if len(inside) < 2:  # under a decade: the ends and the middle (geometric), rounded to 2 digits
        inside = [float(f"{v:.2g}") for v in (lo, math.sqrt(lo * hi), hi)]
    return lo, hi, inside
