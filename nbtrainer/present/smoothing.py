"""The debiased moving average of a loss, as fastai smooths it: the LR finder's stopping rule and every
plotted loss curve use this one definition.

Example::

    smooth([2.3, 2.1, 1.9], beta=0.98)
"""
from __future__ import annotations

from collections.abc import Sequence


class SmoothedLoss:
    """Debiased exponential moving average of a loss, as fastai smooths it:
    ``avg_i = beta * avg_{i-1} + (1 - beta) * x_i`` and ``smoothed_i = avg_i / (1 - beta**(i+1))``.

    Example::

        ema = SmoothedLoss(0.98)
        [ema.update(x) for x in losses]
    """

    def __init__(self, beta: float = 0.98):
        self.beta, self.avg, self.count = beta, 0.0, 0

    def update(self, value: float) -> float:
        """Add ``value``; return the smoothed value so far."""
        self.avg = self.beta * self.avg + (1 - self.beta) * value
        self.count += 1
        return self.avg / (1 - self.beta ** self.count)


def smooth(values: Sequence[float], beta: float = 0.98) -> list[float]:
    """:class:`SmoothedLoss` over a whole series (the recorder's losses in plots)."""
    ema = SmoothedLoss(beta)
    return [ema.update(value) for value in values]
