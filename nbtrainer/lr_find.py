"""The LR range test (Smith 2015; fast.ai's ``lr_find``) with exact state restore and kept LR ratios.

The LR grows exponentially from ``start_lr`` to ``end_lr`` over ``num_iter`` mini-batches
(``torch.optim.lr_scheduler.ExponentialLR`` with ``gamma = (end_lr / start_lr) ** (1 / (num_iter - 1))``),
so at iteration ``i`` the last group's LR is ``start_lr * gamma**i``. Every layer group is multiplied
by the same factor: with ``start_lr=[a, b, c]`` the ratios ``a:b:c`` hold for the whole sweep, and
the x axis (``result.lrs``) is the *last* group's LR.

The loss is smoothed with a debiased exponential moving average,
``avg_i = beta * avg_{i-1} + (1 - beta) * loss_i`` and ``smoothed_i = avg_i / (1 - beta**(i+1))``.
The sweep stops early when ``smoothed_i > div_factor * min(smoothed)`` or the loss is not finite.

State: everything is snapshotted to host memory first (:mod:`nbtrainer.state`) and restored
exactly afterwards, also when the sweep raises, is cancelled (a callback raising
``CancelFitException``) or is interrupted. BatchNorm policy: as in :meth:`Learner.fit`, the
BatchNorm layers of frozen groups stay in eval mode; those of trainable groups run in train mode
(their running statistics move during the sweep and are restored after it). With
``learn.precompute`` on, the sweep trains the head on the cached activations.

Each iteration runs the ``after_lr_find_step`` event; ``learn.state`` then holds ``iteration``,
``batch_lrs``, ``loss`` and ``smooth_loss`` (a view draws the curve live from it).

Example::

    result = learn.lr_find()                  # head only while the body is frozen
    print(result.suggestion, result.method)   # e.g. 0.012 valley
    learn.unfreeze()
    result = learn.lr_find(start_lr=[1e-7 / 9, 1e-7 / 3, 1e-7])   # ratios 1:3:9 kept
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field

from torch.optim.lr_scheduler import ExponentialLR

from .callbacks import CancelFitException
from .checks import is_int
from .metrics import SmoothedLoss
from .state import restoring
from .suggest import SUGGESTERS, suggest


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


def _check(learn, start_lr, end_lr, num_iter, beta, div_factor, method) -> list[float]:
    start = learn.group_lrs(start_lr)
    if isinstance(end_lr, bool) or not isinstance(end_lr, (int, float)) or not math.isfinite(end_lr):
        raise ValueError(f"end_lr={end_lr!r}: expected a finite number")
    if start[-1] >= end_lr:
        raise ValueError(f"start_lr={start_lr!r}, end_lr={end_lr!r}: expected the last group's start_lr "
                         f"({start[-1]:g}) < end_lr")
    if not is_int(num_iter, 10):
        raise ValueError(f"num_iter={num_iter!r}: expected an integer >= 10 (a curve needs points)")
    if not 0 <= beta < 1:
        raise ValueError(f"beta={beta!r}: expected a smoothing factor in [0, 1)")
    if not div_factor > 1:
        raise ValueError(f"div_factor={div_factor!r}: expected a number > 1 (stop when loss > div_factor x best)")
    if method not in SUGGESTERS:
        raise ValueError(f"method={method!r}: expected one of {sorted(SUGGESTERS)}")
    return start


def _batches(learn, n: int) -> Iterator:
    """``n`` training batches, starting the loader again when it runs out."""
    done = 0
    while done < n:
        for batch in learn.train_loader():
            yield batch
            done += 1
            if done == n:
                return


def lr_find(learn, start_lr: float | Sequence[float] = 1e-7, end_lr: float = 10.0, num_iter: int = 100,
            beta: float = 0.98, div_factor: float = 4.0, method: str = "valley") -> LRFinderResult:
    """Sweep the LR exponentially, record the loss, suggest an LR; leave ``learn`` exactly as it was.

    Args:
        start_lr: the first LR, one for every group or one per group (their ratios are kept). Default: 1e-7.
        end_lr: the last group's LR at the last iteration. Default: 10.
        num_iter: mini-batches in the sweep (the loader restarts if it runs out), >= 10. Default: 100.
        beta: smoothing of the loss (debiased moving average). Default: 0.98.
        div_factor: stop once the smoothed loss exceeds ``div_factor`` x its minimum. Default: 4.
        method: suggestion, ``"valley"`` or ``"steepest"`` (see :mod:`nbtrainer.suggest`). Default: valley.
    Raises ``ValueError`` for bad arguments and for a loss that is not finite at the very first step.
    """
    start = _check(learn, start_lr, end_lr, num_iter, beta, div_factor, method)
    gamma = (end_lr / start[-1]) ** (1 / (num_iter - 1))
    lrs, losses, smoothed, group_lrs = [], [], [], []
    reason = f"reached end_lr={end_lr:g}"
    with restoring(learn):
        learn.begin_lr_find(start, num_iter)
        scheduler = ExponentialLR(learn.opt, gamma)
        ema, best = SmoothedLoss(beta), math.inf
        try:
            for i, (xb, yb) in enumerate(_batches(learn, num_iter)):
                learn.train_batch(xb, yb)
                loss = learn.state.loss_value
                if i == 0 and not math.isfinite(loss):
                    raise ValueError(f"lr_find: the loss is {loss} at the very first step (lr={start[-1]:g}); "
                                     "check the data, the model and start_lr")
                smooth = ema.update(loss)
                group_lrs.append(list(learn.state.batch_lrs))
                lrs.append(group_lrs[-1][-1])
                losses.append(loss)
                smoothed.append(smooth)
                learn.state.iteration, learn.state.smooth_loss = i, smooth
                learn.run_event("after_lr_find_step")
                best = min(best, smooth)
                if not math.isfinite(smooth) or smooth > div_factor * best:
                    reason = (f"loss not finite at lr={lrs[-1]:.3g}" if not math.isfinite(smooth) else
                              f"smoothed loss above {div_factor:g}x its minimum at lr={lrs[-1]:.3g}")
                    break
                scheduler.step()
        except CancelFitException:
            reason = "cancelled"
        finally:
            learn.run_event("after_lr_find")
    index = suggest(lrs, smoothed, method)
    return LRFinderResult(lrs=lrs, losses=losses, smoothed=smoothed, group_lrs=group_lrs,
                          suggestion=None if index is None else lrs[index], suggestion_index=index,
                          method=method, stop_reason=reason, ratios=[lr / start[-1] for lr in start])
