"""Validation metrics computed from class probabilities.

Example::

    probs, targets = learn.get_preds()
    accuracy(probs, targets), nll(probs, targets)
"""
from __future__ import annotations

import torch


def accuracy(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose highest probability is the target class."""
    return (probs.argmax(dim=1) == targets).float().mean().item()


def nll(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean cross-entropy from probabilities."""
    picked = probs[torch.arange(len(targets)), targets].clamp_min(1e-12)
    return -picked.log().mean().item()


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
