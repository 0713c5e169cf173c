"""The recipe as data: the course's order, LRs from lr_find unless picked, stop and resume."""
from __future__ import annotations

import pytest
import torch

import nbtrainer as nbt
from nbtrainer.recipe.checklist import differential_lrs
from nbtrainer.recipe.lr_policy import unfrozen_lr

from .conftest import FAST_RECIPE, small_learner


class StopAtFirstBatch(nbt.Callback):
    def after_batch(self):
        if self.learner.training:  # a training batch, not one of the start's validation
            raise nbt.CancelFitException()


def _recipe(learn, **kwargs):
    return nbt.Checklist.recipe(learn, lr=1e-2, **FAST_RECIPE, **kwargs)


def test_the_recipe_follows_the_course_checklist():
    steps = _recipe(small_learner(n=60), final_size=40).steps
    assert [s.action for s in steps] == ["precompute", "lr_find", "fit", "fit", "unfreeze", "differential",
                                         "lr_find", "fit", "fit", "tta"]
    assert steps[2].params["precompute"] and not steps[3].params["precompute"] and steps[3].params["augment"]
    assert steps[7].params["cycle_mult"] == 2 and steps[8].params["size"] == 40
    assert steps[6].params["differential"] and all(s.why for s in steps)


def test_fit_steps_use_the_latest_suggestion_unless_the_user_picked_an_lr():
    learn = small_learner(n=80)
    checklist = _recipe(learn)
    steps = checklist.steps
    for step in steps[:2]:  # precompute, lr_find
        checklist.run_step(step)
    assert learn.precompute and steps[1].status == "done"
    suggestion = steps[1].result["suggestion"]
    assert suggestion is not None and checklist.lr == suggestion == checklist.lr_finds[0].suggestion
    assert steps[1].result["curve"]["lrs"] and steps[1].result["curve"]["x_axis"].startswith("LR of the last")

    checklist.pick_lr(3e-3)  # e.g. a click on the LR-finder curve
    checklist.run_step(steps[2])
    assert steps[2].result["lrs"] == [3e-3] * 3 and steps[2].result["precompute"]
    checklist.run_step(steps[3])
    assert not learn.precompute and learn.augment and steps[3].result["lrs"] == [3e-3] * 3

    for step in steps[4:7]:  # unfreeze, differential, lr_find again
        checklist.run_step(step)
    assert checklist.picked_lr is None and learn.n_frozen == 0  # a new sweep replaces the pick
    new = checklist.lr_finds[-1]
    assert new.ratios == pytest.approx([1 / 9, 1 / 3, 1])
    # the whole network's sweep runs from 1/100 to 100x the head's LR, with the ratios
    assert steps[6].result["start_lr"] == pytest.approx(differential_lrs(3e-5, 3, 3.0))
    assert steps[6].result["end_lr"] == pytest.approx(0.3) and new.lrs[0] == pytest.approx(3e-5)
    checklist.run_step(steps[7])
    assert steps[7].result["lrs"] == pytest.approx(differential_lrs(checklist.lr, 3, 3.0))
    assert checklist.lr == unfrozen_lr(new.suggestion, head_lr=3e-3)  # bounded by the head's (picked) LR
    assert 3e-3 / 4 <= checklist.lr <= 3e-3 and steps[6].result["suggestion"] == new.suggestion
    checklist.run()
    assert [s.status for s in steps] == ["done"] * len(steps)
    tta = steps[-1].result  # TTA is kept only if it beats the plain predictions, which are the model's
    assert tta["accuracy"] >= tta["plain_accuracy"] == pytest.approx(learn.validate()[1])


def test_a_stopped_step_is_resumed_by_the_next_run():
    learn = small_learner(n=80)
    checklist = _recipe(learn)
    checklist.run_step(checklist.steps[0])
    head = checklist.steps[2]
    stopper = StopAtFirstBatch()
    learn.add_callback(stopper)
    checklist.run_step(head)
    assert head.status == "stopped" and len(learn.recorder.iterations) == 1
    learn.remove_callback(stopper)
    checklist.run()
    assert [s.status for s in checklist.steps] == ["done"] * len(checklist.steps)
    assert learn.n_frozen == 0 and len(checklist.lr_finds) == 2


def test_a_failing_step_is_marked_failed_with_its_error():
    learn = small_learner(n=60)
    checklist = nbt.Checklist(learn, [nbt.Step("too small", "fit", {"size": 8})])
    with pytest.raises(ValueError, match="size=8"):
        checklist.run()
    assert checklist.steps[0].status == "failed" and "size=8" in checklist.steps[0].error


@pytest.mark.parametrize("kwargs, match", [({"ratio": 0.5}, "ratio"), ({"lr": -1.0}, "learning rate")])
def test_checklist_arguments_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        nbt.Checklist(small_learner(n=60), [], **kwargs)


def test_with_data_starts_the_same_recipe_again_on_new_images(tmp_path):
    from PIL import Image

    learn = small_learner(n=80, opt="sgd", seed=3)
    checklist = _recipe(learn)
    checklist.run_step(checklist.steps[0])
    for c, color in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        (tmp_path / c).mkdir()
        for i in range(6):
            Image.new("RGB", (40, 40), tuple(v + i for v in color)).save(tmp_path / c / f"{i}.png")
    data = nbt.ImageData.from_folder(tmp_path, size=32, bs=4)
    again = checklist.with_data(data)
    assert again.learn is not learn and again.learn.data is data and again.learn.data.c == 2
    assert again.learn.config == learn.config and again.learn.cache is learn.cache
    assert [s.name for s in again.steps] == [s.name for s in checklist.steps]
    assert all(s.status == "pending" for s in again.steps) and checklist.steps[0].status == "done"
    # the sizes and batch size were the data's: planned again from the new images (issue 28)
    assert again.recipe_args == {**checklist.recipe_args, "size": "auto", "bs": "auto"}
    assert again.sizes == [64] and "the images are 40 px" in again.plan  # 40 px photos: never below 64 px
    assert data.bs == 2 and data.train_batches >= 4 and "batch size 2" in again.plan  # not 4: 2 batches an epoch
    again.run_step(again.steps[0])
    assert again.steps[0].status == "done"


def test_a_whole_recipe_with_a_stop_and_a_back_exports_a_script_that_replays_it(tmp_path):
    """Every step, a fit stopped part-way, Back to before it, the rest; the exported script, run in a fresh
    process, ends on the same TTA accuracy (issue 27: it used to crash at its TTA line)."""
    import re
    import subprocess
    import sys

    learn = small_learner(n=100)
    # with a final size: the resize step keeps the new size only if it helps, and the script does the same
    checklist = nbt.Checklist.recipe(learn, checkpoint_dir=tmp_path / "checkpoints", final_size=48, **FAST_RECIPE)
    for i in range(3):
        checklist.run_step(i)
    stopper = nbt.Stopper()

    class StopAtTheThirdBatch(nbt.Callback):
        def after_batch(self):
            if self.learner.training and self.learner.state.iteration == 2:
                stopper.request()

    trigger = StopAtTheThirdBatch()
    learn.add_callback(stopper)
    learn.add_callback(trigger)
    assert checklist.run_step(3).status == "stopped"
    learn.remove_callback(trigger)
    stopper.clear()
    checklist.go_back(2)
    checklist.run()
    assert all(s.status == "done" for s in checklist.steps)
    script = tmp_path / "recipe.py"
    script.write_text(checklist.to_script())
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    printed = float(re.search(r"TTA accuracy ([0-9.]+)", out.stdout).group(1))
    assert f"data.bs = {learn.data.bs}" in script.read_text()  # the batch size the run trained with
    resize = next(s for s in checklist.steps if s.params.get("size") == 48)
    assert f"kept {resize.result['kept']}" in out.stdout  # the same choice of size in the replay
    assert printed == pytest.approx(checklist.steps[-1].result["tta_accuracy"], abs=1e-6)


def test_back_drops_the_cycle_end_weights_of_the_fits_it_undoes(tmp_path):
    """Issue 27: the ensemble's weights are part of a step's snapshot, so a TTA after "Back" never averages
    the weights of an undone fit."""
    learn = small_learner(n=100)
    checklist = nbt.Checklist.recipe(learn, checkpoint_dir=tmp_path / "checkpoints",
                                     **{**FAST_RECIPE, "unfrozen_cycles": 2}, snapshots=2)
    train = next(i for i, s in enumerate(checklist.steps) if s.params.get("snapshots"))
    for i in range(train + 1):
        checklist.run_step(i)
    assert len(learn.snapshots) == 2
    trained = [{k: v.clone() for k, v in w.items()} for w in learn.snapshots]
    learn.fit(1e-3, n_cycle=2, snapshots=True)  # other cycle ends, as a fit made after the step would leave
    checklist.go_back(train)
    assert len(learn.snapshots) == 2
    assert all(torch.equal(a[k], b[k]) for a, b in zip(learn.snapshots, trained) for k in a)
    checklist.go_back(train - 1)
    assert learn.snapshots == []
