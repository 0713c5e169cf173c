"""Headless pieces under the widget: the throttle, the live feed, Stop at a batch boundary, the checklist's
editable parameters, per-boundary ratios, preview, step checkpoints and script export."""
from __future__ import annotations

import pytest

import nbtrainer as nbt
from nbtrainer.train.callbacks import Stopper
from nbtrainer.recipe.checklist import differential_lrs
from nbtrainer.train.live import LiveFeed, Throttle
from nbtrainer.widget.history import history_update
from nbtrainer.present.smoothing import smooth

from .conftest import small_learner


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_throttle_allows_one_update_per_interval():
    clock = FakeClock()
    throttle = Throttle(rate=4, clock=clock)
    ready = []
    for step in range(40):  # 4 seconds in steps of 0.1 s
        clock.now = step * 0.1
        ready.append(throttle.ready())
    assert sum(ready) == 14 and ready[0]  # at 0, 0.3, 0.6, ... (every 3rd tick of 0.1 s is >= 0.25 s)
    with pytest.raises(ValueError, match="rate=0"):
        Throttle(rate=0)


def test_the_feed_delivers_every_point_in_few_updates_with_restarts_and_epochs():
    learn = small_learner(n=100)
    updates = []
    feed = LiveFeed(updates.append, rate=1000)  # the first batch always flushes; then by time
    learn.fit(1e-2, n_cycle=2, cycle_len=1, cycle_mult=2, callbacks=[feed])
    ipe = learn.data.train_batches
    iterations = [i for u in updates for i in u["batches"]["iteration"]]
    assert iterations == list(range(3 * ipe))
    assert updates[0]["start"]["restarts"] == [0, ipe] and updates[-1]["done"]
    epochs = [e for u in updates for e in u["epochs"]]
    assert [e["iteration"] for e in epochs] == [ipe, 2 * ipe, 3 * ipe]
    assert [e["valid_loss"] for e in epochs] == [e["valid_loss"] for e in learn.recorder.epochs]
    smoothed = [s for u in updates for s in u["batches"]["smooth"]]
    assert smoothed == pytest.approx(smooth([r["loss"] for r in learn.recorder.iterations]))

    slow = []
    learn.fit(1e-2, n_cycle=1, callbacks=[LiveFeed(slow.append, rate=0.001)])
    assert len(slow) == 2 and sum(len(u["batches"]["loss"]) for u in slow) == ipe  # first batch + the end


def test_the_feed_streams_an_lr_sweep():
    learn = small_learner(n=80)
    updates = []
    result = learn.lr_find(num_iter=20, callbacks=[LiveFeed(updates.append, rate=1000)])
    assert all(u["kind"] == "lr_find" for u in updates) and updates[-1]["done"]
    assert [x for u in updates for x in u["batches"]["lr"]] == result.lrs
    assert [x for u in updates for x in u["batches"]["smooth"]] == result.smoothed
    assert updates[0]["start"]["num_iter"] == 20 and learn.callbacks == [learn.recorder]


def test_history_update_smooths_each_stage_on_its_own():
    learn = small_learner(n=100)
    learn.recorder.stage = "a"
    learn.fit(1e-2)
    learn.recorder.stage = "b"
    learn.fit(1e-3, n_cycle=2)
    h = history_update(learn.recorder)
    ipe = learn.data.train_batches
    losses = [r["loss"] for r in learn.recorder.iterations]
    assert h["batches"]["smooth"] == pytest.approx(smooth(losses[:ipe]) + smooth(losses[ipe:]))
    assert h["start"]["restarts"] == [0, ipe, 2 * ipe] and [e["iteration"] for e in h["epochs"]] == [ipe, 2 * ipe,
                                                                                                  3 * ipe]


def test_stopper_cancels_at_the_next_batch_boundary():
    learn = small_learner(n=100)
    stopper = Stopper()

    class RequestAfter(nbt.Callback):
        def after_batch(self):
            if len(self.learner.recorder.iterations) == 2:
                stopper.request()

    learn.fit(1e-2, n_cycle=5, callbacks=[stopper, RequestAfter()])
    assert len(learn.recorder.iterations) == 2 and learn.state.cancelled and not learn.recorder.epochs
    stopper.clear()
    learn.fit(1e-2, callbacks=[stopper])
    assert len(learn.recorder.iterations) == 2 + learn.data.train_batches


def test_ratios_per_boundary_and_the_preview():
    assert differential_lrs(1e-2, 3, [10, 2]) == pytest.approx([5e-4, 5e-3, 1e-2])
    assert differential_lrs(1e-2, 3, 3) == pytest.approx([1e-2 / 9, 1e-2 / 3, 1e-2])
    for bad in ([3], [0.5, 3], 200, [True, 2]):
        with pytest.raises(ValueError, match="ratio="):
            differential_lrs(1e-2, 3, bad)
    learn = small_learner(n=60)
    checklist = nbt.Checklist.recipe(learn, lr=1e-2)
    checklist.set_ratio([4, 2])
    diff = next(s for s in checklist.steps if s.action == "differential")
    assert diff.params["ratio"] == [4.0, 2.0]  # the pending step applies the same ratios
    fit = next(s for s in checklist.steps if s.action == "fit" and s.params.get("differential"))
    preview = checklist.preview(fit)
    assert preview["lrs"] == pytest.approx([1e-2 / 8, 1e-2 / 2, 1e-2])
    assert preview["series"] == nbt.preview_lrs(preview["lrs"], learn.data.train_batches, fit.params["n_cycle"], 1, 2,
                                                warmup=fit.params["warmup"])
    assert preview["series"][-1][0] == pytest.approx(1e-2 / 100)  # the warm-up holds lr/100 first
    assert checklist.preview()["step"] == 2  # the next fit: the head on the cache


def test_set_param_checks_values_and_names():
    checklist = nbt.Checklist.recipe(small_learner(n=60))
    checklist.set_param(2, "n_cycle", 3)
    assert checklist.steps[2].params["n_cycle"] == 3
    for name, value, match in (("n_cycle", 0, "n_cycle=0"), ("cycle_mult", 1.5, "cycle_mult=1.5"),
                               ("augment", True, "'augment' is not an editable"),  # the head on the cache
                               ("lr", 1.0, "'lr' is not an editable")):
        with pytest.raises(ValueError, match=match):
            checklist.set_param(2, name, value)
    assert checklist.steps[2].params == {"precompute": True, "n_cycle": 3, "keep_best": True}
    with pytest.raises(ValueError, match="num_iter=5"):
        checklist.set_param(1, "num_iter", 5)


def test_running_a_step_makes_later_steps_pending_and_history_grows(tmp_path):
    learn = small_learner(n=80)
    steps = [nbt.Step("a", "fit"), nbt.Step("b", "fit"), nbt.Step("c", "tta", {"n": 1})]
    checklist = nbt.Checklist(learn, steps, checkpoint_dir=tmp_path).run()
    assert [s.status for s in steps] == ["done"] * 3 and len(checklist.history) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00.pt", "step-01.pt", "step-02.pt"]
    checklist.run_step(0)
    assert [s.status for s in steps] == ["done", "pending", "pending"] and len(checklist.history) == 4
    assert not checklist.can_go_back(1)
    with pytest.raises(ValueError, match="step 1 .'b'. has no checkpoint"):
        checklist.go_back(1)


def test_to_script_needs_code_for_data_in_memory(digits):
    images, targets = digits
    data = nbt.ImageData.from_arrays(images[:60], targets[:60], size=32)
    checklist = nbt.Checklist(nbt.Learner(data), [nbt.Step("a", "unfreeze")]).run()
    with pytest.raises(ValueError, match="data_code"):
        checklist.to_script()
    code = checklist.to_script(data_code="nbt.ImageData.from_arrays(images, labels, size=32)", save="m.pt")
    assert "learn.unfreeze()" in code and "learn.save('m.pt')" in code and "from_arrays(images" in code
    assert "amp=None, channels_last=True)" in code  # every Learner argument, so the replay trains alike
    compile(code, "recipe.py", "exec")
