"""The test set scored after a step, for the record only: no choice of the recipe (sizes, LRs, which cycle end
or snapshot is kept, when to stop, whether TTA or a resize is kept) reads it. Every choice is made on the
validation set first; then the weights and the choice the step kept are scored on ``data.test``.

Scoring never changes what follows: the global random state (the in-process augmentation's draws) is put
back afterwards, and the test set's loader seeds come from a generator of its own
(:attr:`~nbtrainer.ImageData.test_generator`), so a run with a test set makes the same choices as a run
whose test labels are shuffled (``tests/test_test_split.py`` checks it).

Example::

    scores = test_scores(learn, step)     # {"test_accuracy": 0.97} after a fit step; {} without a test set
"""
from __future__ import annotations

import torch

from ..train.callbacks import CancelFitException, CancelValidException
from ..train.learner import Learner
from ..train.metrics import accuracy
from .settings import Step

SCORED = ("fit", "tta")


def test_scores(learn: Learner, step: Step) -> dict[str, float]:
    """``{"test_accuracy": ...}`` of a done fit step (the weights it kept, plain predictions); of a TTA step,
    the choice it kept (plain, TTA and/or a snapshot ensemble) with ``test_plain_accuracy`` beside it. Empty
    without a test set, for other steps, and when a Stop ends the scoring (the step's own result stands)."""
    if learn.data.test is None or step.action not in SCORED or step.result.get("cancelled"):
        return {}
    try:
        return _scores(learn, step)
    except (CancelFitException, CancelValidException):
        return {}


def _scores(learn: Learner, step: Step) -> dict[str, float]:
    devices = [learn.device] if learn.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        plain = accuracy(*learn.get_preds(split="test"))
        if step.action == "fit":
            return {"test_accuracy": plain}
        kept = accuracy(*kept_predictions(learn, step.result)) if step.result.get("chosen") != "plain" else plain
    return {"test_accuracy": kept, "test_plain_accuracy": plain}


def kept_predictions(learn: Learner, tta_result: dict, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """The probabilities and targets of ``split`` with the choice a TTA step kept (``tta_n`` augmented passes
    and/or an ``ensemble`` of snapshots; neither: the plain predictions). The benchmarks read them per image."""
    n, k = tta_result.get("tta_n", 0), tta_result.get("ensemble", 0)
    return learn.tta(n, snapshots=k, split=split) if n else learn.get_preds(snapshots=k, split=split)
