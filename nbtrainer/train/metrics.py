"""Validation metrics computed from class probabilities.

Example::

    probs, targets = learn.get_preds()
    accuracy(probs, targets), nll(probs, targets)
"""
from __future__ import annotations

from collections.abc import Sequence

import torch


def accuracy(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose highest probability is the target class."""
    return (probs.argmax(dim=1) == targets).float().mean().item()


EPS = 1e-12  # a probability of exactly 0 gives an infinite loss; this caps it near 27.6


def target_losses(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each row's cross-entropy from probabilities: ``-log p(target)``."""
    return -probs[torch.arange(len(targets)), targets].clamp_min(EPS).log()


def nll(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean cross-entropy from probabilities."""
    return target_losses(probs, targets).mean().item()


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
