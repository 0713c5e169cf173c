"""The Learner: differential LRs, freezing, events, TTA, checkpoints, reproducibility, argument checks."""
from __future__ import annotations

import math

import pytest
import torch

import nbtrainer as nbt

from .conftest import small_data, small_learner


def _body_state(learn):
    return {k: v.clone() for k, v in learn.model.state_dict().items() if not k.startswith("head.")}


def test_frozen_body_is_bit_identical_after_a_fit_and_the_head_trained():
    learn = small_learner()
    before = _body_state(learn)
    head_before = learn.model.head[-1].weight.clone()
    learn.fit(1e-2, n_cycle=2)
    after = _body_state(learn)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights, BN running stats, counters
    assert not torch.equal(head_before, learn.model.head[-1].weight)
    learn.unfreeze()
    learn.fit(1e-3)
    assert not torch.equal(before["body.0.weight"], learn.model.state_dict()["body.0.weight"])


def test_differential_lrs_land_in_the_right_param_groups():
    learn = small_learner()
    learn.unfreeze()
    learn.fit([1e-4, 1e-3, 1e-2])
    for group, layer_group in zip(learn.opt.param_groups, learn.layer_groups):
        assert [id(p) for p in group["params"]] == [id(p) for p in layer_group.parameters()]
    first = learn.recorder.iterations[0]["lrs"]
    assert first == [1e-4, 1e-3, 1e-2]  # earlier groups lower
    assert all(r["lrs"][0] < r["lrs"][1] < r["lrs"][2] for r in learn.recorder.iterations[:-1])
    # the stem conv belongs to the first group, the classifier to the last
    assert any(p is learn.model.body[0].weight for p in learn.opt.param_groups[0]["params"])
    assert any(p is learn.model.head[-1].weight for p in learn.opt.param_groups[2]["params"])


@pytest.mark.parametrize("bad,match", [
    ([1e-3, 1e-2], r"expected one LR or 3 LRs.*got 2"),
    ([1e-3, 1e-2, 0.0], "finite number > 0"),
    (-1e-3, "finite number > 0"),
    (float("nan"), "finite number > 0"),
])
def test_bad_lrs_are_refused_before_anything_changes(bad, match):
    learn = small_learner(n=40)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with pytest.raises(ValueError, match=match):
        learn.fit(bad)
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())
    assert learn.recorder.iterations == []


def test_events_fire_in_order_and_cancel_fit_leaves_a_usable_learner():
    seen = []

    class Watch(nbt.Callback):
        def __call__(self, event):
            seen.append(event)

    class StopAfterTwo(nbt.Callback):
        def after_batch(self):
            if self.learner.state.iteration >= 1:
                raise nbt.CancelFitException()

    learn = small_learner(n=80)
    learn.fit(1e-2, callbacks=[Watch()])
    assert seen[:5] == ["before_fit", "before_epoch", "before_train", "before_batch", "after_loss"]
    assert seen[-7:] == ["after_train", "before_validate", "before_batch", "after_batch", "after_validate",
                         "after_epoch", "after_fit"]  # the valid set: one batch, announced as a batch too
    assert learn.callbacks == [learn.recorder]  # per-fit callbacks are removed afterwards
    learn.fit(1e-2, n_cycle=3, callbacks=[StopAfterTwo()])
    assert learn.state.cancelled and len(learn.recorder.iterations) == 4 + 2
    learn.fit(1e-2)
    assert not learn.state.cancelled and len(learn.recorder.epochs) == 2


def test_tta_shape_and_it_differs_from_plain_predictions():
    learn = small_learner()
    learn.fit(1e-2)
    plain, targets = learn.get_preds()
    probs, tta_targets = learn.tta(n=2)
    assert probs.shape == plain.shape == (len(learn.data.valid), 10)
    assert torch.equal(targets, tta_targets)
    assert torch.allclose(probs.sum(1), torch.ones(len(probs)), atol=1e-5)
    assert not torch.allclose(probs, plain)
    with pytest.raises(ValueError, match="n=0"):
        learn.tta(0)


def test_checkpoint_round_trip_gives_identical_predictions(tmp_path):
    learn = small_learner()
    learn.fit(1e-2)
    learn.unfreeze()
    learn.set_size(40)
    learn.fit([1e-4, 1e-3, 1e-2])
    path = tmp_path / "ckpt.pt"
    learn.save(path)
    (tmp_path / "plain").write_text("x")  # a checkpoint gets the permissions any new file gets (the umask's)
    assert path.stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
    raw = torch.load(path, weights_only=True)
    assert raw["classes"] == [str(i) for i in range(10)] and raw["data"]["size"] == 40 and raw["n_frozen"] == 0
    assert raw["layer_groups"] == ["body 1/2", "body 2/2", "head"] and len(raw["history"]["epochs"]) == 2

    other = nbt.Learner(small_data(), seed=123)
    other.load(path)
    assert other.data.size == 40 and other.n_frozen == 0 and other.recorder.epochs == learn.recorder.epochs
    assert torch.equal(other.get_preds()[0], learn.get_preds()[0])
    assert other.opt.state_dict()["state"].keys() == learn.opt.state_dict()["state"].keys()
    # a checkpoint of nbtrainer 0.1 kept the data's size and augmentation at the top: it loads the same
    old = {k: v for k, v in raw.items() if k != "data"}
    torch.save({**old, "size": 40, "augment": True, "aug": raw["data"]["aug"]}, tmp_path / "old.pt")
    third = nbt.Learner(small_data(), seed=7)
    third.load(tmp_path / "old.pt")
    assert third.data.size == 40 and third.data.augment and third.data.aug == learn.data.aug
    assert torch.equal(third.get_preds()[0], learn.get_preds()[0])
    assert nbt.Predictor.from_file(tmp_path / "old.pt").size == 40


def test_checkpoint_for_other_classes_is_refused_and_leaves_the_learner_intact(tmp_path):
    learn = small_learner(n=60)
    learn.save(tmp_path / "ten.pt")
    three = nbt.ImageData.from_arrays(*_three_class_arrays(), size=32, bs=8)
    other = nbt.Learner(three)
    before = {k: v.clone() for k, v in other.model.state_dict().items()}
    with pytest.raises(ValueError, match="10 classes"):
        other.load(tmp_path / "ten.pt")
    assert all(torch.equal(before[k], v) for k, v in other.model.state_dict().items())
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        other.load(tmp_path / "missing.pt")


def test_checkpoint_of_another_optimizer_is_refused_by_name_and_leaves_the_learner_intact(tmp_path):
    sgd = small_learner(n=60, opt="sgd")
    sgd.fit(1e-2)
    sgd.save(tmp_path / "sgd.pt")
    adamw = small_learner(n=60)
    before = {k: v.clone() for k, v in adamw.model.state_dict().items()}
    with pytest.raises(ValueError, match=r"'sgd' optimizer; this learner uses 'adamw'.*opt='sgd'"):
        adamw.load(tmp_path / "sgd.pt")
    assert all(torch.equal(before[k], v) for k, v in adamw.model.state_dict().items())
    again = small_learner(n=60, opt="sgd")
    again.load(tmp_path / "sgd.pt")  # as the message says
    assert all(torch.equal(a, b) for a, b in zip(again.model.state_dict().values(), sgd.model.state_dict().values()))


def _three_class_arrays():
    images = (torch.rand(30, 16, 16) * 255).to(torch.uint8).numpy()
    return images, [i % 3 for i in range(30)]


def test_seeded_runs_are_reproducible():
    def run(seed):
        learn = small_learner(n=80, seed=seed)
        learn.augment = True
        learn.fit(1e-2, n_cycle=2)
        return [r["loss"] for r in learn.recorder.iterations], learn.get_preds()[0]

    losses_a, preds_a = run(0)
    losses_b, preds_b = run(0)
    assert losses_a == losses_b and torch.equal(preds_a, preds_b)
    assert run(1)[0] != losses_a


def test_set_size_changes_the_images_and_keeps_the_weights():
    learn = small_learner(n=40)
    weights = learn.model.head[-1].weight.clone()
    learn.set_size(48)
    xb, _ = next(iter(learn.data.train_dl()))
    assert xb.shape[-2:] == (48, 48) and torch.equal(weights, learn.model.head[-1].weight)
    with pytest.raises(ValueError, match="size=16"):
        learn.set_size(16)


def test_a_diverging_fit_stops_with_a_clear_error_and_the_last_good_weights():
    learn = small_learner(n=100, opt="sgd")  # SGD: a huge LR blows up within an epoch (AdamW steps are bounded)
    learn.fit(1e-2)  # epoch 1: fine
    good = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with pytest.raises(nbt.DivergenceError, match=r"loss became (nan|inf).*restored in this learner to the start "
                                                  r"of epoch 1"):
        learn.fit(1e6, n_cycle=3)  # far too high: the loss blows up within the first epoch
    assert all(torch.equal(good[k], v) for k, v in learn.model.state_dict().items())
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())
    learn.fit(1e-2)  # and it trains again
    assert math.isfinite(learn.recorder.epochs[-1]["valid_loss"])


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_mixed_precision_trains_with_float32_weights(amp):
    plain, mixed = small_learner(n=100), small_learner(n=100, amp=amp)
    p32, p16 = plain.get_preds()[0], mixed.get_preds()[0]  # the same weights, eval mode
    assert not torch.equal(p32, p16) and torch.allclose(p32, p16, atol=0.02)  # lower precision, really used
    before = [p.detach().clone() for p in mixed.model.head.parameters()]
    mixed.fit(1e-2, n_cycle=2)
    assert all(p.dtype == torch.float32 for p in mixed.model.parameters())
    assert (mixed.precision.scaler is not None) == (amp == "fp16")
    assert all(math.isfinite(r["loss"]) for r in mixed.recorder.iterations)
    assert not all(torch.equal(a, b) for a, b in zip(before, mixed.model.head.parameters()))
    assert mixed.recorder.epochs[-1]["valid_loss"] < mixed.recorder.iterations[0]["loss"]  # it learns
    with pytest.raises(ValueError, match=r"amp='fp8': expected one of \[None, 'bf16', 'fp16'\]"):
        small_learner(n=60, amp="fp8")


def test_channels_last_is_the_default_and_gives_the_same_predictions():
    plain, cl = small_learner(n=100, channels_last=False), small_learner(n=100)
    assert cl.model.body[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.model.body[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(plain.get_preds()[0], cl.get_preds()[0], atol=1e-5)
    plain.precompute, cl.precompute = True, True  # the cache is computed in the learner's memory format too
    assert torch.allclose(plain._current_activations().valid_x, cl._current_activations().valid_x, atol=1e-4)
    cl.fit(1e-2)
    assert math.isfinite(cl.recorder.epochs[-1]["valid_loss"])


def test_the_fp16_gradient_scaler_state_is_restored_by_lr_find_and_kept_in_checkpoints(tmp_path):
    learn = small_learner(n=100, amp="fp16")
    fresh = learn.precision.state_dict()
    learn.fit(1e-2)
    trained = learn.precision.state_dict()
    assert trained["_growth_tracker"] == learn.state.iteration != fresh["_growth_tracker"]  # it moves each step
    learn.lr_find(num_iter=12)
    assert learn.precision.state_dict() == trained
    learn.save(tmp_path / "fp16.pt")
    other = small_learner(n=100, amp="fp16")
    other.load(tmp_path / "fp16.pt")
    assert other.precision.state_dict() == trained
