"""A test set the recipe never chooses on: held out of a folder (``test_pct``) or a ``test/`` folder beside
``train/``; scored after each fit and after TTA; shuffling its labels changes no choice of the recipe."""
from __future__ import annotations

import random
import shutil

import pytest

import nbtrainer as nbt
from nbtrainer.data.splits import hold_out

from .conftest import FAST_RECIPE


def test_hold_out_keeps_the_validation_images_and_takes_the_test_set_from_training():
    train0, valid0, test0 = hold_out(100, seed=3, valid_pct=0.2)
    train, valid, test = hold_out(100, seed=3, valid_pct=0.2, test_pct=0.25)
    assert test0 == [] and valid == valid0 and (len(train), len(valid), len(test)) == (55, 20, 25)
    assert sorted(train + valid + test) == list(range(100)) and set(test) <= set(train0)
    with pytest.raises(ValueError, match="test_pct=1.5: expected a fraction between 0 and 1"):
        hold_out(100, seed=0, valid_pct=0.2, test_pct=1.5)
    with pytest.raises(ValueError, match="5 images are too few.*at least 2 training images"):
        hold_out(5, seed=0, valid_pct=0.4, test_pct=0.4)


def test_a_folder_holds_out_a_test_part_or_uses_its_test_folder(make_folder, tmp_path):
    root = make_folder({"zero": 10, "one": 10, "two": 10})
    data = nbt.ImageData.from_folder(root, size=32, test_pct=0.2, check_images=False)
    assert (len(data.train), len(data.valid), len(data.test)) == (18, 6, 6) and data.test_pct == 0.2
    assert not set(data.test.indices) & (set(data.train.indices) | set(data.valid.indices))
    assert "test_pct=0.2" in data.origin and "test=6" in repr(data)
    assert nbt.ImageData.from_folder(root, size=32, check_images=False).test is None

    split = tmp_path / "split"
    make_folder({"zero": 10, "one": 10}, root=split / "train")
    make_folder({"zero": 3, "one": 4}, root=split / "test")
    data = nbt.ImageData.from_folder(split, size=32, check_images=False)  # train/ + test/: valid from train
    assert (len(data.train), len(data.valid), len(data.test)) == (16, 4, 7)
    assert all("/test/" in data.test.source.path(i) for i in data.test.indices)
    make_folder({"zero": 2, "one": 2}, root=split / "valid")
    data = nbt.ImageData.from_folder(split, size=32, check_images=False)  # train/ + valid/ + test/
    assert (len(data.train), len(data.valid), len(data.test)) == (20, 4, 7)
    with pytest.raises(ValueError, match=r"test_pct=0.1: '.*split/test' is the test set already"):
        nbt.ImageData.from_folder(split, test_pct=0.1, check_images=False)
    shutil.rmtree(split / "test" / "one")
    make_folder({"zero": 2, "three": 2}, root=split / "test")
    with pytest.raises(ValueError, match=r"the classes of '.*split/test' \['three', 'zero'\] differ from those of"):
        nbt.ImageData.from_folder(split, check_images=False)
    with pytest.raises(ValueError, match="this data has no test set: hold one out with test_pct"):
        nbt.ImageData.demo(n=50).split("test")


def _choices(checklist: nbt.Checklist) -> list:
    """Everything the recipe chose and measured on the data it may choose on: every step's result but the time
    and the test scores."""
    return [{k: v for k, v in step.result.items() if k not in ("seconds", "probe_seconds") and "test" not in k}
            for step in checklist.steps]


def _run(shuffle_test_labels: bool = False, unscored: bool = False) -> nbt.Checklist:
    data = nbt.ImageData.demo(size=32, bs=16, n=240, test_pct=0.25)
    if unscored:  # the same train / valid images, the test set never read: no scoring, no probe on it
        data.test = None
    if shuffle_test_labels:
        labels = [data.test.source.targets[i] for i in data.test.indices]
        random.Random(1).shuffle(labels)
        for i, label in zip(data.test.indices, labels):
            data.test.source.targets[i] = label
    checklist = nbt.Checklist.recipe(nbt.Learner(data, seed=0), **{**FAST_RECIPE, "tta_n": 2}, final_size=40)
    return checklist.run()


def test_the_test_set_is_scored_after_each_fit_and_never_changes_a_choice():
    honest, shuffled, unscored = _run(), _run(shuffle_test_labels=True), _run(unscored=True)
    # the same LRs, losses, kept cycle ends, resize and TTA choice whether the test set is read, with its own
    # labels or shuffled ones, or never read at all (scoring it leaves no trace in the random state)
    assert _choices(honest) == _choices(shuffled) == _choices(unscored)
    assert not any("test" in k for step in unscored.steps for k in step.result)
    fits = [s for s in honest.steps if s.action == "fit"]
    assert fits and all(0 <= s.result["test_accuracy"] <= 1 for s in fits)
    assert 0 < honest.steps[0].result["probe_test_accuracy"] <= 1  # the bar to beat, on test too
    tta = honest.steps[-1].result
    assert {"test_accuracy", "test_plain_accuracy"} <= set(tta)
    assert tta["test_accuracy"] > 0.5  # real digits, learnt: the held-out part is read with its own labels
    assert shuffled.steps[-1].result["test_accuracy"] < tta["test_accuracy"]  # ... and shuffled ones score lower
