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
