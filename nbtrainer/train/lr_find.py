"""The LR range test (Smith 2015; fast.ai's ``lr_find``) with exact state restore and kept LR ratios.

The LR grows exponentially from ``start_lr`` to ``end_lr`` over ``num_iter`` mini-batches
(``torch.optim.lr_scheduler.ExponentialLR``'s formula with ``gamma = (end_lr / start_lr) ** (1 / (num_iter - 1))``),
so at iteration ``i`` the last group's LR is ``start_lr * gamma**i``. The sweep is :class:`LRFinder`, a
schedule callback on the bare training loop (``learn.run_fit``: no SGDR, no divergence guard), as fastai's:
an ``ExponentialLR`` stepped after each batch.
Every layer group is multiplied by the same factor: with ``start_lr=[a, b, c]`` the ratios ``a:b:c`` hold for the whole sweep, and
the x axis (``result.lrs``) is the *last* group's LR.

The loss is smoothed with a debiased exponential moving average,
``avg_i = beta * avg_{i-1} + (1 - beta) * loss_i`` and ``smoothed_i = avg_i / (1 - beta**(i+1))``.
The sweep stops early when ``smoothed_i > div_factor * min(smoothed)`` and also
``smoothed_i - min(smoothed) > MIN_RISE * ln(classes)`` (a near-zero minimum's noise is no divergence), or the
loss is not finite.

State: everything is copied to host memory first (:mod:`nbtrainer.train.learner_state`) and restored
exactly afterwards, also when the sweep raises, is cancelled (a callback raising
``CancelFitException``) or is interrupted. BatchNorm policy: as in :meth:`Learner.fit`, the
BatchNorm layers of frozen groups stay in eval mode; those of trainable groups run in train mode
(their running statistics move during the sweep and are restored after it). With
``learn.precompute`` on, the sweep trains the head on the cached activations.

The sweep runs the ordinary events (``before_fit`` ... ``after_batch`` ... ``after_fit``) with
``learn.state.sweep_iters`` set to ``num_iter`` (0 in a fit); after each batch ``learn.state`` holds
``iteration``, ``batch_lrs``, ``loss`` and ``smooth_loss`` (a view draws the curve live from it).

Example::

    result = learn.lr_find()                  # head only while the body is frozen
    print(result.suggestion, result.method)   # e.g. 0.012 valley
    learn.unfreeze()
    result = learn.lr_find(start_lr=[1e-7 / 9, 1e-7 / 3, 1e-7])   # ratios 1:3:9 kept
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from ..checks import is_int
from torch.optim.lr_scheduler import ExponentialLR, LRScheduler

from .callbacks import Callback, CancelFitException, CancelValidException
from ..present.smoothing import SmoothedLoss
from .schedule import ParamSchedule
from .learner_state import restoring
from .suggest import SUGGESTERS, suggest


# the sweep's defaults, here once (Learner.lr_find, the recipe's steps and its script read them)
START_LR, END_LR, NUM_ITER = 1e-7, 10.0, 100
MIN_NUM_ITER = 10  # a curve needs points
MIN_RISE = 0.1  # a divergence is a rise of at least this share of the loss of guessing, ln(classes), too


@dataclass
class LRFinderResult:
    """One sweep: the x axis ``lrs`` (last group's LR), raw and smoothed losses, the suggestion."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    group_lrs: list[list[float]]
    suggestion: float | None
    suggestion_index: int | None
    method: str
    stop_reason: str
    x_axis: str = "LR of the last layer group (head)"
    ratios: list[float] = field(default_factory=list)  # each group's LR / the last group's LR

    def suggested_lrs(self) -> list[float] | None:
        """The suggestion for every group (same ratios as in the sweep)."""
        if self.suggestion is None:
            return None
        return [self.suggestion * r for r in self.ratios]

    def to_dict(self) -> dict:
        return asdict(self)

    def plot(self, ax=None):
        """The curve with the suggestion marked (matplotlib; under the cell in a notebook). Returns the Axes."""
        from ..present.plots import axes, draw_lr_find
        draw_lr_find(ax := axes(ax), self.to_dict())
        return ax

    def _repr_html_(self) -> str:
        """The curve (inline PNG), the suggestion, and why the sweep stopped."""
        from ..present.html import escape, figure, img
        from ..present.plots import draw_lr_find

        fig, ax = figure(figsize=(5.5, 3.5))
        draw_lr_find(ax[0, 0], self.to_dict())
        text = (f"suggestion ({self.method}): {self.suggestion:.3g}" if self.suggestion is not None
                else "no suggestion")
        return (f"<div>{img(fig, 'LR finder curve')}<br>{escape(text)}; {len(self.lrs)} iterations; "
                f"stopped: {escape(self.stop_reason)}</div>")


def _check(learn, start_lr, end_lr, num_iter, beta, div_factor, method) -> list[float]:
    start = learn.group_lrs(start_lr)
    if isinstance(end_lr, bool) or not isinstance(end_lr, (int, float)) or not math.isfinite(end_lr):
        raise ValueError(f"end_lr={end_lr!r}: expected a finite number")
    if start[-1] >= end_lr:
        raise ValueError(f"start_lr={start_lr!r}, end_lr={end_lr!r}: expected the last group's start_lr "
                         f"({start[-1]:g}) < end_lr")
    if not is_int(num_iter, MIN_NUM_ITER):
        raise ValueError(f"num_iter={num_iter!r}: expected an integer >= {MIN_NUM_ITER} (a curve needs points)")
    if not 0 <= beta < 1:
        raise ValueError(f"beta={beta!r}: expected a smoothing factor in [0, 1)")
    if not div_factor > 1:
        raise ValueError(f"div_factor={div_factor!r}: expected a number > 1 (stop when loss > div_factor x best)")
    if method not in SUGGESTERS:
        raise ValueError(f"method={method!r}: expected one of {sorted(SUGGESTERS)}")
    return start


class LRFinder(ParamSchedule):
    """The LR range test as a schedule callback on the bare training loop (fastai's ``LRFinder``, a
    ``ParamScheduler``): every group's LR grows by ``gamma`` each batch (``ExponentialLR``, from the start
    LRs the fit set: ``start_lr * gamma**i`` at batch ``i``); after each batch it records the loss, and it
    ends the fit (:class:`CancelFitException`, before the next batch) after ``num_iter`` batches or once the
    smoothed loss diverges; validation is skipped. :func:`lr_find` runs it inside ``learner_state.restoring``.

    Example::

        finder = LRFinder(learn.group_lrs(1e-7), end_lr=10, num_iter=100)
        learn.run_fit(finder.start, finder.epochs(learn), [finder])
        finder.lrs, finder.smoothed      # the curve; then put the learner back (lr_find does)
    """

    order = -15  # after the Stopper (-20); before the Recorder and the views (they read state.smooth_loss)

    def __init__(self, start: list[float], end_lr: float, num_iter: int, beta: float = 0.98,
                 div_factor: float = 4.0):
        self.start, self.num_iter, self.div_factor = start, num_iter, div_factor
        self.gamma = (end_lr / start[-1]) ** (1 / (num_iter - 1))
        self.ema, self.best = SmoothedLoss(beta), math.inf
        self.lrs, self.losses, self.smoothed, self.group_lrs = [], [], [], []
        self.reason, self.done = f"reached end_lr={end_lr:.3g}", False

    def epochs(self, learn) -> int:
        """Epochs of the training loader that ``num_iter`` batches span."""
        return -(-self.num_iter // len(learn.train_loader()))

    def make(self, optimizer, iters_per_epoch: int) -> LRScheduler:
        return ExponentialLR(optimizer, self.gamma)

    def before_fit(self) -> None:
        super().before_fit()
        self.learner.state.sweep_iters = self.num_iter

    def before_batch(self) -> None:
        if self.learner.training and self.done:  # here, not in after_batch: the views see the last point
            raise CancelFitException(self.reason)

    def after_batch(self) -> None:
        if not self.learner.training:
            return
        self.record()
        super().after_batch()  # the next batch's LRs

    def record(self) -> None:
        state = self.learner.state
        i, loss = state.iteration, state.loss_value
        if i == 0 and not math.isfinite(loss):
            raise ValueError(f"lr_find: the loss is {loss} at the very first step (lr={self.start[-1]:g}); "
                             "check the data, the model and start_lr")
        state.smooth_loss = smooth = self.ema.update(loss)
        self.group_lrs.append(list(state.batch_lrs))
        self.lrs.append(self.group_lrs[-1][-1])
        self.losses.append(loss)
        self.smoothed.append(smooth)
        self.best = min(self.best, smooth)
        # A rise counts only when it is also large next to the loss of guessing (ln of the class count): on
        # pictures the model already knows, the minimum is near 0 and "4x the minimum" is one noisy batch
        # (a class's 3 easy classes: 0.008 -> 0.033 ended the unfrozen sweep after 3 of its 30 points, with no
        # suggestion). fastai's and torch-lr-finder's ratio alone have the same blind spot.
        min_rise = MIN_RISE * math.log(max(2, self.learner.data.c))
        if not math.isfinite(smooth) or smooth > self.div_factor * self.best and smooth - self.best > min_rise:
            self.reason = (f"loss not finite at lr={self.lrs[-1]:.3g}" if not math.isfinite(smooth) else
                           f"smoothed loss above {self.div_factor:g}x its minimum (and {min_rise:.2g} over it) "
                           f"at lr={self.lrs[-1]:.3g}")
            self.done = True
        self.done = self.done or i + 1 == self.num_iter

    def before_validate(self) -> None:
        raise CancelValidException("an LR sweep does not validate")

    def after_cancel_fit(self) -> None:
        if not self.done:
            self.reason = "cancelled"  # stopped from outside (the Stopper, a user's callback)


def lr_find(learn, start_lr: float | Sequence[float] = START_LR, end_lr: float = END_LR,
            num_iter: int = NUM_ITER,
            beta: float = 0.98, div_factor: float = 4.0, method: str = "valley",
            callbacks: Sequence[Callback] = ()) -> LRFinderResult:
    """Sweep the LR exponentially, record the loss, suggest an LR; leave ``learn`` exactly as it was.

    Args:
        start_lr: the first LR, one for every group or one per group (their ratios are kept). Default: 1e-7.
        end_lr: the last group's LR at the last iteration. Default: 10.
        num_iter: mini-batches in the sweep (the loader restarts if it runs out), >= 10. Default: 100.
        beta: smoothing of the loss (debiased moving average). Default: 0.98.
        div_factor: stop once the smoothed loss exceeds ``div_factor`` x its minimum, and by at least
            :data:`MIN_RISE` x ln(classes) (the loss of guessing): a near-zero minimum's noise is no divergence.
            Default: 4.
        method: suggestion, ``"valley"`` or ``"steepest"`` (see :mod:`nbtrainer.train.suggest`). Default: valley.
        callbacks: added to the loop for this sweep only (e.g. a live plot's feed).
    Raises ``ValueError`` for bad arguments and for a loss that is not finite at the very first step.
    """
    start = _check(learn, start_lr, end_lr, num_iter, beta, div_factor, method)
    finder = LRFinder(start, end_lr, num_iter, beta, div_factor)
    with restoring(learn):
        # the bare loop: no SGDR, and no divergence guard (a diverging loss ends the sweep instead)
        learn.run_fit(start, finder.epochs(learn), [finder, *callbacks])
    lrs = finder.lrs
    index = suggest(lrs, finder.smoothed, method)
    return LRFinderResult(lrs=lrs, losses=finder.losses, smoothed=finder.smoothed, group_lrs=finder.group_lrs,
                          suggestion=None if index is None else lrs[index], suggestion_index=index,
                          method=method, stop_reason=finder.reason, ratios=[lr / start[-1] for lr in start])
