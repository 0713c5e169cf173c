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


EPS = 1e-12  # a probability of exactly 0 gives an infinite loss; this caps it near 27.6


def cross_entropy(scores: torch.Tensor, targets: torch.Tensor, probs: bool = False,
                  reduction: str = "mean") -> torch.Tensor:
    """The loss, defined once: ``-log p(target)``, the mean over the rows (``reduction="none"``: each row's).
    ``scores`` are logits (training: ``log_softmax``, numerically stable, float32 under autocast) or, with
    ``probs=True``, probabilities (predictions averaged over TTA passes or an ensemble have no logits;
    clamped at :data:`EPS`). The same number either way for the same model.

    Example::

        loss = cross_entropy(model(xb), yb)                          # what training minimizes
        nll = cross_entropy(probs, targets, probs=True).item()       # the validation loss
    """
    log_p = scores.clamp_min(EPS).log() if probs else torch.log_softmax(scores.float(), dim=1)
    return torch.nn.functional.nll_loss(log_p, targets, reduction=reduction)


def target_losses(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each row's loss from probabilities (:func:`cross_entropy`)."""
    return cross_entropy(probs, targets, probs=True, reduction="none")


def nll(probs: torch.Tensor, targets: torch.Tensor) -> float:
    """The mean loss from probabilities (:func:`cross_entropy`), a float."""
    return cross_entropy(probs, targets, probs=True).item()
