"""Cycle ends: keep the best weights, stop at over-fitting, snapshot ensembles, the warm-up, sizes from
the data, and what the recipe, the CLI table and the widget say about them."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import nbtrainer as nbt
from nbtrainer.train.cycles import CycleEnd
from nbtrainer.train.metrics import accuracy
from nbtrainer.recipe.summary import detail, format_table, summary_rows
from nbtrainer.train.schedule import preview_lrs
from nbtrainer.data.sizes import plan_sizes
from nbtrainer.recipe.settings import BUDGET_CYCLES

from .conftest import FAST_RECIPE, small_learner


class Scripted(nbt.Callback):
    """Replaces the validation numbers (valid_loss, accuracy) of a fit's start (with keep_best) and of each
    epoch by scripted ones, so a test decides which is best; records the weights at every epoch end."""

    order = 5  # before the cycle-end callback (10) reads the state

    def __init__(self, script):
        self.script, self.weights = list(script), []

    def after_validate(self):
        if self.learner.inference.name == "validate":  # a fit's validation, not a prediction pass
            self.learner.state.valid_loss, self.learner.state.accuracy = self.script.pop(0)

    def after_epoch(self):
        self.weights.append({k: v.clone() for k, v in self.learner.model.state_dict().items()})


def same_weights(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_keep_best_puts_back_the_best_cycle_end_exactly():
    learn = small_learner(n=100)
    learn.precompute = True
    # cycles of 1, 2 and 4 epochs end at epochs 1, 3 and 7; cycle 2 (epoch 3) is the best
    script = Scripted([(2.0, 0.1), (1.0, 0.5), (0.9, 0.6), (0.8, 0.7), (0.7, 0.9), (0.6, 0.6), (0.5, 0.6),
                       (0.9, 0.6)])  # the start, then 7 epochs
    result = learn.fit(1e-2, n_cycle=3, cycle_mult=2, keep_best=True, callbacks=[script])
    assert [p.epoch for p in result.cycle_ends] == [1, 3, 7]
    assert result.kept.cycle == 2 and result.kept_text() == "cycle 2 of 3"
    assert same_weights(learn.model.state_dict(), script.weights[2])
    assert not same_weights(learn.model.state_dict(), script.weights[-1])
    assert (learn.state.valid_loss, learn.state.accuracy) == (0.8, 0.7)
    assert [e.get("cycle_end") for e in learn.recorder.epochs] == [1, None, 2, None, None, None, 3]
    assert [bool(e.get("kept")) for e in learn.recorder.epochs] == [False, False, True] + [False] * 4


def test_keep_best_keeps_the_start_when_no_cycle_end_beats_it():
    learn = small_learner(n=100)
    learn.precompute = True
    learn.fit(1e-2)
    start = {k: v.clone() for k, v in learn.model.state_dict().items()}
    start_loss, start_acc = learn.validate()
    result = learn.fit(1e-2, n_cycle=2, keep_best=True, callbacks=[Scripted([(1.0, 0.5), (9.0, 0.0), (9.0, 0.0)])])
    assert result.kept.cycle == 0 and result.kept_text() == "the start: this fit did not improve on it"
    assert same_weights(learn.model.state_dict(), start)
    assert learn.validate() == pytest.approx((start_loss, start_acc))


def test_until_over_fitting_stops_after_patience_worse_cycle_ends():
    learn = small_learner(n=100)
    learn.precompute = True
    # the loss falls at cycle ends 1 and 2, rises at 3: patience 1 stops there, 1 + 2 + 4 epochs of 31
    script = Scripted([(2.0, 0.1), (1.0, 0.5), (0.9, 0.6), (0.8, 0.7), (0.7, 0.9), (0.6, 0.6), (0.5, 0.6),
                       (0.85, 0.6)])
    result = learn.fit(1e-2, n_cycle=5, cycle_mult=2, keep_best=True, patience=1, callbacks=[script])
    assert len(learn.recorder.epochs) == 7 and result.stop_reason == "over-fitting"
    assert result.kept_text() == "cycle 2 of 3 (stopped after cycle 3 of 5: over-fitting)"
    assert not learn.state.cancelled

    learn = small_learner(n=100)
    learn.precompute = True
    # patience 2: one worse cycle end is not enough; two in a row stop the fit
    script = Scripted([(1.0, 0.5), (1.1, 0.5), (0.9, 0.5), (0.95, 0.5), (0.95, 0.5), (0.95, 0.5)])
    result = learn.fit(1e-2, n_cycle=6, patience=2, callbacks=[script])
    assert [p.cycle for p in result.cycle_ends] == [1, 2, 3, 4, 5] and result.stop_reason == "over-fitting"
    assert result.kept is None and result.kept_text().startswith("the last epoch")


def test_stopping_on_accuracy_waits_for_a_new_high_accuracy_not_a_new_low_loss():
    learn = small_learner(n=100)
    learn.precompute = True
    # the loss keeps falling while the accuracy stalls after cycle end 2: no new high at 3 stops the fit
    result = learn.fit(1e-2, n_cycle=4, patience=1, stop_on="accuracy",
                       callbacks=[Scripted([(1.0, 0.5), (0.9, 0.6), (0.8, 0.6), (0.7, 0.6)])])
    assert [p.cycle for p in result.cycle_ends] == [1, 2, 3] and result.stop_reason == "over-fitting"
    result = learn.fit(1e-2, n_cycle=4, patience=1, callbacks=[Scripted([(1.0, 0.5), (0.9, 0.6), (0.8, 0.6), (0.7, 0.6)])])
    assert len(result.cycle_ends) == 4 and result.stop_reason == ""  # on the loss: a new low every time
    with pytest.raises(ValueError, match="stop_on='lost': expected one of"):
        learn.fit(1e-2, stop_on="lost")


def test_the_last_planned_cycle_is_no_early_stop_and_bad_patience_is_refused():
    learn = small_learner(n=100)
    learn.precompute = True
    result = learn.fit(1e-2, n_cycle=2, patience=1, callbacks=[Scripted([(1.0, 0.5), (2.0, 0.4)])])
    assert result.stop_reason == "" and len(result.cycle_ends) == 2
    with pytest.raises(ValueError, match="patience=0"):
        learn.fit(1e-2, patience=0)


class Clock(nbt.Callback):
    """A fake clock for the time budget (``time.monotonic`` of the fit and its cycle ends): each epoch takes
    ``seconds`` of it, whatever the machine's speed."""

    def __init__(self, monkeypatch, seconds: float):
        self.now, self.seconds = 0.0, seconds
        fake = SimpleNamespace(monotonic=lambda: self.now)
        monkeypatch.setattr("nbtrainer.train.cycles.time", fake)
        monkeypatch.setattr("nbtrainer.train.learner.time", fake)

    def after_epoch(self):
        self.now += self.seconds


def test_a_time_budget_starts_no_cycle_that_would_end_past_it(monkeypatch):
    learn = small_learner(n=100)
    learn.precompute = True
    clock = Clock(monkeypatch, 1.0)
    # epochs of 1 s, cycles of 1, 2, 4 epochs: after cycle 2 (3 s) the next 4 epochs would end at 7 s > 5 s
    result = learn.fit(1e-2, n_cycle=3, cycle_mult=2, keep_best=True, callbacks=[clock], budget=5.0)
    assert len(result.cycle_ends) == 2 and len(learn.recorder.epochs) == 3 and result.stop_reason == "time budget"
    assert result.kept_text().endswith("(stopped after cycle 2 of 3: the next would end past the time budget)")
    result = learn.fit(1e-2, n_cycle=3, cycle_mult=2, callbacks=[clock], budget=7.0)  # room for every cycle
    assert len(result.cycle_ends) == 3 and result.stop_reason == ""
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match=r"budget=.*expected None or the seconds this fit may take"):
            learn.fit(1e-2, budget=bad)


def test_the_recipe_with_a_budget_trains_on_while_it_improves_within_it():
    learn = small_learner(n=100)
    checklist = nbt.Checklist.recipe(learn, **FAST_RECIPE, budget=1e-4)  # minutes: no time for a second cycle
    unfrozen = checklist.steps[7]
    assert unfrozen.params["n_cycle"] == BUDGET_CYCLES and unfrozen.params["budget"] is True
    assert f"up to {BUDGET_CYCLES} cycles, and no cycle that would end past the budget of 0.0001 min" in checklist.plan
    checklist.run()
    assert unfrozen.result["stop_reason"] == "time budget" and unfrozen.result["epochs"] == 1
    assert "learn.fit(" in checklist.to_script() and "n_cycle=1, cycle_len=1, cycle_mult=2" in checklist.to_script()
    assert "budget" not in nbt.Checklist.recipe(small_learner(n=100), **FAST_RECIPE).steps[7].params
    with pytest.raises(ValueError, match="budget=0"):
        nbt.Checklist.recipe(learn, budget=0)


def test_a_user_stop_keeps_the_best_validated_weights():
    learn = small_learner(n=100)
    learn.precompute = True

    class StopInSecondCycle(nbt.Callback):
        def before_epoch(self):
            if self.learner.state.epoch == 2:
                raise nbt.CancelFitException()

    script = Scripted([(1.0, 0.5), (0.5, 0.9), (0.6, 0.8)])
    result = learn.fit(1e-2, n_cycle=2, cycle_mult=2, keep_best=True, callbacks=[script, StopInSecondCycle()])
    assert learn.state.cancelled and result.stop_reason == "stopped"
    assert result.kept.cycle == 1 and same_weights(learn.model.state_dict(), script.weights[0])


def test_a_snapshot_ensemble_is_the_mean_of_the_snapshots_probabilities():
    learn = small_learner(n=100)
    learn.precompute = True
    learn.fit(1e-2, n_cycle=3, snapshots=True)
    assert len(learn.snapshots) == 3
    own = {k: v.clone() for k, v in learn.model.state_dict().items()}
    each = []
    for state in learn.snapshots[1:]:
        learn.model.load_state_dict(state)
        each.append(learn.get_preds()[0])
    learn.model.load_state_dict(own)
    probs, targets = learn.get_preds(snapshots=2)
    assert torch.allclose(probs, (each[0] + each[1]) / 2, atol=1e-6)
    assert torch.equal(targets, learn.data.valid.targets())
    assert same_weights(learn.model.state_dict(), own)  # the learner's own weights are back
    assert torch.allclose(learn.get_preds(snapshots=1)[0], each[1], atol=1e-6)
    label, one = learn.predict(np.zeros((8, 8), np.uint8), snapshots=3)
    assert one.shape == (10,) and label == learn.data.classes[int(one.argmax())]
    tta, _ = learn.tta(1, snapshots=2)
    assert tta.shape == probs.shape and torch.allclose(tta.sum(1), torch.ones(len(tta)), atol=1e-5)
    with pytest.raises(ValueError, match="snapshots=4: this learner keeps 3"):
        learn.get_preds(snapshots=4)


def test_a_fit_keeps_the_last_k_cycle_ends_and_a_later_fit_lr_find_or_load_never_mixes_in_old_weights(tmp_path):
    learn = small_learner(n=100)
    learn.precompute = True
    learn.fit(1e-2, n_cycle=3, snapshots=2)
    assert len(learn.snapshots) == 2
    assert same_weights(learn.snapshots[-1], learn.model.state_dict())  # keep_best off: the last cycle end
    kept = learn.snapshots
    learn.lr_find(num_iter=10)  # its own fit keeps none; the sweep puts the learner back whole
    assert learn.snapshots == kept and all(a is b for a, b in zip(learn.snapshots, kept))
    learn.save(tmp_path / "m.pt")
    learn.load(tmp_path / "m.pt")  # a checkpoint holds no ensemble: the old cycle ends were another model's
    assert learn.snapshots == []
    learn.fit(1e-2, n_cycle=2, snapshots=True)
    learn.fit(1e-2)  # a later fit moved the weights on: the ensemble of the one before is dropped
    assert learn.snapshots == []
    with pytest.raises(ValueError, match="snapshots=-1"):
        learn.fit(1e-2, snapshots=-1)


def test_the_warmup_holds_the_first_iterations_at_a_hundredth_then_starts_the_cosine():
    plain, warm = preview_lrs([1.0], 20, 2, 1, 2)[0], preview_lrs([1.0], 20, 2, 1, 2, warmup=0.1)[0]
    assert len(plain) == len(warm) == 60
    assert warm[:2] == pytest.approx([0.01, 0.01]) and warm[2] == pytest.approx(1.0)
    assert warm[3:20] == pytest.approx(plain[1:18])  # the cosine, two iterations late
    assert plain.index(1.0, 1) == 20 and warm.index(1.0, 3) == 22  # the restart, two iterations late too
    learn = small_learner(n=100)
    learn.precompute = True
    learn.fit(0.02, warmup=0.3)  # 5 batches an epoch: ceil(1.5) = 2 of them at lr/100
    first = learn.recorder.iterations[:3]
    assert [r["lrs"][-1] for r in first] == pytest.approx([2e-4, 2e-4, 0.02])
    with pytest.raises(ValueError, match="warmup=1.5"):
        learn.fit(0.02, warmup=1.5)


def test_every_recipe_step_keeps_at_least_the_accuracy_it_started_from():
    learn = small_learner(n=160, size=32)
    checklist = nbt.Checklist.recipe(learn, **{**FAST_RECIPE, "unfrozen_cycles": 2}, final_size=64, snapshots=2)
    checklist.run()
    fits = [s for s in checklist.steps if s.action == "fit"]
    accs = [s.result["accuracy"] for s in fits]
    assert all(b >= a for a, b in zip(accs, accs[1:])), accs
    for step in fits:
        assert step.result["kept"] and step.result["cycle_ends"]
        assert (step.result["kept"].startswith(("cycle", "the start")))
    tta = checklist.steps[-1]
    scores = tta.result["scores"]
    assert tta.result["snapshots"] == 2 and set(scores) == {"plain", "TTA (1 passes)", "snapshot ensemble of 2",
                                                            "snapshot ensemble of 2 with TTA"}
    assert tta.result["accuracy"] == max(scores.values()) >= scores["plain"]  # kept only if it helps
    assert tta.result["chosen"] in detail(tta.result) or "plain predictions" in detail(tta.result)
    assert tta.result["plain_accuracy"] == pytest.approx(accs[-1])  # the kept weights are the learner's
    table = format_table(summary_rows(checklist))
    assert "kept cycle" in table or "kept the start" in table


def test_a_resize_that_does_not_help_goes_back_to_the_old_size_and_weights():
    learn = small_learner(n=100, size=32)
    learn.precompute = True
    learn.fit(1e-2)
    start = {k: v.clone() for k, v in learn.model.state_dict().items()}
    step = nbt.Step("Resize", "fit", {"size": 64, "keep_best": True, "n_cycle": 1})
    checklist = nbt.Checklist(learn, [step])
    start_acc = learn.validate()[1]
    learn.add_callback(Scripted([(9.0, 0.0), (9.0, 0.0)]))  # the fit's start and epoch at 64 px: worse
    checklist.run()
    assert step.result["kept"] == "the start at 32px: training at 64px did not improve on it"
    assert learn.data.size == 32 and same_weights(learn.model.state_dict(), start)
    assert step.result["accuracy"] == pytest.approx(start_acc)


def _folder(root, sides):
    for i, (w, h) in enumerate(sides):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), (i * 7 % 255, 90, 30)).save(folder / f"{i}.png")
    return root


@pytest.mark.parametrize("sides, size, final", [
    ([(28, 28)] * 12, 64, None),                       # small: never below 64 px
    ([(96, 96)] * 12, 96, None),                       # their own size
    ([(150, 200), (160, 140), (400, 155)] * 4, 160, None),  # mixed: the median shorter side, rounded to 32
    ([(500, 375), (640, 480), (300, 300)] * 4, 128, 224),   # large: the course's progressive resizing
])
def test_sizes_from_the_images(tmp_path, sides, size, final):
    data = nbt.ImageData.from_folder(_folder(tmp_path, sides), size=64, valid_pct=0.25)
    plan = plan_sizes(data)
    assert (plan.size, plan.final_size) == (size, final)
    assert f"{plan.native} px" in plan.why
    checklist = nbt.Checklist.recipe(nbt.Learner(data), size="auto", **FAST_RECIPE)
    assert checklist.sizes == [size] + ([final] if final else [])
    assert f"{size} px" in checklist.plan and "over-fitting" in checklist.plan


def test_the_demo_digits_get_64px():
    assert plan_sizes(nbt.ImageData.demo(n=60)).size == 64


def test_cycle_end_order_prefers_accuracy_then_loss():
    a, b = CycleEnd(1, 1, 0.5, 0.9), CycleEnd(2, 3, 0.4, 0.9)
    assert b.better_than(a) and not a.better_than(b)
    assert CycleEnd(3, 7, 0.9, 0.95).better_than(b) and not CycleEnd(4, 15, math.nan, math.nan).better_than(None)
    assert accuracy(torch.eye(3), torch.arange(3)) == 1.0


def test_a_refused_resize_puts_back_the_ensemble_of_the_fit_it_kept():
    """Review of issue 27: the resize step put back the old size and weights but kept the refused fit's
    cycle ends (trained at the new size) for the TTA step's ensemble."""
    learn = small_learner(n=100)
    learn.unfreeze()
    learn.fit(1e-3, n_cycle=2, snapshots=2)
    before = [{k: v.clone() for k, v in s.items()} for s in learn.snapshots]
    checklist = nbt.Checklist(learn, [nbt.Step("resize", "fit", {"size": 64, "keep_best": True, "n_cycle": 2,
                                                                 "snapshots": 2})])
    real, calls = learn.validate, []

    def old_size_looks_perfect():  # the first validation is the start's, at the old size
        calls.append(1)
        return (0.0, 1.0) if len(calls) == 1 else real()

    learn.validate = old_size_looks_perfect
    checklist.run_step(0)
    assert checklist.steps[0].result["kept"].startswith("the start at 32px") and learn.data.size == 32
    assert len(learn.snapshots) == 2
    assert all(torch.equal(a[k], b[k]) for a, b in zip(learn.snapshots, before) for k in a)


def test_a_small_folder_gets_a_batch_size_that_makes_epochs_of_several_batches():
    from nbtrainer.data.sizes import MIN_BATCHES, plan_batch_size

    assert plan_batch_size(1000, 64) == (64, "")  # enough batches: as it was
    bs, why = plan_batch_size(36, 64)
    assert bs == 9 and 36 // bs >= MIN_BATCHES and "36 training images: batch size 9" in why
    assert plan_batch_size(36, 64, multiple=2)[0] == 8  # a multiple of the processes of a distributed run
    assert plan_batch_size(5, 64)[0] == 2  # at least 2 (BatchNorm)
    assert plan_batch_size(70, 64, multiple=16)[0] == 32  # at least 2 a process
    assert plan_batch_size(36, 8) == (8, "")  # 4 batches already
    data = nbt.ImageData.demo(n=60, bs=64)
    checklist = nbt.Checklist.recipe(nbt.Learner(data), bs="auto", **FAST_RECIPE)
    assert data.bs == len(data.train) // MIN_BATCHES and "batch size" in checklist.plan
    with pytest.raises(ValueError, match="bs=0"):
        nbt.Checklist.recipe(nbt.Learner(data), bs=0)
    larger = nbt.ImageData.demo(n=600, bs=data.bs)  # built like the small one (the app does so): its batch size
    assert checklist.with_data(larger).learn.data.bs == 64  # is planned again, not kept from the small folder
