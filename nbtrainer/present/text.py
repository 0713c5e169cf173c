"""Short texts for people: times as a progress bar shows them, numbers that may not exist yet."""
from __future__ import annotations

import math


def format_seconds(seconds: float | None) -> str:
    """``mm:ss`` (tqdm's format), or ``?`` when not known yet."""
    from tqdm import tqdm

    return "?" if seconds is None or not math.isfinite(seconds) else tqdm.format_interval(seconds)


def shown_number(value: float | None) -> str:
    """A number for the bar, or "-" before there is one (no training batch yet, e.g. while a keep-best fit
    validates its start: "nan" would read as a diverged run)."""
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"
