"""lr_find: exact restore (also on error and cancel), kept LR ratios, stopping, suggestions, bad input."""
from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest
import torch

from nbtrainer.train.callbacks import Callback, CancelFitException
from nbtrainer.recipe.summary import suggestion_text
from nbtrainer.recipe.lr_policy import unfrozen_lr
from nbtrainer.train.suggest import suggest

from .conftest import small_learner


def _everything(learn) -> dict:
    """A deep copy of all the state lr_find promises to restore."""
    return {
        "model": {k: v.clone() for k, v in learn.model.state_dict().items()},
        "grads": {k: p.grad.clone() for k, p in learn.model.named_parameters() if p.grad is not None},
        "requires_grad": [p.requires_grad for p in learn.model.parameters()],
        "modes": [m.training for m in learn.model.modules()],
        "opt_state": {i: {k: v.clone() for k, v in s.items()} for i, s in
                      enumerate(learn.opt.state_dict()["state"].values())},
        "opt_groups": [{k: v for k, v in g.items()} for g in learn.opt.state_dict()["param_groups"]],
        "n_frozen": learn.n_frozen,
        "recorder": learn.recorder.state_dict(),
        "stage": learn.recorder.stage,
        "generator": learn.data.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state()[1].copy(),
        "python_rng": random.getstate(),
        "size_augment": (learn.data.size, learn.data.augment),
    }


def _assert_same(a: dict, b: dict) -> None:
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k  # BN running stats and num_batches_tracked too
    assert a["grads"].keys() == b["grads"].keys()
    assert all(torch.equal(a["grads"][k], b["grads"][k]) for k in a["grads"])
    assert a["opt_state"].keys() == b["opt_state"].keys()
    for i in a["opt_state"]:
        assert all(torch.equal(a["opt_state"][i][k], b["opt_state"][i][k]) for k in a["opt_state"][i])
    assert torch.equal(a["generator"], b["generator"]) and torch.equal(a["torch_rng"], b["torch_rng"])
    assert np.array_equal(a["numpy_rng"], b["numpy_rng"])
    for key in ("requires_grad", "modes", "opt_groups", "n_frozen", "recorder", "stage", "python_rng",
                "size_augment"):
        assert a[key] == b[key], key


@pytest.fixture
def trained():
    """A learner mid-recipe: a fit done (momentum buffers, grads, history), the late body trainable."""
    learn = small_learner()
    learn.fit(1e-2)
    learn.freeze_to(1)
    learn.recorder.stage = "after head"
    return learn


def test_lr_find_restores_every_tensor_and_rng_exactly(trained):
    before = _everything(trained)
    result = trained.lr_find(num_iter=20)
    assert len(result.lrs) >= 10
    _assert_same(before, _everything(trained))


def test_fit_after_lr_find_is_bit_identical_to_a_fit_without_it():
    def recipe(probe: bool):
        learn = small_learner()  # seeds torch's global RNG (dropout) and the data's generator
        if probe:
            learn.lr_find(num_iter=15)
        learn.fit(1e-2)
        learn.unfreeze()
        if probe:
            learn.lr_find(num_iter=12)
        learn.fit([1e-4, 1e-3, 1e-2])
        return learn

    plain, probed = recipe(False), recipe(True)
    for (name, p), q in zip(plain.model.state_dict().items(), probed.model.state_dict().values()):
        assert torch.equal(p, q), name
    assert [r["loss"] for r in plain.recorder.iterations] == [r["loss"] for r in probed.recorder.iterations]


class _Boom(Callback):
    def __init__(self, at: int, exc: Exception):
        self.at, self.exc, self.seen = at, exc, []

    def after_batch(self):
        s = self.learner.state
        self.seen.append((s.iteration, s.batch_lrs[-1], float(s.loss.detach()), s.smooth_loss))
        if s.iteration == self.at:
            raise self.exc


def test_lr_find_restores_after_an_exception_and_after_cancel(trained):
    before = _everything(trained)
    boom = _Boom(5, RuntimeError("kaboom"))
    trained.add_callback(boom)
    with pytest.raises(RuntimeError, match="kaboom"):
        trained.lr_find(num_iter=20)
    trained.remove_callback(boom)
    _assert_same(before, _everything(trained))

    stop = _Boom(7, CancelFitException())
    trained.add_callback(stop)
    result = trained.lr_find(num_iter=20)
    trained.remove_callback(stop)
    assert result.stop_reason == "cancelled" and len(result.lrs) == 8
    assert [s[0] for s in stop.seen] == list(range(8))  # one event per iteration, with lr and both losses
    assert [s[1] for s in stop.seen] == result.lrs and [s[3] for s in stop.seen] == result.smoothed
    _assert_same(before, _everything(trained))


def test_lr_find_keeps_the_differential_ratios_and_sweeps_exponentially():
    learn = small_learner()
    learn.unfreeze()
    start = [1e-6 / 9, 1e-6 / 3, 1e-6]
    result = learn.lr_find(start_lr=start, end_lr=1e-1, num_iter=20, div_factor=1e9)
    assert result.ratios == pytest.approx([1 / 9, 1 / 3, 1])
    assert result.stop_reason.startswith("reached end_lr") and len(result.lrs) == 20
    for row in result.group_lrs:
        assert row[0] / row[2] == pytest.approx(1 / 9) and row[1] / row[2] == pytest.approx(1 / 3)
    assert result.lrs == [row[-1] for row in result.group_lrs] and "last layer group" in result.x_axis
    assert result.lrs[0] == pytest.approx(1e-6) and result.lrs[-1] == pytest.approx(1e-1)
    assert np.allclose(np.diff(np.log(result.lrs)), math.log(1e5) / 19)
    assert result.suggestion is not None  # a fresh head's loss falls over this range
    assert result.suggested_lrs() == pytest.approx([result.suggestion / 9, result.suggestion / 3, result.suggestion])
    assert dataclasses.replace(result, suggestion=None).suggested_lrs() is None


def test_smoothing_is_a_debiased_moving_average_and_divergence_stops_the_sweep():
    learn = small_learner()
    result = learn.lr_find(start_lr=1e-3, end_lr=1e4, num_iter=60)
    avg = 0.0
    for i, (loss, smooth) in enumerate(zip(result.losses, result.smoothed)):
        avg = 0.98 * avg + 0.02 * loss
        assert smooth == pytest.approx(avg / (1 - 0.98 ** (i + 1)))
    assert len(result.lrs) < 60 and ("above 4x" in result.stop_reason or "not finite" in result.stop_reason)
    assert not math.isfinite(result.smoothed[-1]) or result.smoothed[-1] > 4 * min(result.smoothed)


def test_a_real_sweep_suggests_an_lr_that_trains_better_than_a_tiny_one():
    learn = small_learner(n=240)
    learn.precompute = True
    result = learn.lr_find(num_iter=100)
    assert result.suggestion is not None and result.method == "valley"
    low = int(np.argmin(result.smoothed[10:len(result.smoothed) - 5])) + 10
    assert 10 <= result.suggestion_index <= low  # skips the start, never past the minimum
    losses = {}
    for lr in (result.suggestion, 1e-6):
        learn2 = small_learner(n=240)
        learn2.precompute = True
        learn2.fit(lr, n_cycle=3)
        losses[lr] = learn2.recorder.epochs[-1]["valid_loss"]
    assert losses[result.suggestion] < 0.8 * losses[1e-6]


def _synthetic(noise: float, seed: int = 0):
    """Flat at 2.3 until lr=1e-4, straight down to 0.5 at lr=1e-1, then steeply up: the valley's middle
    (in log-LR) is 10**-2.5."""
    lrs = np.logspace(-7, 1, 161)
    x = np.log10(lrs)
    loss = np.where(x < -4, 2.3, np.where(x < -1, 2.3 - 0.6 * (x + 4), 0.5 + 3 * (x + 1)))
    return lrs, loss + np.random.default_rng(seed).normal(0, noise, len(lrs))


@pytest.mark.parametrize("noise", [0.0, 0.02, 0.1])
def test_valley_finds_the_middle_of_a_known_descent(noise):
    lrs, losses = _synthetic(noise)
    i = suggest(lrs, losses, "valley")
    assert abs(math.log10(lrs[i]) + 2.5) < 0.35
    assert lrs[i] < 1e-1  # never past the minimum


def test_steepest_and_never_past_the_minimum():
    lrs = np.logspace(-6, 0, 61)
    x = np.log10(lrs)
    losses = 2 - np.tanh(3 * (x + 3)) + np.where(x > -1, 10 * (x + 1), 0)  # steepest at 1e-3, min near 1e-1
    assert math.log10(lrs[suggest(lrs, losses, "steepest")]) == pytest.approx(-3, abs=0.11)
    rising = np.linspace(1, 3, 40)  # only goes up: the minimum is the first point after skip_start
    assert suggest(np.logspace(-5, 0, 40), rising, "valley") is None


@pytest.mark.parametrize("kwargs, match", [
    ({"start_lr": 1.0, "end_lr": 1.0}, "start_lr"),
    ({"start_lr": 1e-2, "end_lr": 1e-3}, "start_lr"),
    ({"num_iter": 9}, "num_iter"),
    ({"start_lr": [1e-7, 1e-6]}, "3 LRs"),
    ({"end_lr": float("nan")}, "end_lr"),
    ({"beta": 1.0}, "beta"),
    ({"method": "middle"}, "method"),
])
def test_bad_arguments_name_themselves_and_change_nothing(trained, kwargs, match):
    before = _everything(trained)
    with pytest.raises(ValueError, match=match):
        trained.lr_find(**kwargs)
    _assert_same(before, _everything(trained))


def test_a_non_finite_first_loss_is_an_error_and_changes_nothing(trained):
    before = _everything(trained)
    loss_fn = trained.loss_fn
    trained.loss_fn = lambda pred, target: loss_fn(pred, target) * float("nan")
    with pytest.raises(ValueError, match="very first step"):
        trained.lr_find(num_iter=10)
    trained.loss_fn = loss_fn
    _assert_same(before, _everything(trained))


def test_the_copy_of_the_state_stays_on_the_cpu(trained):
    from nbtrainer.train import learner_state

    snap = learner_state.take(trained)
    tensors = list(snap["model"].values()) + list(snap["grads"].values())
    tensors += [v for s in snap["optimizer"]["state"].values() for v in s.values() if torch.is_tensor(v)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert all(t.data_ptr() != p.data_ptr() for t, p in zip(snap["model"].values(), trained.model.state_dict().values()))



def test_a_curve_without_descent_gets_one_decade_below_the_rise():
    lrs = np.logspace(-7, 1, 81)  # 10 points a decade
    x = np.log10(lrs)
    losses = 0.8 + 0.01 * np.sin(7 * x) + np.where(x > -2, (x + 2) ** 2, 0)  # flat, then up from 1e-2
    i = suggest(lrs, losses, "valley")
    rise = np.nonzero(losses > 1.1 * losses[10:76].min())[0][0]
    assert lrs[i] == pytest.approx(lrs[rise] / 10, rel=0.01)


def test_the_unfrozen_lr_is_the_sweeps_suggestion_within_a_decade_below_the_heads():
    assert unfrozen_lr(7.6e-3, head_lr=0.012) == 7.6e-3  # within the bound: the sweep decides
    assert unfrozen_lr(9.6e-5, head_lr=0.012) == pytest.approx(0.003)  # half the head's LR / 2
    assert unfrozen_lr(0.05, head_lr=0.012) == 0.012
    assert unfrozen_lr(None, head_lr=0.012) == 0.012
    assert unfrozen_lr(1e-4, head_lr=0.012, span=1000) == 1e-4
    assert unfrozen_lr(1e-4, head_lr=0.012, span=10) == pytest.approx(0.0012)
    assert suggestion_text(9.6e-5, unfrozen_lr(9.6e-5, 0.012)) == "suggests 9.6e-05; uses 0.003"  # the row says both
    assert suggestion_text(7.6e-3, 7.6e-3) == "suggests 0.0076"
    for bad in ({"head_lr": 0.0}, {"head_lr": 1e-3, "span": 0.5}):
        with pytest.raises(ValueError, match="head_lr="):
            unfrozen_lr(1e-3, **bad)



def _feed(losses: list[float], classes: int):
    """An LRFinder fed ``losses`` batch by batch as the loop feeds it (its record step), unsmoothed."""
    from types import SimpleNamespace

    from nbtrainer.train.lr_find import LRFinder

    finder = LRFinder([1e-5], end_lr=1e-1, num_iter=30, beta=0.0)
    state = SimpleNamespace(iteration=0, loss_value=0.0, batch_lrs=[1e-5], smooth_loss=None)
    finder.learner = SimpleNamespace(state=state, data=SimpleNamespace(c=classes))
    for i, loss in enumerate(losses):
        if finder.done:
            break
        state.iteration, state.loss_value = i, loss
        finder.record()
    return finder


def test_a_noisy_near_zero_loss_is_no_divergence_but_a_real_rise_is():
    # the unfrozen sweep on three classes the model already knew (a class's cat / coffee / rocket pictures)
    calm = _feed([0.013, 0.008, 0.033, 0.02, 0.01, 0.05, 0.03] + [0.02] * 23, classes=3)
    assert len(calm.losses) == 30 and calm.reason.startswith("reached end_lr")  # 4x a near-zero low is noise
    blown = _feed([0.013, 0.008, 0.02, 0.2, 1.5, 3.0] + [5.0] * 24, classes=3)
    assert len(blown.losses) == 4 and "above 4x" in blown.reason  # 0.2: 25x the low and 0.19 over it
    many = _feed([0.5, 0.4, 1.0, 1.7, 2.0], classes=1000)  # ln(1000) = 6.9: the floor 0.69
    assert len(many.losses) == 4 and many.lrs == [1e-5] * 4
