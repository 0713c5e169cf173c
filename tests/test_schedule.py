"""SGDR: cycle lengths, the closed-form cosine, and equality with torch's CosineAnnealingWarmRestarts."""
from __future__ import annotations

import math

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts

from nbtrainer.train.schedule import cycle_starts, preview_lrs, sgdr_epochs, sgdr_scheduler

from .conftest import small_learner


def closed_form(lr: float, iteration: int, iters_per_epoch: int, cycle_len: int, cycle_mult: int) -> float:
    """The SGDR formula written out: find the cycle, then cosine-anneal inside it."""
    length, t = cycle_len * iters_per_epoch, iteration
    while t >= length:
        t, length = t - length, length * cycle_mult
    return lr * (1 + math.cos(math.pi * t / length)) / 2


def test_epoch_counts_follow_the_formula():
    assert sgdr_epochs(3, 1, 2) == 7 and cycle_starts(3, 1, 2) == [0, 1, 3]
    assert sgdr_epochs(3, 2, 2) == 2 + 4 + 8 and cycle_starts(3, 2, 2) == [0, 2, 6]
    assert sgdr_epochs(4, 1, 1) == 4 and cycle_starts(4, 1, 1) == [0, 1, 2, 3]
    for bad in ({"n_cycle": 0}, {"cycle_len": 0}, {"cycle_mult": 0}, {"cycle_len": 1.5}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))}="):
            sgdr_epochs(**{"n_cycle": 1, "cycle_len": 1, "cycle_mult": 1, **bad})


@pytest.mark.parametrize("cycle_len,cycle_mult,n_cycle", [(1, 1, 3), (1, 2, 3), (2, 3, 2)])
def test_preview_matches_the_closed_form(cycle_len, cycle_mult, n_cycle):
    lrs = preview_lrs([0.001, 0.01], iters_per_epoch=5, n_cycle=n_cycle, cycle_len=cycle_len, cycle_mult=cycle_mult)
    assert len(lrs[0]) == 5 * sgdr_epochs(n_cycle, cycle_len, cycle_mult)
    for i, (a, b) in enumerate(zip(*lrs)):
        assert a == pytest.approx(closed_form(0.001, i, 5, cycle_len, cycle_mult), rel=1e-9, abs=1e-15)
        assert b == pytest.approx(closed_form(0.01, i, 5, cycle_len, cycle_mult), rel=1e-9, abs=1e-15)


def test_a_second_scheduler_starts_from_the_new_lrs():
    """torch keeps `initial_lr` from the first scheduler; ours must start each fit from the LRs set then."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sgdr_scheduler(opt, 4)
    opt.param_groups[0]["lr"] = 0.02
    sched = sgdr_scheduler(opt, 4)
    assert sched.base_lrs == [0.02] and opt.param_groups[0]["lr"] == 0.02


def test_fit_lrs_equal_torch_scheduler_and_restart_after_1_2_4_epochs():
    learn = small_learner(n=80)
    lrs = [1e-4, 3e-4, 1e-3]
    learn.unfreeze()
    learn.fit(lrs, n_cycle=3, cycle_len=1, cycle_mult=2)
    recorded = [r["lrs"] for r in learn.recorder.iterations]
    per_epoch = learn.state.iters_per_epoch
    assert len(recorded) == 7 * per_epoch and len(learn.recorder.epochs) == 7

    params = [torch.nn.Parameter(torch.zeros(1)) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)])
    reference = CosineAnnealingWarmRestarts(opt, T_0=per_epoch, T_mult=2)
    for row in recorded:
        assert row == [g["lr"] for g in opt.param_groups]
        opt.step()
        reference.step()
    top = [row[-1] for row in recorded]
    restarts = [i for i in range(1, len(top)) if top[i] > top[i - 1]]
    assert restarts == [1 * per_epoch, 3 * per_epoch]  # cycles of 1, 2 and 4 epochs
    assert top[0] == 1e-3 and top[-1] < 1e-3 * 0.01
