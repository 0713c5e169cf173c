"""One definition of a learner's state (nbtrainer.train.learner_state): what each user of it saves is put back exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nbtrainer.train import learner_state

from .conftest import small_learner


def _probs(learn) -> torch.Tensor:
    return learn.get_preds()[0]


def test_every_part_is_restored_by_lr_find_and_the_sets_are_nested():
    # a new part must be added to PARTS once; the exact restore (lr_find) then includes it
    assert set(learner_state.EXACT) == set(learner_state.PARTS)
    assert set(learner_state.WEIGHTS) < set(learner_state.CHECKPOINT) < set(learner_state.RESUMABLE) < set(learner_state.EXACT)


def test_a_state_put_back_gives_the_same_weights_predictions_and_random_draws():
    learn = small_learner(n=60)
    learn.fit(1e-2)
    saved = learner_state.copy_to(learn.state_dict(learner_state.RESUMABLE))
    probs = _probs(learn)
    draws = (torch.rand(3), np.random.rand(3))
    learn.unfreeze()
    learn.set_size(64)
    learn.fit(1e-3)
    learn.load_state_dict(saved)
    assert learn.n_frozen == saved["n_frozen"] and learn.data.size == 32 and len(learn.recorder.epochs) == 1
    assert all(torch.equal(a, b) for a, b in zip(learn.model.state_dict().values(), saved["model"].values()))
    assert torch.equal(_probs(learn), probs)
    assert torch.equal(torch.rand(3), draws[0]) and np.array_equal(np.random.rand(3), draws[1])
    learn.load_state_dict(saved)  # the copy is unchanged by what followed the first load: loads again
    learn.fit(1e-2)
    learn.load_state_dict(saved)
    assert torch.equal(_probs(learn), probs)


def test_a_state_survives_a_weights_only_round_trip(tmp_path):
    learn = small_learner(n=60)
    learn.fit(1e-2)
    torch.save(learn.state_dict(learner_state.RESUMABLE), tmp_path / "s.pt")
    expected = (torch.rand(4), np.random.rand(4), _probs(learn))
    learn.fit(1e-2)
    learn.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    assert torch.equal(torch.rand(4), expected[0]) and np.array_equal(np.random.rand(4), expected[1])
    assert torch.equal(_probs(learn), expected[2]) and len(learn.recorder.epochs) == 1


def test_an_unknown_part_is_named():
    with pytest.raises(ValueError, match=r"unknown learner state parts \['weights'\]"):
        small_learner(n=30).state_dict(["model", "weights"])


def test_load_state_dict_refuses_a_key_that_is_no_part_before_changing_anything():
    import pytest

    from nbtrainer.train import learner_state

    learn = small_learner(n=60)
    before = learner_state.copy_to(learn.state_dict(learner_state.WEIGHTS))
    with pytest.raises(ValueError, match=r"unknown learner state parts \['modle'\]"):
        learn.load_state_dict({"n_frozen": 0, "modle": before["model"]})
    assert learn.n_frozen > 0  # nothing was put back


def test_the_data_and_the_checklist_each_keep_a_state_of_their_own(tmp_path):
    """Issue 27: ImageData and Checklist have a state_dict; a step checkpoint is the learner's (its data's
    included) and the checklist's, and Back puts back every step's result as it was."""
    import nbtrainer as nbt
    from .conftest import FAST_RECIPE

    learn = small_learner(n=100)
    data = learn.data
    saved, aug = data.state_dict(), data.aug
    first = torch.randperm(50, generator=data.generator)
    data.set_size(48)
    data.augment, data.aug = True, nbt.Augment(max_rotate=30)
    data.load_state_dict(saved)
    assert (data.size, data.augment, data.aug) == (32, False, aug)
    assert torch.equal(torch.randperm(50, generator=data.generator), first)  # the shuffles repeat
    with pytest.raises(ValueError, match=r"unknown data state keys \['sise'\]"):
        data.load_state_dict({**saved, "sise": 3})
    assert learner_state.state_dict(learn, ("data",))["data"]["size"] == 32

    checklist = nbt.Checklist.recipe(learn, checkpoint_dir=tmp_path / "checkpoints", **FAST_RECIPE)
    for i in range(3):
        checklist.run_step(i)
    after_head = checklist.state_dict()
    checklist.set_ratio(5.0)  # a slider moved after the step: Back puts the step's ratios back everywhere
    checklist.run_step(3)
    learn.fit(1e-3)  # a change made outside the checklist: Back to step 3 undoes it too
    checklist.go_back(2)
    assert checklist.state_dict() == after_head
    assert [s.status for s in checklist.steps[:4]] == ["done", "done", "done", "pending"]
    differential = next(s for s in checklist.steps if s.action == "differential")
    assert differential.params["ratio"] == checklist.ratios == [3.0, 3.0]
