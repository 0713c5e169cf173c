"""Cancel semantics as fastai's: a cancel exception raised from an event inside a part of the loop skips
exactly the rest of that part; ``after_cancel_<part>`` then ``after_<part>`` run."""
from __future__ import annotations

import math

import pytest
import torch

import nbtrainer as nbt

from .conftest import small_learner


class Raiser(nbt.Callback):
    """Records every event; raises ``exc`` at the first ``times`` announcements of ``event``. The batch events
    of inference passes (``learner.training`` False) are named ``inference:before_batch`` and so on."""

    def __init__(self, event: str, exc: type[Exception], times: int = 1):
        self.event, self.exc, self.left, self.seen = event, exc, times, []

    def __call__(self, event: str) -> None:
        if event.endswith("_batch") and not self.learner.training:
            event = f"inference:{event}"
        self.seen.append(event)
        if event == self.event and self.left:
            self.left -= 1
            raise self.exc()


def _fit(event: str, exc: type[Exception], times: int = 1, epochs: int = 2):
    learn = small_learner(n=60)
    learn.precompute = True  # the head on cached activations: fast, same loop
    before = [p.detach().clone() for p in learn.model.head.parameters()]
    cb = Raiser(event, exc, times)
    learn.fit(1e-2, n_cycle=epochs, callbacks=[cb])
    changed = any(not torch.equal(a, b) for a, b in zip(before, learn.model.head.parameters()))
    return learn, cb.seen, changed


def _count(seen: list[str], event: str) -> int:
    return seen.count(event)


@pytest.mark.parametrize("event", ["after_loss"])
def test_cancel_batch_skips_the_step_of_that_batch_only(event):
    learn, seen, changed = _fit(event, nbt.CancelBatchException, times=10**6)
    assert not changed  # every batch cancelled before its backward/step: the head did not move
    assert _count(seen, "after_cancel_batch") == _count(seen, "before_batch") == _count(seen, "after_batch") > 2
    assert _count(seen, "after_epoch") == 2 and len(learn.recorder.epochs) == 2  # the epochs still ran
    _, seen, changed = _fit(event, nbt.CancelBatchException, times=1)
    assert changed and _count(seen, "after_cancel_batch") == 1


def test_cancel_train_from_the_first_batch_skips_the_batches_and_keeps_the_validation():
    learn, seen, changed = _fit("before_batch", nbt.CancelTrainException, times=2)
    assert not changed and _count(seen, "before_batch") == 2 and "after_batch" not in seen
    assert _count(seen, "after_cancel_train") == _count(seen, "after_train") == 2
    assert _count(seen, "after_validate") == 2
    assert all(math.isnan(e["train_loss"]) and e["accuracy"] > 0 for e in learn.recorder.epochs)


def test_cancel_valid_skips_the_validation_and_leaves_its_metrics_unknown():
    learn, seen, changed = _fit("inference:after_batch", nbt.CancelValidException, times=1)
    assert changed and _count(seen, "after_cancel_validate") == 1 and _count(seen, "after_validate") == 2
    first, second = learn.recorder.epochs
    assert math.isnan(first["valid_loss"]) and math.isnan(first["accuracy"])  # not the previous epoch's
    assert math.isfinite(second["valid_loss"]) and second["accuracy"] > 0


def test_cancel_epoch_from_before_train_skips_that_epoch_only():
    learn, seen, changed = _fit("before_train", nbt.CancelEpochException, times=1)
    assert _count(seen, "after_cancel_epoch") == 1 and _count(seen, "after_epoch") == 2
    assert _count(seen, "before_train") == 2 and _count(seen, "before_validate") == 1 and changed


@pytest.mark.parametrize("event", ["before_epoch", "before_batch", "after_batch"])
def test_cancel_fit_from_any_event_ends_the_fit_cleanly(event):
    learn, seen, _ = _fit(event, nbt.CancelFitException)
    assert seen[-2:] == ["after_cancel_fit", "after_fit"] and learn.state.cancelled
    assert _count(seen, "after_epoch") == 0
    learn.fit(1e-2)  # the learner can fit again
    assert math.isfinite(learn.recorder.epochs[-1]["valid_loss"])


def test_cancel_batch_from_before_batch_skips_that_batch_only():
    learn, seen, changed = _fit("before_batch", nbt.CancelBatchException, times=10**6)
    assert not changed  # no batch got to its forward pass
    assert "after_loss" not in seen and _count(seen, "after_cancel_batch") == _count(seen, "before_batch") > 2
    assert _count(seen, "after_batch") == _count(seen, "before_batch") and _count(seen, "after_epoch") == 2


def test_cancel_train_from_before_train_skips_the_batches_of_that_epoch():
    learn, seen, changed = _fit("before_train", nbt.CancelTrainException, times=1)
    first_epoch = seen[:seen.index("after_epoch")]
    assert "before_batch" not in first_epoch and "after_cancel_train" in first_epoch
    assert "after_validate" in first_epoch and changed  # the second epoch trained
    assert math.isnan(learn.recorder.epochs[0]["train_loss"]) and learn.recorder.epochs[0]["accuracy"] > 0


def test_cancel_valid_from_before_validate_skips_the_pass():
    learn, seen, _ = _fit("before_validate", nbt.CancelValidException, times=1)
    first_epoch = seen[:seen.index("after_epoch")]
    assert "inference:before_batch" not in first_epoch and "after_cancel_validate" in first_epoch
    assert math.isnan(learn.recorder.epochs[0]["accuracy"]) and learn.recorder.epochs[1]["accuracy"] > 0


def test_cancel_epoch_from_before_epoch_skips_all_of_that_epoch():
    learn, seen, _ = _fit("before_epoch", nbt.CancelEpochException, times=1)
    first_epoch = seen[:seen.index("after_epoch")]
    assert first_epoch[-2:] == ["before_epoch", "after_cancel_epoch"] and "before_train" not in first_epoch
    assert _count(seen, "after_epoch") == 2 and _count(seen, "before_train") == 1


def test_cancel_fit_from_before_fit_runs_nothing_and_keeps_the_weights():
    learn, seen, changed = _fit("before_fit", nbt.CancelFitException)
    assert seen[-3:] == ["before_fit", "after_cancel_fit", "after_fit"] and learn.state.cancelled
    assert not changed and "before_epoch" not in seen


def test_an_inference_pass_outside_a_fit_is_announced_as_a_validation():
    learn = small_learner(n=60)
    names = []

    class Names(nbt.Callback):
        def before_validate(self):
            names.append(self.learner.inference.name)

    learn.add_callback(cb := Raiser("none", nbt.CancelValidException))
    learn.add_callback(Names())
    learn.tta(2)
    n = learn.valid_batches()
    assert names == ["tta"]  # TTA's predictions are one pass, not three
    assert cb.seen == ["before_validate", *["inference:before_batch", "inference:after_batch"] * (3 * n),
                       "after_validate"]
    assert learn.recorder.iterations == []  # the recorder counts training batches only


@pytest.mark.parametrize("event, exc", [("inference:before_batch", nbt.CancelValidException),
                                        ("inference:after_batch", nbt.CancelFitException),
                                        ("before_validate", nbt.CancelValidException)])
def test_a_cancelled_inference_pass_ends_its_events_and_raises_to_the_caller(event, exc):
    learn = small_learner(n=60)
    learn.add_callback(cb := Raiser(event, exc))
    with pytest.raises(exc):
        learn.get_preds()
    assert cb.seen[-2:] == ["after_cancel_validate", "after_validate"] and learn.inference is None
    assert not learn.state.cancelled  # no fit was cancelled
    probs, targets = learn.get_preds()  # and the next pass runs whole
    assert len(probs) == len(targets) == len(learn.data.valid)


def test_a_cancelled_inference_batch_is_skipped_with_its_events_and_precompute_refuses_a_partial_cache():
    """Issue 27: inference batches ran their events outside _with_events, so a CancelBatchException there
    escaped as an error and after_cancel_batch never fired."""
    learn = small_learner(n=200)
    n, bs = learn.valid_batches(), 2 * learn.data.bs
    assert n > 1
    learn.add_callback(cb := Raiser("inference:before_batch", nbt.CancelBatchException))
    probs, targets = learn.get_preds()  # the first batch skipped, the others predicted
    assert cb.seen == ["before_validate", "inference:before_batch", "inference:after_cancel_batch",
                       "inference:after_batch", *["inference:before_batch", "inference:after_batch"] * (n - 1),
                       "after_validate"]
    assert len(probs) == len(targets) == len(learn.data.valid) - bs
    assert torch.equal(targets, learn.data.valid.targets()[bs:])
    learn.remove_callback(cb)
    learn.add_callback(Raiser("inference:before_batch", nbt.CancelBatchException))
    with pytest.raises(RuntimeError, match="skipped 1 batch of precompute"):
        learn.precompute = True
    assert not learn.precompute


def test_the_loop_is_bare_and_the_schedule_guard_and_loss_are_one_each():
    """Issue 27: the schedule and the divergence guard are callbacks a fit adds; the loop alone trains at
    constant LRs and knows no NaN check; one loss, from logits or from probabilities."""
    from nbtrainer.train.metrics import cross_entropy, nll

    learn = small_learner(n=100)
    learn.precompute = True
    learn.add_callback(cb := Raiser("none", nbt.CancelFitException))
    learn.run_fit(1e-2, 2)
    lrs = [r["lrs"][-1] for r in learn.recorder.iterations]
    assert len(lrs) > 4 and lrs == [1e-2] * len(lrs)
    order = [e for e in cb.seen if e in ("before_batch", "after_loss", "after_step", "after_batch")]
    assert order[:4] == ["before_batch", "after_loss", "after_step", "after_batch"]
    start = len(learn.recorder.iterations)
    learn.fit(1e-2)  # SGDR: the cosine from 1e-2 down
    fitted = [r["lrs"][-1] for r in learn.recorder.iterations[start:]]
    assert fitted[0] == 1e-2 and all(b < a for a, b in zip(fitted, fitted[1:]))
    loss_fn = learn.loss_fn
    learn.loss_fn = lambda pred, target: loss_fn(pred, target) * float("nan")
    learn.run_fit(1e-2, 1)  # no guard in the bare loop: it trains on
    assert math.isnan(learn.recorder.iterations[-1]["loss"])
    with pytest.raises(nbt.DivergenceError):
        learn.fit(1e-2)
    logits, y = torch.randn(8, 10), torch.randint(0, 10, (8,))
    assert cross_entropy(logits, y).item() == pytest.approx(nll(logits.softmax(1), y), rel=1e-5)
    assert cross_entropy(logits, y).item() == pytest.approx(torch.nn.functional.cross_entropy(logits, y).item())


def test_a_cancelled_start_validation_of_a_keep_best_fit_skips_only_that_validation():
    """Review of issue 27: the start of a keep-best fit was validated with no cancel, so a user's
    CancelValidException there ended the fit with an error."""
    learn = small_learner(n=60)
    learn.precompute = True
    cb = Raiser("before_validate", nbt.CancelValidException)
    result = learn.fit(1e-2, n_cycle=2, keep_best=True, callbacks=[cb])
    assert cb.seen.count("after_cancel_validate") == 1 and cb.seen.count("after_validate") == 3
    assert math.isnan(result.start.accuracy) and result.kept is not None and result.kept.cycle >= 1
