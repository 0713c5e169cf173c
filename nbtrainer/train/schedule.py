"""SGDR: cosine annealing with warm restarts, per iteration, for every layer group at once.

Cycle ``k`` (counting from 0) lasts ``cycle_len * cycle_mult**k`` epochs. Inside a cycle of ``T``
iterations, at iteration ``t`` each group's learning rate is

    lr_t = eta_min + (lr_group - eta_min) * (1 + cos(pi * t / T)) / 2

so a cycle starts at the group's LR and anneals towards ``eta_min``, then restarts. ``n_cycle``
cycles take ``cycle_len * (1 + m + ... + m**(n_cycle - 1))`` epochs (``cycle_len * n_cycle`` when
``cycle_mult == 1``). The work is done by :class:`torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`
with ``T_0 = cycle_len * iters_per_epoch`` and ``T_mult = cycle_mult``, stepped once per batch.

Warm-up (``warmup > 0``, after fastai 0.7's ``CosAnneal``, the course's own scheduler, which held every
group at ``lr / 100`` for the first 1/20 of the first cycle): the first ``W = ceil(warmup * T_0)``
iterations run at ``lr / 100`` (:class:`~torch.optim.lr_scheduler.ConstantLR`), then the cosine starts
(:class:`~torch.optim.lr_scheduler.SequentialLR` chains the two). So the cosine's restarts come ``W``
iterations after the epoch boundaries, and at an epoch-aligned cycle end the LR is
``lr * (1 + cos(pi * (1 - W / T_k))) / 2`` instead of 0: under 0.7% of the peak for ``warmup <= 0.05``
(the last iteration of a 20-iteration first cycle runs at 2.5% of the peak instead of 0.6%).

Example::

    opt = torch.optim.SGD(params_groups, lr=0.1)
    sched = sgdr_scheduler(opt, iters_per_epoch=22, cycle_len=1, cycle_mult=2)
    for it in range(22 * sgdr_epochs(3, 1, 2)):     # 7 epochs: cycles of 1, 2 and 4
        ...; opt.step(); sched.step()
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingWarmRestarts, LRScheduler, SequentialLR

from ..checks import is_int
from .callbacks import Callback

WARMUP_FACTOR = 0.01  # fastai 0.7's CosAnneal: lr / 100 during the warm-up


def check_cycles(n_cycle: int, cycle_len: int, cycle_mult: int) -> None:
    """Raise ``ValueError`` naming the bad argument unless all three are integers >= 1."""
    for name, value in (("n_cycle", n_cycle), ("cycle_len", cycle_len), ("cycle_mult", cycle_mult)):
        if not is_int(value, 1):
            raise ValueError(f"{name}={value!r}: expected an integer >= 1")


def sgdr_epochs(n_cycle: int = 1, cycle_len: int = 1, cycle_mult: int = 1) -> int:
    """Total epochs of ``n_cycle`` cycles: ``cycle_len * (1 + m + ... + m**(n_cycle-1))``."""
    check_cycles(n_cycle, cycle_len, cycle_mult)
    return cycle_len * sum(cycle_mult ** k for k in range(n_cycle))


def cycle_starts(n_cycle: int = 1, cycle_len: int = 1, cycle_mult: int = 1) -> list[int]:
    """Epoch at which each cycle starts, e.g. ``[0, 1, 3]`` for 3 cycles with cycle_mult=2."""
    check_cycles(n_cycle, cycle_len, cycle_mult)
    starts, epoch = [], 0
    for k in range(n_cycle):
        starts.append(epoch)
        epoch += cycle_len * cycle_mult ** k
    return starts


def warmup_iters(warmup: float, iters_per_epoch: int, cycle_len: int = 1) -> int:
    """Iterations at ``lr / 100``: ``ceil(warmup * cycle_len * iters_per_epoch)`` (as fastai 0.7 counted them:
    every iteration before that fraction of the cycle), 0 when ``warmup`` is 0."""
    if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or not 0 <= warmup < 1:
        raise ValueError(f"warmup={warmup!r}: expected the fraction of the first cycle held at lr/100, "
                         f"a number in [0, 1)")
    return math.ceil(warmup * cycle_len * iters_per_epoch) if warmup else 0


def sgdr_scheduler(optimizer: torch.optim.Optimizer, iters_per_epoch: int, cycle_len: int = 1,
                   cycle_mult: int = 1, eta_min: float = 0.0, warmup: float = 0.0) -> LRScheduler:
    """A per-iteration SGDR scheduler starting from each param group's current ``lr``.

    Args:
        optimizer: its param groups' ``lr`` are the peak LRs (one per layer group).
        iters_per_epoch: batches per epoch; the scheduler is stepped after every batch.
        cycle_len: epochs in the first cycle. Default: 1.
        cycle_mult: each cycle is this many times longer than the one before. Default: 1.
        eta_min: the LR every cycle anneals towards. Default: 0.
        warmup: the fraction of the first cycle held at ``lr / 100`` before the cosine starts. Default: 0.

    Example::

        sched = sgdr_scheduler(opt, iters_per_epoch=20, cycle_mult=2, warmup=0.05)  # 1 iteration at lr/100
    """
    check_cycles(1, cycle_len, cycle_mult)
    if iters_per_epoch < 1:
        raise ValueError(f"iters_per_epoch={iters_per_epoch!r}: expected >= 1 (is the training set empty?)")
    warm = warmup_iters(warmup, iters_per_epoch, cycle_len)
    for group in optimizer.param_groups:
        group.pop("initial_lr", None)  # torch would start from an earlier scheduler's LRs (see ParamSchedule)
    cosine = CosineAnnealingWarmRestarts(optimizer, T_0=cycle_len * iters_per_epoch, T_mult=cycle_mult,
                                         eta_min=eta_min)
    if not warm:
        return cosine
    hold = ConstantLR(optimizer, factor=WARMUP_FACTOR, total_iters=warm)
    return SequentialLR(optimizer, [hold, cosine], milestones=[warm])


def preview_lrs(lrs: Sequence[float], iters_per_epoch: int, n_cycle: int = 1, cycle_len: int = 1,
                cycle_mult: int = 1, eta_min: float = 0.0, warmup: float = 0.0) -> list[list[float]]:
    """Per-iteration LRs (one list per group) that a fit with these settings will use; no model needed."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": float(lr)} for p, lr in zip(params, lrs)])
    sched = sgdr_scheduler(opt, iters_per_epoch, cycle_len, cycle_mult, eta_min, warmup)
    out: list[list[float]] = [[] for _ in lrs]
    for _ in range(iters_per_epoch * sgdr_epochs(n_cycle, cycle_len, cycle_mult)):
        for series, group in zip(out, opt.param_groups):
            series.append(group["lr"])
        opt.step()
        sched.step()
    return out


class ParamSchedule(Callback):
    """The LR schedule of a fit as a callback (fastai's ``ParamScheduler``): :meth:`make` builds a
    ``torch.optim.lr_scheduler`` for the fit at ``before_fit`` (from the LRs the fit set), and it is stepped
    after every training batch. The loop itself knows no schedule.

    Example::

        class Constant(ParamSchedule):
            def make(self, optimizer, iters_per_epoch):
                return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    """

    order = 20  # after the views and the recorder have read the batch's LRs (state.batch_lrs)

    def make(self, optimizer: torch.optim.Optimizer, iters_per_epoch: int) -> LRScheduler:
        raise NotImplementedError

    def before_fit(self) -> None:
        for group in self.learner.opt.param_groups:
            # torch keeps the first scheduler's `initial_lr` (setdefault) and would start every later fit
            # from the old LRs; each fit gets its own schedule from the LRs set now.
            group.pop("initial_lr", None)
        self.scheduler = self.make(self.learner.opt, self.learner.state.iters_per_epoch)

    def after_batch(self) -> None:
        if self.learner.training:
            self.scheduler.step()


class SGDRSchedule(ParamSchedule):
    """:func:`sgdr_scheduler` as a fit's schedule (``learn.fit`` adds it); the arguments are checked here,
    before the fit starts."""

    def __init__(self, cycle_len: int = 1, cycle_mult: int = 1, warmup: float = 0.0):
        check_cycles(1, cycle_len, cycle_mult)
        warmup_iters(warmup, 1, cycle_len)  # checks warmup
        self.cycle_len, self.cycle_mult, self.warmup = cycle_len, cycle_mult, warmup

    def make(self, optimizer: torch.optim.Optimizer, iters_per_epoch: int) -> LRScheduler:
        return sgdr_scheduler(optimizer, iters_per_epoch, self.cycle_len, self.cycle_mult, warmup=self.warmup)
